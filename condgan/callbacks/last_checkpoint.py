"""``checkpoints/last.ckpt`` kept current, so a preempted or interrupted run loses at most one epoch
(or ``every_n_steps`` steps), and nothing when it is stopped by a signal."""

import logging
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException
from typing_extensions import override

from condgan.errors import ConfigError

log = logging.getLogger(__name__)

LAST = "last.ckpt"


class LastCheckpoint(Checkpoint):
    """Writes ``<dirpath>/last.ckpt`` at every epoch's end (after its validation), every
    ``every_n_steps`` optimiser steps when set (GANs make two per batch), when training ends, and
    when it is interrupted (SIGTERM, as sent on preemption, or Ctrl+C) after the step in progress.
    A crash (a NaN loss, an error) leaves the last good file alone. Lightning writes each file
    through a temporary one that is renamed into place, so a kill during the write keeps the
    previous ``last.ckpt``. As a :class:`~lightning.pytorch.callbacks.Checkpoint`, Lightning runs
    it after the other callbacks, so the file holds what they did at the epoch's end.
    """

    def __init__(self, dirpath: str | Path, every_n_steps: int | None = None) -> None:
        if every_n_steps is not None and every_n_steps < 1:
            raise ConfigError(
                f"callbacks.model_checkpoint.every_n_steps={every_n_steps}: give a positive step count or null"
            )
        self.path = Path(dirpath) / LAST
        self.every_n_steps = every_n_steps
        self._saved_at: int | None = None

    def save(self, trainer: L.Trainer) -> None:
        """Write ``last.ckpt`` for the current step (once per step)."""
        if trainer.fast_dev_run or trainer.sanity_checking or self._saved_at == trainer.global_step:
            return
        trainer.save_checkpoint(self.path)
        self._saved_at = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        """Save once the step count has passed a multiple of ``every_n_steps`` since the last save
        (a GAN batch advances it by 2, so an odd period would never hit one exactly)."""
        every = self.every_n_steps
        if every and trainer.global_step // every > (self._saved_at or 0) // every:
            self.save(trainer)

    @override
    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.save(trainer)

    @override
    def on_train_end(self, trainer, pl_module) -> None:
        self.save(trainer)

    @override
    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, (SIGTERMException, KeyboardInterrupt)):
            self.save(trainer)
            log.info(
                "training interrupted (%s) at epoch %d, step %d: %s written",
                "SIGTERM" if isinstance(exception, SIGTERMException) else "Ctrl+C",
                trainer.current_epoch,
                trainer.global_step,
                self.path,
            )
