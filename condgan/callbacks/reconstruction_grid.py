"""Epoch-end reconstruction grids for models that offer ``reconstruct(images, labels)``."""

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from typing_extensions import override

from condgan.utils.images import class_grid, save_png


class ReconstructionGridCallback(L.Callback):
    """Writes pairs of rows (validation images, then their reconstructions) to
    ``dirpath/epoch_<nnn>.png`` and TensorBoard; models without ``reconstruct`` are skipped."""

    def __init__(self, dirpath: str, images: int = 10) -> None:
        self.dirpath = Path(dirpath)
        self.images = images
        self.batch: tuple[torch.Tensor, torch.Tensor] | None = None

    @override
    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx == 0 and hasattr(pl_module, "reconstruct"):
            images, labels = batch
            self.batch = (images[: self.images], labels[: self.images])

    @rank_zero_only
    @override
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        if self.batch is None or trainer.sanity_checking:
            return
        images, labels = self.batch
        grid = class_grid(torch.cat([images, pl_module.reconstruct(images, labels)]), len(images))
        save_png(grid, self.dirpath / f"epoch_{trainer.current_epoch:03d}.png")
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image("samples/reconstructions", grid, global_step=trainer.current_epoch)
        self.batch = None
