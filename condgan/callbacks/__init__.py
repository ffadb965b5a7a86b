"""Lightning callbacks: pictures and metrics that work on any condgan model through
``generate(labels, n)``, and the run's last checkpoint."""

from condgan.callbacks.class_grid import ClassGridCallback
from condgan.callbacks.domain_metrics import DomainMetricsCallback
from condgan.callbacks.last_checkpoint import LastCheckpoint
from condgan.callbacks.reconstruction_grid import ReconstructionGridCallback

__all__ = ["ClassGridCallback", "DomainMetricsCallback", "LastCheckpoint", "ReconstructionGridCallback"]
