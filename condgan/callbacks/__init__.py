"""Lightning callbacks that work on any condgan model through ``generate(labels, n)``."""

from condgan.callbacks.class_grid import ClassGridCallback
from condgan.callbacks.domain_metrics import DomainMetricsCallback
from condgan.callbacks.reconstruction_grid import ReconstructionGridCallback

__all__ = ["ClassGridCallback", "DomainMetricsCallback", "ReconstructionGridCallback"]
