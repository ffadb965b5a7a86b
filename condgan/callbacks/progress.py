"""Training progress that suits where the output goes: Lightning's rich bar in a terminal, plain log
lines (no redraws) in a file or a scheduler's log, and one summary line per epoch either way."""

import logging
import sys
import time

import lightning as L
from lightning.pytorch.callbacks import ProgressBar, RichProgressBar
from typing_extensions import override

log = logging.getLogger(__name__)


def _numbers(metrics: dict, keys) -> str:
    return ", ".join(f"{key} {float(metrics[key]):.4g}" for key in keys if key in metrics)


class EpochClock(L.Callback):
    """Times the training epoch in progress: from its start, or, in an epoch a run resumed in the
    middle of (Lightning does not call ``on_train_epoch_start`` for it), from the resume."""

    def __init__(self) -> None:
        super().__init__()
        self._epoch_start = time.perf_counter()
        self._resumed_epoch = False

    @override
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = time.perf_counter()
        self._resumed_epoch = True  # until an epoch starts: then this one was resumed mid-way

    @override
    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = time.perf_counter()
        self._resumed_epoch = False

    def elapsed(self) -> str:
        """Seconds into the epoch (``... s since the resume`` in a resumed epoch)."""
        return f"{time.perf_counter() - self._epoch_start:.1f} s" + (" since the resume" if self._resumed_epoch else "")


class LineProgressBar(EpochClock, ProgressBar):
    """A progress line through ``logging`` every ``every_n_batches`` training batches (epoch, batch of
    the epoch's total, seconds into the epoch and the losses shown on a progress bar): a log that is
    not a terminal gets a bounded number of lines instead of a bar's redraws."""

    def __init__(self, every_n_batches: int = 100) -> None:
        super().__init__()
        self.every_n_batches = every_n_batches
        self.enabled = True

    @override
    def disable(self) -> None:
        self.enabled = False

    @override
    def enable(self) -> None:
        self.enabled = True

    @override
    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        done = batch_idx + 1
        if not self.enabled or done % self.every_n_batches:
            return
        metrics = self.get_metrics(trainer, pl_module)
        total = self.total_train_batches
        log.info(
            "epoch %d: batch %d/%s, %s%s",
            trainer.current_epoch,
            done,
            total if total != float("inf") else "?",
            self.elapsed(),
            "; " + _numbers(metrics, sorted(k for k in metrics if k.startswith("train/"))) if metrics else "",
        )


class EpochSummary(EpochClock):
    """One line per epoch in the run's log (``<task>.log``) and console: the epoch, its wall time,
    the last training losses and the validation numbers that rank runs."""

    SHOWN = (
        "train/d_loss",
        "train/g_loss",
        "train/recon_loss",
        "train/kl",
        "train/loss",
        "val/fid_domain",
        "val/cond_acc",
        "val/loss",
        "val/exact_match",
        "val/char_acc",
        "val/mse",
    )

    @override
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        numbers = _numbers(trainer.callback_metrics, self.SHOWN)
        log.info(
            "epoch %d done in %s%s",
            trainer.current_epoch,
            self.elapsed(),
            f": {numbers}" if numbers else "",
        )


def progress_bar(every_n_batches: int = 100, interactive: bool | None = None) -> ProgressBar:
    """Lightning's :class:`RichProgressBar` when the console is a terminal (``interactive`` None: ask
    stderr), else a :class:`LineProgressBar`."""
    if interactive is None:
        interactive = sys.stderr.isatty()
    return RichProgressBar() if interactive else LineProgressBar(every_n_batches)
