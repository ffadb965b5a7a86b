"""OmegaConf resolvers the configs use; registered once when the entry points load the configs."""

import re

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf


def on_gpu(accelerator: str, on_a_gpu, otherwise):
    """``on_a_gpu`` when ``accelerator`` trains on a GPU (``gpu``, ``cuda``, or ``auto`` with CUDA
    available), else ``otherwise``: e.g. a batch size that fills a GPU but would cost a CPU its steps."""
    uses_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    return on_a_gpu if uses_gpu else otherwise


def cpu_has_bf16_units() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AMX tiles or AVX512-BF16, e.g. Xeon Sapphire
    Rapids, Zen 4): there oneDNN runs bf16 convolutions and matmuls ~2x faster than float32, elsewhere
    bf16 is emulated and slower."""
    probes = (getattr(torch.cpu, "_is_amx_tile_supported", None), getattr(torch.cpu, "_is_avx512_bf16_supported", None))
    return any(probe is not None and probe() for probe in probes)


def fast_precision(accelerator: str) -> str:
    """``bf16-mixed`` where the device computes bfloat16 natively (a CUDA GPU that supports it, or a CPU
    with bf16 units), else ``32-true``."""
    if on_gpu(accelerator, True, False):
        return "bf16-mixed" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "32-true"
    return "bf16-mixed" if cpu_has_bf16_units() else "32-true"


def overrides_name(max_length: int = 120) -> str:
    """This run's command-line overrides as one folder name (``model=cgan,data.batch_size=64``;
    ``defaults`` without any, or outside a Hydra app), e.g. to tell runs apart in TensorBoard. The
    resume settings are left out, so a resumed run keeps its name."""
    try:
        overrides = HydraConfig.get().overrides.task
    except ValueError:  # composed without a Hydra app (tests, the compose API)
        overrides = []
    kept = [o for o in overrides if not o.lstrip("+~").startswith(("ckpt_path=", "trust_checkpoint="))]
    return re.sub(r"[^A-Za-z0-9=,._+-]+", "_", ",".join(kept)).strip("_")[:max_length] or "defaults"


RESOLVERS = {"on_gpu": on_gpu, "fast_precision": fast_precision, "overrides_name": overrides_name}


def register_resolvers() -> None:
    """``${on_gpu:${trainer.accelerator},<value on a GPU>,<value otherwise>}``,
    ``${fast_precision:${trainer.accelerator}}`` and ``${overrides_name:}``."""
    for name, resolver in RESOLVERS.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
