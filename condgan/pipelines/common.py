"""What the entry points share: the config folder, the device, list instantiation, one-line user errors."""

import functools
import sys
from collections.abc import Callable
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig

from condgan.errors import CondganError
from condgan.utils.resolvers import register_resolvers

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "conf")
register_resolvers()


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:1``, ... or ``auto`` (cuda when available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


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
