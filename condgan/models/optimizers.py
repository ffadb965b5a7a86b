"""Optimisers from config: any torch optimiser by its ``_target_`` and settings.

A config names the class (``_target_: torch.optim.AdamW``) and gives its keyword arguments
(``lr``, ``betas``, ``weight_decay``, ...); a setting given as null is left to the optimiser's
default, so a config can drop what a base config set (``betas: null`` for SGD). ``fused: auto``
(the default) turns on torch's fused kernel where the class has one and every parameter lives on a
device with it, unless fp16's gradient scaler is on (Lightning clips only unfused steps). The
model builds the optimiser itself, so a checkpoint keeps these settings as plain values.
Checkpoints from before ``_target_`` name the class as ``name: adam | rmsprop`` and are built as
then (Adam from ``lr``, ``betas`` and ``fused``, RMSprop from ``lr``).
"""

import inspect
from collections.abc import Iterable, Mapping

import torch
from hydra.utils import get_class

from condgan.errors import ConfigError

# the short names of older configs and checkpoints (neither key: Adam), and the settings they read
NAMED_OPTIMIZERS = {"adam": "torch.optim.Adam", "rmsprop": "torch.optim.RMSprop"}
NAMED_SETTINGS = {"adam": ("lr", "betas", "fused"), "rmsprop": ("lr",)}
# devices with fused optimiser kernels: one kernel (or one vectorised loop) updates every tensor of a
# network, where torch's default runs several multi-tensor kernels (CUDA) or a loop per tensor (CPU)
FUSED_DEVICES = ("cuda", "cpu")
# keys of an optimiser config that are not the class's keyword arguments
CLASS_KEYS = ("_target_", "name")


def optimizer_class(settings: Mapping, where: str) -> type[torch.optim.Optimizer]:
    """The optimiser class ``settings`` names (``where``: its config key, for the error)."""
    target = settings.get("_target_")
    if target is None:
        name = settings.get("name", "adam")
        if name not in NAMED_OPTIMIZERS:
            raise ConfigError(
                f"unknown optimizer {where}.name={name!r}: set {where}._target_ to a torch optimizer "
                "class, e.g. torch.optim.AdamW"
            )
        target = NAMED_OPTIMIZERS[name]
    try:
        cls = get_class(target)
    except Exception:
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise ConfigError(
            f"{where}._target_={target!r} is not a torch optimizer class: use e.g. torch.optim.Adam, "
            "torch.optim.AdamW or torch.optim.RMSprop"
        )
    return cls


def build_optimizer(
    settings: Mapping, params: Iterable[torch.nn.Parameter], where: str, scaler_on: bool = False
) -> torch.optim.Optimizer:
    """The optimiser of ``params`` that ``settings`` describes (see the module docstring)."""
    cls = optimizer_class(settings, where)
    params = list(params)
    accepted = inspect.signature(cls.__init__).parameters
    kwargs = {key: value for key, value in settings.items() if key not in CLASS_KEYS and value is not None}
    if "_target_" not in settings:
        kwargs = {key: value for key, value in kwargs.items() if key in NAMED_SETTINGS[settings.get("name", "adam")]}
    if kwargs.get("fused", "auto") == "auto":
        kwargs.pop("fused", None)
        if "fused" in accepted and not scaler_on and params and all(p.device.type in FUSED_DEVICES for p in params):
            kwargs["fused"] = True
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        for key in kwargs:
            if key not in accepted:
                raise ConfigError(
                    f"{cls.__name__} has no setting {key!r}: set {where}.{key}=null or pick another optimizer"
                )
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    return cls(params, **kwargs)
