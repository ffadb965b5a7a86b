"""Keep torch's CUDA availability check cheap on a machine without a GPU.

Lightning's import sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1``, under which a CUDA build of torch answers
``torch.cuda.is_available()`` by loading NVML again on every call until CUDA initialises, which it
never does without a GPU; every Adam or AdamW step asks it (its graph-capture health check), about
46 us per optimiser step on this project's CPU. An empty ``CUDA_VISIBLE_DEVICES`` answers at once.
"""

import logging
import os

import torch

log = logging.getLogger(__name__)


def hide_absent_gpus() -> bool:
    """Set ``CUDA_VISIBLE_DEVICES`` to empty where torch is built with CUDA but finds no GPU and the
    variable is unset (a user's own setting is kept); returns whether it did."""
    if "CUDA_VISIBLE_DEVICES" in os.environ or not torch.backends.cuda.is_built() or torch.cuda.is_available():
        return False
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    log.debug("no CUDA GPU on this machine: CUDA_VISIBLE_DEVICES set to empty for cheap availability checks")
    return True
