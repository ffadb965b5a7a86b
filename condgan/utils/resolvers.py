"""OmegaConf resolvers the configs use; registered once when the entry points load the configs."""

import torch
from omegaconf import OmegaConf


def on_gpu(accelerator: str, on_a_gpu, otherwise):
    """``on_a_gpu`` when ``accelerator`` trains on a GPU (``gpu``, ``cuda``, or ``auto`` with CUDA
    available), else ``otherwise``: e.g. a batch size that fills a GPU but would cost a CPU its steps."""
    uses_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    return on_a_gpu if uses_gpu else otherwise


def register_resolvers() -> None:
    """``${on_gpu:${trainer.accelerator},<value on a GPU>,<value otherwise>}``."""
    if not OmegaConf.has_resolver("on_gpu"):
        OmegaConf.register_new_resolver("on_gpu", on_gpu)
