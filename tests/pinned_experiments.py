"""Each experiment's training values, pinned in ``tests/pinned_experiments.yaml``.

The experiments reproduce reports, and they build on shared base configs (``model/base/*``,
``data/base/*``, the groups' defaults): a change to one of those moves every experiment built on it.
The file holds each experiment's composed ``seed``, ``data``, ``model`` and ``trainer`` keys, with
interpolations left unresolved (so nothing in it depends on the machine), and a test compares them
with what the configs compose to now. After an intended change, ``make pin-experiments`` writes the
file again; its diff shows what moved.
"""

from pathlib import Path
from typing import Any

import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from condgan.pipelines.common import CONFIG_DIR

PINNED_FILE = Path(__file__).with_name("pinned_experiments.yaml")
# the parts of a composed config that decide what an experiment trains
PINNED_SECTIONS = ("seed", "data", "model", "trainer")


def experiments() -> list[str]:
    """Every experiment config's name."""
    return sorted(path.stem for path in (Path(CONFIG_DIR) / "experiment").glob("*.yaml"))


def flattened(values: dict, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one mapping of dotted keys to leaf values (lists and empty mappings are leaves)."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(flattened(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def composed_values(experiment: str, overrides: tuple[str, ...] = ()) -> dict[str, Any]:
    """``experiment``'s pinned sections as ``train.py experiment=<name> <overrides>`` composes them,
    interpolations unresolved, by dotted key."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"experiment={experiment}", *overrides])
    values = OmegaConf.to_container(cfg, resolve=False)
    return flattened({section: values[section] for section in PINNED_SECTIONS})


def pinned_values() -> dict[str, dict[str, Any]]:
    """The pinned values of every experiment, by experiment name."""
    return yaml.safe_load(PINNED_FILE.read_text())


def moved_keys(pinned: dict[str, Any], composed: dict[str, Any]) -> list[str]:
    """The keys whose value differs between ``pinned`` and ``composed``, or that only one has, each
    as ``key: pinned -> composed``."""
    missing = object()
    moved = []
    for key in sorted(pinned.keys() | composed.keys()):
        before, after = pinned.get(key, missing), composed.get(key, missing)
        if before != after:
            shown = ["(absent)" if value is missing else repr(value) for value in (before, after)]
            moved.append(f"{key}: {shown[0]} -> {shown[1]}")
    return moved


def main() -> None:
    """Write every experiment's values into the pinned file."""
    pinned = {experiment: composed_values(experiment) for experiment in experiments()}
    header = "# written by `make pin-experiments` (tests/pinned_experiments.py); checked by tests/test_configs.py\n"
    PINNED_FILE.write_text(header + yaml.safe_dump(pinned, sort_keys=False, default_flow_style=None, width=10_000))
    print(f"pinned {len(pinned)} experiments in {PINNED_FILE}")


if __name__ == "__main__":
    main()
