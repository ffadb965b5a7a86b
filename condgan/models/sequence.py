"""The training loop shared by the arithmetic sequence models (report 002, sections 3-4), and their
reloading from a checkpoint."""

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping

import lightning as L
import torch
from typing_extensions import override

from condgan.data.arithmetic import widths
from condgan.data.base import to_signed_unit
from condgan.errors import ConfigError
from condgan.models.adversarial import schedule_factor
from condgan.models.base import CHECKPOINT_KEY, RecordedModule
from condgan.models.checkpoint import import_class
from condgan.models.optimizers import optimizer_class


class SequenceModule(RecordedModule, ABC):
    """Base of the arithmetic models: one batch dict of ``data=arithmetic`` in, a dict of loss terms
    out (:meth:`losses`, whose ``loss`` is minimised), plus the validation numbers of
    :meth:`validation_metrics`; Lightning's automatic optimisation.

    ``query_form`` / ``answer_form`` (class attributes, ``text`` or ``image``) say what the model
    reads and writes, which the data's forms must match. ``optimizer``: a config with the
    optimiser's ``_target_`` and settings (``torch.optim.Adam``, ``lr``, ...); ``lr_decay``: null, or
    ``{final_factor}``, a cosine decay of the learning rate per step to ``final_factor`` of it over
    the run's steps. Checkpoints record the class and the DataModule so a report can rebuild both.
    """

    query_form = "text"
    answer_form = "text"

    def __init__(self, operand_max: int, optimizer: Mapping, lr_decay: Mapping | None = None) -> None:
        super().__init__()
        self.query_width, self.answer_width = widths(operand_max)
        self.optimizer_settings = dict(optimizer)
        optimizer_class(self.optimizer_settings, "model.optimizer")
        self.lr_decay = dict(lr_decay) if lr_decay else None

    @abstractmethod
    def losses(self, batch: dict) -> dict[str, torch.Tensor]:
        """Loss terms of a batch (``loss``: the one minimised)."""

    @abstractmethod
    def validation_metrics(self, batch: dict) -> dict[str, torch.Tensor]:
        """Numbers logged per validation batch beside the loss terms (averaged over the epoch)."""

    @staticmethod
    def images(batch: dict, key: str) -> torch.Tensor:
        """The batch's uint8 character images ``[N, L, C, S, S]`` as floats in [-1, 1]."""
        return to_signed_unit(batch[key])

    def on_fit_start(self) -> None:
        """The data must carry what this model reads and writes, at its widths."""
        datamodule = self.trainer.datamodule
        forms = getattr(datamodule, "forms", None)
        wanted = {"query": self.query_form, "answer": self.answer_form}
        if forms != wanted:
            raise ConfigError(
                f"{type(self).__name__} reads {self.query_form} queries and writes {self.answer_form} "
                f"answers: use data=arithmetic with data.query_form={self.query_form} "
                f"data.answer_form={self.answer_form}"
            )
        if (datamodule.query_width, datamodule.answer_width) != (self.query_width, self.answer_width):
            raise ConfigError(
                "model.operand_max differs from data.operand_max: leave model.operand_max at ${data.operand_max}"
            )

    @override
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        terms = self.losses(batch)
        self.log_loss_terms(terms, batch_idx, "lower model.optimizer.lr")
        return terms["loss"]

    @override
    def validation_step(self, batch: dict, batch_idx: int) -> None:
        numbers = {**self.losses(batch), **self.validation_metrics(batch)}
        self.log_dict(
            {f"val/{k}": v for k, v in numbers.items()}, on_epoch=True, sync_dist=True, batch_size=len(batch["value"])
        )

    @override
    def configure_optimizers(self):
        optimizer = self.build_optimizer(self.optimizer_settings, self.parameters(), "model.optimizer")
        if self.lr_decay is None:
            return optimizer
        total = self.trainer.estimated_stepping_batches
        if not math.isfinite(total):
            raise ConfigError("model.lr_decay decays over trainer.max_epochs: set it, or model.lr_decay=null")
        cosine = {"name": "cosine", "final_factor": self.lr_decay["final_factor"]}
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: schedule_factor(cosine, step / total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def is_sequence_checkpoint(checkpoint: dict) -> bool:
    """Whether a checkpoint (as :func:`~condgan.models.checkpoint.read_checkpoint` returns it) holds a
    :class:`SequenceModule`."""
    return issubclass(import_class(checkpoint[CHECKPOINT_KEY]["model_class"], L.LightningModule), SequenceModule)


def load_sequence_model(checkpoint: dict, map_location: str | torch.device = "cpu") -> SequenceModule:
    """The :class:`SequenceModule` a checkpoint records, with its weights, in eval mode."""
    model = import_class(checkpoint[CHECKPOINT_KEY]["model_class"], SequenceModule)(**checkpoint["hyper_parameters"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.to(map_location).eval()
