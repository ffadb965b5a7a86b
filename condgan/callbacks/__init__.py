"""Lightning callbacks: pictures and metrics that work on any condgan model through
``generate(labels, n)``, the run's last checkpoint, and its progress output."""

from condgan.callbacks.class_grid import ClassGridCallback
from condgan.callbacks.domain_metrics import DomainMetricsCallback
from condgan.callbacks.hparams_tab import HParamsTab, best_score
from condgan.callbacks.last_checkpoint import LastCheckpoint
from condgan.callbacks.model_summary import CompactModelSummary
from condgan.callbacks.progress import EpochSummary, LineProgressBar, progress_bar
from condgan.callbacks.reconstruction_grid import ReconstructionGridCallback

__all__ = [
    "ClassGridCallback",
    "CompactModelSummary",
    "DomainMetricsCallback",
    "EpochSummary",
    "HParamsTab",
    "LastCheckpoint",
    "LineProgressBar",
    "ReconstructionGridCallback",
    "best_score",
    "progress_bar",
]
