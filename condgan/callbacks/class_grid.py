"""Epoch-end sample grids: one row per class, labelled with its name, from the same noise every time."""

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from typing_extensions import override

from condgan.models.base import check_truncation
from condgan.utils.images import labelled_class_grid, save_png
from condgan.utils.sampling import grid_samples


class ClassGridCallback(L.Callback):
    """Writes a class grid to ``dirpath/epoch_<nnn>.png`` and to TensorBoard every ``every_n_epochs``.

    Models with attributes (a style) get ``samples_per_class`` columns per attribute value.

    The noise comes from a generator re-seeded with ``seed`` each time, so grids of successive
    epochs show how the same latent points evolve; with a ``truncation`` every noise component lies
    within +-truncation (the truncation trick: cleaner, less varied samples).
    """

    def __init__(
        self,
        dirpath: str,
        samples_per_class: int = 10,
        every_n_epochs: int = 1,
        seed: int = 0,
        truncation: float | None = None,
    ) -> None:
        check_truncation(truncation)
        self.dirpath = Path(dirpath)
        self.samples_per_class = samples_per_class
        self.every_n_epochs = every_n_epochs
        self.seed = seed
        self.truncation = truncation

    def grid(self, pl_module, class_names: list[str] | None = None) -> torch.Tensor:
        """The grid, its rows labelled with ``class_names`` (or the class indices)."""
        images, per_row = grid_samples(
            pl_module, self.samples_per_class, torch.Generator().manual_seed(self.seed), truncation=self.truncation
        )
        return labelled_class_grid(images, per_row, class_names or [str(c) for c in range(pl_module.num_classes)])

    @rank_zero_only
    @override
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        epoch = trainer.current_epoch
        if (epoch + 1) % self.every_n_epochs and not trainer.fast_dev_run:
            return
        grid = self.grid(pl_module, getattr(trainer.datamodule, "class_names", None))
        save_png(grid, self.dirpath / f"epoch_{epoch:03d}.png")
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image("samples/class_grid", grid, global_step=epoch)
