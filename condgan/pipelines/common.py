"""What the entry points share: the config folder, the device, list instantiation, one-line user errors
(also for a config-group choice that does not exist)."""

import functools
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

import hydra
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from condgan.errors import CondganError, ConfigError
from condgan.pipelines.config_checks import check_group_choices
from condgan.utils.resolvers import register_resolvers

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "conf")
register_resolvers()


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:1``, ... or ``auto`` (cuda when available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    """The device in words for result tables: the GPU's name and CUDA version, else the CPU's model
    and the cores this process may use."""
    if device.type == "cuda" and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
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


def user_error(err: BaseException) -> CondganError | None:
    """The :class:`CondganError` behind ``err`` (Hydra wraps errors raised while instantiating)."""
    while err is not None:
        if isinstance(err, CondganError):
            return err
        err = err.__cause__ or err.__context__
    return None


def checking_group_choices(hydra_main: Callable) -> Callable:
    """Before Hydra composes the config: a ``group=name`` on the command line that names no config
    is one ``condgan: error: ...`` line listing the choices, and exit code 2."""

    @functools.wraps(hydra_main)
    def wrapper(*args, **kwargs):
        try:
            check_group_choices(sys.argv[1:], CONFIG_DIR)
        except ConfigError as err:
            print(f"condgan: error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        return hydra_main(*args, **kwargs)

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
