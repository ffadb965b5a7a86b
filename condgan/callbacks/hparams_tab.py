"""A finished run in TensorBoard's HPARAMS tab, so the runs of a sweep sort by their scores there."""

from collections.abc import Sequence

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from typing_extensions import override

from condgan.utils.run_logs import write_hparams_entry


def best_score(trainer: L.Trainer, metric: str) -> float | None:
    """The best value of ``metric`` that a checkpoint callback ranked by (lowest ``val/fid_domain`` for
    ``best.ckpt``), else its last logged value; None when the run never logged it."""
    for callback in trainer.checkpoint_callbacks:
        if getattr(callback, "monitor", None) == metric and callback.best_model_score is not None:
            return float(callback.best_model_score)
    value = trainer.callback_metrics.get(metric)
    return None if value is None else float(value)


class HParamsTab(L.Callback):
    """At the end of fitting, each TensorBoard logger's recorded hyperparameters (the run's config)
    go into the HPARAMS tab beside the last values of ``metrics`` and the best value of ``ranked_by``
    (default: the last ``val/fid_domain`` and ``val/cond_acc``, and the best ``val/fid_domain``),
    logged once as ``best/<name>`` (``best/fid_domain``)."""

    def __init__(
        self, ranked_by: str = "val/fid_domain", metrics: Sequence[str] = ("val/fid_domain", "val/cond_acc")
    ) -> None:
        self.ranked_by = ranked_by
        self.best_tag = "best/" + ranked_by.rsplit("/", 1)[-1]
        self.metrics = (*metrics, self.best_tag)

    @override
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.fast_dev_run or not trainer.is_global_zero:
            return
        best = best_score(trainer, self.ranked_by)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                if best is not None:
                    logger.experiment.add_scalar(self.best_tag, best, trainer.global_step)
                write_hparams_entry(logger.experiment, logger.hparams, self.metrics)
