"""The interface every model family offers to callbacks, metrics and evaluate.py."""

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import lightning as L
import torch

from condgan.errors import LabelRangeError

CHECKPOINT_KEY = "condgan"


class GenerativeModule(L.LightningModule, ABC):
    """A conditional generator: ``generate(labels, n)`` returns images in [-1, 1].

    Subclasses implement :meth:`latent` (draws of the latent code) and :meth:`decode` (latent codes
    and labels to images), which interpolation strips also use.
    Checkpoints record the concrete class so :func:`condgan.models.load_generative_model` can
    rebuild any family from the file alone.
    """

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    @abstractmethod
    def latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws of the latent code (noise for GANs, the prior for autoencoders) on the device."""

    @abstractmethod
    def decode(self, latent: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Images ``[N, C, H, W]`` in [-1, 1] for latent codes and labels (already on the device).

        ``labels`` is int64 ``[N]``, or float ``[N, num_classes]`` weights that blend the classes'
        embeddings (label interpolation). Called in eval mode without gradients.
        """

    def sample(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One image per label of the int64 tensor ``labels``, from fresh latent draws."""
        return self.decode(self.latent(len(labels), generator), labels)

    def check_labels(self, labels: torch.Tensor | Iterable[int] | int) -> torch.Tensor:
        """``labels`` as a 1-D int64 tensor on the model's device; out-of-range values are an error."""
        labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            bad = labels[(labels < 0) | (labels >= self.num_classes)][0].item()
            raise LabelRangeError(
                f"label {bad} is outside 0..{self.num_classes - 1}: this model was trained on "
                f"{self.num_classes} classes"
            )
        return labels.to(self.device)

    def standard_normal(self, n: int, dim: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``[n, dim]`` draws from N(0, I) on the model's device (from ``generator`` when given)."""
        if generator is None:
            return torch.randn(n, dim, device=self.device)
        return torch.randn(n, dim, generator=generator, device=generator.device).to(self.device)

    @contextmanager
    def evaluating(self) -> Iterator[None]:
        """Eval mode without gradients inside the block; the previous mode is restored after it."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.train(was_training)

    def generate(
        self,
        labels: torch.Tensor | Iterable[int] | int,
        n: int = 1,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``n`` images for each of ``labels``, grouped by label: shape ``[len(labels) * n, C, H, W]``.

        Pass a seeded CPU ``generator`` for reproducible samples.
        """
        labels = self.check_labels(labels).repeat_interleave(n)
        with self.evaluating():
            return self.sample(labels, generator)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Record the model class, and the DataModule class whose hyperparameters Lightning saves."""
        info = {"model_class": _qualified_name(type(self))}
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is not None:
            info["datamodule_class"] = _qualified_name(type(datamodule))
        checkpoint[CHECKPOINT_KEY] = info


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
