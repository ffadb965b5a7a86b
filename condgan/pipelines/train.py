"""Training: instantiate data, model, callbacks, loggers and trainer from the config, then fit."""

import logging
from pathlib import Path

import hydra
import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from condgan.callbacks import DomainMetricsCallback
from condgan.errors import ConfigError
from condgan.pipelines.common import CONFIG_DIR, instantiate_all, reporting_user_errors

log = logging.getLogger(__name__)


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


def train(cfg: DictConfig) -> L.Trainer:
    """Fit the configured model on the configured data; returns the finished trainer."""
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    datamodule: L.LightningDataModule = hydra.utils.instantiate(cfg.data)
    model: L.LightningModule = hydra.utils.instantiate(cfg.model)
    warn_if_real_images_only_are_augmented(datamodule)
    callbacks = instantiate_all(cfg.get("callbacks"))
    check_monitored_metrics(callbacks)
    loggers = instantiate_all(cfg.get("logger"))
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    log.info("training %s on %s", type(model).__name__, type(datamodule).__name__)
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    checkpoint = trainer.checkpoint_callback
    if checkpoint is not None and checkpoint.last_model_path and Path(checkpoint.last_model_path).is_file():
        log.info("last checkpoint: %s", checkpoint.last_model_path)
    return trainer


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
@reporting_user_errors
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":  # python -m condgan.pipelines.train (the leaderboard runs each entry so)
    main()
