"""Shared fixtures: composed Hydra configs pointing at temporary folders, tiny datasets."""

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

REPO = Path(__file__).resolve().parents[1]

# nothing heavy is imported here at load time: under pytest-xdist the controlling process, which
# runs no tests, loads this file before it starts the workers
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one pytest-xdist worker per core: each computes on one thread (its training
    # subprocesses too), so the workers share the cores instead of oversubscribing them
    import torch

    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)

# no progress output or model summary in a test run's log
QUIET = ["callbacks.progress_bar=null", "callbacks.model_summary=null"]
# an image model's per-epoch pictures and domain metrics on a few samples per class
SMALL_METRICS = ["callbacks.domain_metrics.samples_per_class=4", "callbacks.class_grid.samples_per_class=3"]
# a few seconds per run: small glyph set, tiny batches, small grids, no rich output
FAST = [
    "data.samples_per_class=24",
    "data.test_samples_per_class=4",
    "data.batch_size=32",
    *QUIET,
    *SMALL_METRICS,
    "trainer.accelerator=cpu",
]
# the EMA generator's standing BatchNorm statistics in a test run: one small batch (the default 8 x
# 256 images is most of a fast dev run of the larger generators); tests of the mechanism set their own
SMALL_EMA_STATISTICS = {"ema_stat_batches": 1, "ema_stat_batch_size": 32}


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """One data folder for the whole session, so the glyph cache is rendered once."""
    return tmp_path_factory.mktemp("data")


def compose_config(name: str, overrides: list[str], output_dir: Path, data_dir: Path) -> DictConfig:
    """Compose ``conf/<name>.yaml`` like the CLI does, with every path inside the test's folders."""
    from condgan.pipelines.common import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir / "logs")
        cfg.paths.data_dir = str(data_dir)
        for key, value in SMALL_EMA_STATISTICS.items():
            if key in cfg.get("model", {}) and not any(o.startswith(f"model.{key}=") for o in overrides):
                cfg.model[key] = value
    return cfg


@pytest.fixture
def train_config(tmp_path, data_dir):
    """``train_config(*overrides)`` -> a small, fast training config writing into ``tmp_path``
    (``model=cgan`` unless the overrides pick a model)."""

    def make(*overrides: str) -> DictConfig:
        # the mechanism tests are written against cgan; the default model (the demo's) has its own tests
        model = [] if any(o.startswith("model=") for o in overrides) else ["model=cgan"]
        return compose_config("train", [*FAST, *model, *overrides], tmp_path, data_dir)

    return make
