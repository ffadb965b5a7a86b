"""Training: instantiate data, model, callbacks, loggers and trainer from the config, then fit."""

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import hydra
import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, ModelSummary, ProgressBar
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from condgan.callbacks import DomainMetricsCallback, LastCheckpoint, best_score
from condgan.data.batching import MidEpochResume
from condgan.errors import ConfigError
from condgan.models.checkpoint import read_checkpoint
from condgan.pipelines.common import CONFIG_DIR, instantiate_all, reporting_config_errors, reporting_user_errors
from condgan.pipelines.config_checks import check_config
from condgan.utils.quiet_logs import resume_warnings_answered

log = logging.getLogger(__name__)

# what `python train.py` without arguments trains: the best measured glyph recipe (README "Best recipe")
DEMO = "experiment=glyphs_best"


def check_monitored_metrics(callbacks: list) -> None:
    """A checkpoint that ranks by a sample-quality metric needs the callback that logs it."""
    if any(isinstance(cb, DomainMetricsCallback) for cb in callbacks):
        return
    for cb in callbacks:
        monitor = getattr(cb, "monitor", None)
        if isinstance(cb, ModelCheckpoint) and monitor in DomainMetricsCallback.LOGGED:
            raise ConfigError(
                f"a ModelCheckpoint monitors {monitor}, which only callbacks.domain_metrics logs; "
                "keep callbacks.domain_metrics or also set callbacks.model_checkpoint_best=null"
            )


def warn_if_real_images_only_are_augmented(datamodule: L.LightningDataModule) -> None:
    """``data.augment`` reaches only the real images: the model learns to generate augmented ones."""
    augment = getattr(datamodule, "augment", None)
    if augment is not None and augment.active:
        log.warning(
            "data.augment transforms only the real training images, so the model learns to generate "
            "transformed images (the reports' setting); for a GAN, model.diff_augment transforms real and "
            "generated images before D instead and leaves G's images clean"
        )


def lightning_defaults_left_out(callbacks: list) -> dict[str, bool]:
    """Trainer flags that keep Lightning from adding its own progress bar or model summary where the
    config turned ours off (``callbacks.progress_bar=null``, ``callbacks.model_summary=null``)."""
    flags = {}
    if not any(isinstance(cb, ProgressBar) for cb in callbacks):
        flags["enable_progress_bar"] = False
    if not any(isinstance(cb, ModelSummary) for cb in callbacks):
        flags["enable_model_summary"] = False
    return flags


@contextmanager
def cpu_threads(count: int | None) -> Iterator[None]:
    """torch computes with ``count`` CPU threads inside the block (its default when None)."""
    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(cfg: DictConfig) -> L.Trainer:
    """Fit the configured model on the configured data (with ``cpu_threads``); returns the finished trainer."""
    check_config(cfg)
    with cpu_threads(cfg.get("cpu_threads")):
        return fit(cfg)


def fit(cfg: DictConfig) -> L.Trainer:
    """:func:`train` after the config checks."""
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    datamodule: L.LightningDataModule = hydra.utils.instantiate(cfg.data)
    model: L.LightningModule = hydra.utils.instantiate(cfg.model)
    warn_if_real_images_only_are_augmented(datamodule)
    callbacks = instantiate_all(cfg.get("callbacks"))
    check_monitored_metrics(callbacks)
    loggers = instantiate_all(cfg.get("logger"))
    trainer: L.Trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, **lightning_defaults_left_out(callbacks)
    )
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    last = next((cb for cb in callbacks if isinstance(cb, LastCheckpoint)), None)
    ckpt_path = resume_path(cfg.get("ckpt_path"), last, cfg.paths.output_dir)
    log.info("training %s on %s", type(model).__name__, type(datamodule).__name__)
    trust = bool(cfg.get("trust_checkpoint", False))
    if ckpt_path is not None:
        read_checkpoint(ckpt_path, trust)  # a one-line error for a missing, corrupt or refused file
    try:
        with resume_warnings_answered(isinstance(datamodule, MidEpochResume), resuming=ckpt_path is not None):
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=not trust)
    except SIGTERMException:  # Lightning finished the step in progress; LastCheckpoint has saved it
        log_how_to_resume(trainer, last, cfg.paths.output_dir, "SIGTERM")
        return trainer
    except SystemExit:  # Lightning's exit after Ctrl+C, once LastCheckpoint has saved the step in progress
        if trainer.interrupted:
            log_how_to_resume(trainer, last, cfg.paths.output_dir, "Ctrl+C")
        raise
    if last is not None and last.path.is_file():
        log.info("last checkpoint: %s", last.path)
    if trainer.fast_dev_run:
        log.info("fast_dev_run (debug=fdr): a smoke run; its files are in %s", cfg.paths.output_dir)
    return trainer


def log_how_to_resume(trainer: L.Trainer, last: LastCheckpoint | None, run_dir: str, cause: str) -> None:
    """The one line a run stopped by ``cause`` ends with: SIGTERM (its exit code is 0) or Ctrl+C
    (Lightning's exit code 1)."""
    if last is None:
        log.warning(
            "stopped by %s at epoch %d with no last checkpoint (callbacks.model_checkpoint is off)",
            cause,
            trainer.current_epoch,
        )
    else:
        log.warning(
            "stopped by %s at epoch %d: %s holds the run; resume it with the same overrides plus "
            "ckpt_path=auto hydra.run.dir=%s",
            cause,
            trainer.current_epoch,
            last.path,
            run_dir,
        )


def resume_path(ckpt_path: str | None, last: LastCheckpoint | None, run_dir: str) -> str | None:
    """The checkpoint to resume from: ``ckpt_path`` as given, or for ``auto`` the newest of the run
    folder's ``checkpoints/last.ckpt`` and the ``hpc_ckpt_<n>.ckpt`` files Lightning saves before a
    SLURM requeue (a fresh start when there is none)."""
    if ckpt_path != "auto":
        return ckpt_path
    if last is None:
        raise ConfigError(
            "ckpt_path=auto resumes from checkpoints/last.ckpt, which callbacks.model_checkpoint "
            "writes: keep it, or pass ckpt_path=<a .ckpt file>"
        )
    saved = [path for path in (last.path, *Path(run_dir).glob("hpc_ckpt_*.ckpt")) if path.is_file()]
    if not saved:
        log.info("ckpt_path=auto: no %s yet, starting a fresh run", last.path)
        return None
    newest = max(saved, key=lambda path: path.stat().st_mtime)
    log.info("resuming from %s", newest)
    return str(newest)


def objective(trainer: L.Trainer, metric: str | None) -> float | None:
    """The run's value of ``metric`` for a hyperparameter sweeper (:func:`best_score`)."""
    return best_score(trainer, metric) if metric else None


@reporting_config_errors
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
@reporting_user_errors
def main(cfg: DictConfig) -> float | None:
    """Train; return ``optimized_metric`` (what Hydra's sweepers, e.g. an Optuna sweeper, minimise)."""
    return objective(train(cfg), cfg.get("optimized_metric"))


def run() -> None:
    """``train.py`` and ``condgan-train``: with no arguments at all, the demo (:data:`DEMO`)."""
    if len(sys.argv) == 1:
        sys.argv.append(DEMO)
    main()


if __name__ == "__main__":  # python -m condgan.pipelines.train (the leaderboard runs each entry so)
    run()
