"""What the entry points share: the config folder, the device, list instantiation, one-line user errors
(also for config-group choices, keys and override syntax that Hydra cannot compose), and the
header of a run's ``report.md``."""

import functools
import os
import platform
import re
import sys
from collections.abc import Callable
from pathlib import Path

import hydra
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import (
    ConfigCompositionException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
)
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from condgan.errors import CondganError, ConfigError
from condgan.pipelines.config_checks import check_group_choices, visible_cuda_gpus
from condgan.utils.gpu_probe import hide_absent_gpus
from condgan.utils.quiet_logs import quiet_third_party_chatter
from condgan.utils.resolvers import register_resolvers

# the Hydra configs ship inside the package (conf/ at the repository root links to them)
CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")
register_resolvers()
quiet_third_party_chatter()
hide_absent_gpus()


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:1``, ... or ``auto`` (cuda when available); a device name torch
    does not know, or a CUDA GPU this machine does not have, is a :class:`ConfigError`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device={name!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and (device.index or 0) >= visible_cuda_gpus():
        raise ConfigError(
            f"device={name}: torch sees {visible_cuda_gpus()} CUDA GPU(s) on this machine; "
            "use device=auto or device=cpu"
        )
    return device


def device_name(device: torch.device) -> str:
    """The device in words for result tables: the GPU's name and CUDA version, else the CPU's model
    and the cores this process may use."""
    if device.type == "cuda" and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        model = names[0] if names else model
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"CPU: {model}, {cores} cores"


def compose_train_config(overrides: list[str]) -> DictConfig:
    """``conf/train.yaml`` with ``overrides``, composed like ``train.py`` does: from inside another
    entry point's Hydra app (bench, leaderboard) or standalone from Python."""
    if GlobalHydra.instance().is_initialized():
        return compose(config_name="train", overrides=overrides)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def instantiate_all(group: DictConfig | None) -> list:
    """Instantiate every entry of a config group such as ``callbacks`` or ``logger``."""
    if not group:
        return []
    return [hydra.utils.instantiate(entry) for entry in group.values() if entry and "_target_" in entry]


def cfg_job_command() -> str:
    """The command that prints this entry point's composed config, for error messages."""
    return f"python {Path(sys.argv[0]).name or 'train.py'} --cfg job"


def report_header(report: dict) -> list[str]:
    """The first lines of a run's ``report.md``: model, data, checkpoint, epochs and steps."""
    return [
        f"# {report['model']} on {report['data']}",
        "",
        f"Checkpoint: `{report['checkpoint']}`  ",
        f"Epochs trained: {report['epochs_trained']}, steps: {report['global_step']}",
        "",
    ]


def user_error(err: BaseException) -> CondganError | None:
    """The :class:`CondganError` behind ``err`` (Hydra wraps errors raised while instantiating); a
    setting that the instantiated class does not take (``+model.foo=1``), and a setting Lightning
    refuses while the trainer or a callback is built (``trainer.max_time=abc``: its one-line
    ``MisconfigurationException``), are a :class:`ConfigError`."""
    while err is not None:
        if isinstance(err, CondganError):
            return err
        unknown = re.search(r"unexpected keyword argument '(\w+)'", str(err))
        where = re.search(r"call to target '([\w.]+)'.*full_key: ([\w.]+)", str(err), re.S)
        if isinstance(err, InstantiationException) and unknown and where:
            return ConfigError(
                f"{where.group(2)}.{unknown.group(1)} is not a setting of {where.group(1)}: remove it "
                f"({cfg_job_command()} lists the settings)"
            )
        if isinstance(err, InstantiationException) and where and isinstance(err.__cause__, MisconfigurationException):
            return ConfigError(f"{where.group(2)}: {' '.join(str(err.__cause__).split())}")
        err = err.__cause__ or err.__context__
    return None


HYDRA_USER_ERRORS = (ConfigCompositionException, OverrideParseException, MissingConfigException)


def config_error_line(err: Exception) -> str:
    """One line for an error Hydra raises while parsing the overrides or composing the config (a key
    that does not exist, bad override syntax, a missing config)."""
    cause = err.__cause__
    struct = re.search(r"Could not override '([^']+)'", str(err))
    if struct and isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
        key = struct.group(1)
        return (
            f"{key} is not a setting of this config: check the spelling ({cfg_job_command()} lists "
            f"them), or add a new key with +{key}=..."
        )
    lines = [line.strip() for text in (str(err), str(cause or "")) for line in text.splitlines()]
    return " ".join(
        line
        for line in lines
        if line and not line.startswith(("full_key:", "object_type=", "reference_type=", "See https://"))
    )


def reporting_config_errors(hydra_main: Callable) -> Callable:
    """Around a ``@hydra.main`` function: a ``group=name`` on the command line that names no config,
    an override of a key that does not exist or that does not parse, is one ``condgan: error: ...``
    line and exit code 2 instead of Hydra's multi-line message (``HYDRA_FULL_ERROR=1`` keeps Hydra's
    full traces)."""

    @functools.wraps(hydra_main)
    def wrapper(*args, **kwargs):
        chosen = os.environ.get("HYDRA_FULL_ERROR")
        if chosen == "1":
            return hydra_main(*args, **kwargs)
        try:
            check_group_choices(sys.argv[1:], CONFIG_DIR)
            os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra then raises its errors here instead of printing them
            try:
                return hydra_main(*args, **kwargs)
            finally:
                if chosen is None:
                    del os.environ["HYDRA_FULL_ERROR"]
                else:
                    os.environ["HYDRA_FULL_ERROR"] = chosen
        except (ConfigError, *HYDRA_USER_ERRORS) as err:
            line = str(err) if isinstance(err, ConfigError) else config_error_line(err)
            print(f"condgan: error: {line}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper


def reporting_user_errors(task: Callable) -> Callable:
    """Run ``task``; a user error is printed as one ``condgan: error: ...`` line and exits with 2."""

    @functools.wraps(task)
    def wrapper(*args, **kwargs):
        try:
            return task(*args, **kwargs)
        except Exception as err:
            cause = user_error(err)
            if cause is None:
                raise
            message = " ".join(str(cause).split())
            print(f"condgan: error: {message}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper
