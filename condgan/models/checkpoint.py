"""Rebuild any condgan model from a checkpoint file alone."""

import importlib
import pickle
import re
from pathlib import Path

import torch

from condgan.errors import CheckpointError
from condgan.models.base import CHECKPOINT_KEY, GenerativeModule


def read_checkpoint(path: str | Path, trust: bool = False) -> dict:
    """Load a checkpoint dictionary on the CPU as data: tensors and plain values only
    (``weights_only``), so a file from elsewhere cannot run code while it loads; ``trust`` lifts
    that for files whose origin the user vouches for. One-line errors for missing, corrupt and
    refused files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} not found; pass ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt"
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as err:
        found = None if trust else re.search(r"GLOBAL (\S+)", str(err))
        if found is None:
            raise CheckpointError(f"checkpoint {path} cannot be read (not a file torch.load understands)") from err
        raise CheckpointError(
            f"checkpoint {path} holds more than tensors and plain values ({found.group(1)}), which loading would "
            "run as code; pass trust_checkpoint=true only if you trust where it came from"
        ) from err
    except Exception as err:  # truncated zip, foreign formats
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({type(err).__name__}: {' '.join(str(err).split())})"
        ) from err
    if not isinstance(checkpoint, dict) or CHECKPOINT_KEY not in checkpoint:
        raise CheckpointError(f"{path} was not written by condgan's train.py; pass a checkpoint from a condgan run")
    return checkpoint


def import_class(path: str, base: type) -> type:
    """The class at dotted ``path``, which must subclass ``base`` (a recorded class that moved is an error)."""
    module_name, _, class_name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as err:
        raise CheckpointError(f"the checkpoint's class {path} no longer exists") from err
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise CheckpointError(f"{path} is not a {base.__name__}")
    return cls


def load_generative_model(checkpoint: dict, map_location: str | torch.device = "cpu") -> GenerativeModule:
    """Instantiate the model class recorded in ``checkpoint`` and load its weights, in eval mode."""
    cls = import_class(checkpoint[CHECKPOINT_KEY]["model_class"], GenerativeModule)
    model = cls(**checkpoint["hyper_parameters"])
    model.load_state_dict(checkpoint["state_dict"])
    model.on_load_checkpoint(checkpoint)
    return model.to(map_location).eval()
