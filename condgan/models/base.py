"""The interface every model family offers to callbacks, metrics and evaluate.py."""

import random
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

import lightning as L
import numpy as np
import torch

from condgan.errors import ConfigError, LabelRangeError, NonFiniteLossError
from condgan.models.optimizers import build_optimizer
from condgan.nets.labels import label_weights

CHECKPOINT_KEY = "condgan"
# the random generators' states at the checkpoint, restored when training resumes from it
RNG_KEY = "condgan_rng"


class RecordedModule(L.LightningModule):
    """A LightningModule whose checkpoints record its class, its DataModule's class and the random
    generators' states, so a report can rebuild both from the file alone and a resumed run draws
    what the uninterrupted run would have; :meth:`evaluating` for inference inside training, and
    :meth:`log_training_values` for training values checked and logged without a sync per batch."""

    def __init__(self) -> None:
        super().__init__()
        self._resumed_rng_states: dict | None = None

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

    def gradient_scaler(self) -> torch.amp.GradScaler | None:
        """The trainer's fp16 gradient scaler (``16-mixed`` precision), else None."""
        scaler = getattr(self._trainer.precision_plugin, "scaler", None) if self._trainer is not None else None
        return scaler if scaler is not None and scaler.is_enabled() else None

    def build_optimizer(
        self, settings: Mapping, params: Iterable[torch.nn.Parameter], where: str
    ) -> torch.optim.Optimizer:
        """The optimiser that the config ``settings`` (at ``where``) describes, for ``params``
        (:func:`condgan.models.optimizers.build_optimizer`; no fused kernel under fp16's scaler)."""
        return build_optimizer(settings, params, where, scaler_on=self.gradient_scaler() is not None)

    def batches_done(self) -> int:
        """Training batches done, this one included: the optimiser steps so far plus one (a module
        that steps several optimisers per batch counts its batches itself)."""
        return self.global_step + 1

    def logging_step(self, batch_idx: int) -> bool:
        """Whether this batch's training values are checked for NaN and logged: the batches at which
        Lightning writes step metrics to the loggers (every ``trainer.log_every_n_steps``; every batch
        when 0 or in a fast dev run) and each epoch's last batch. No host-device sync on the other
        batches, and the NaN guard still stops a run within that window."""
        trainer, every = self.trainer, self.trainer.log_every_n_steps
        return (
            not every
            or trainer.fast_dev_run
            or self.batches_done() % every == 0
            or batch_idx + 1 >= trainer.num_training_batches
        )

    def log_training_values(
        self,
        values: Mapping[str, torch.Tensor],
        batch_idx: int,
        shown: Iterable[str],
        advice: str,
        unchecked: Iterable[str] = (),
    ) -> None:
        """Copy ``values`` to the host at once, stop with :class:`NonFiniteLossError` (``advice`` says
        what to change) if one not ``unchecked`` is NaN or infinite, and log them, the ``shown`` ones
        on the progress bar. Lightning converts the progress bar's values to numbers after every
        later batch of the epoch: free for host tensors, a device sync for others."""
        host = dict(zip(values, torch.stack([value.detach().float() for value in values.values()]).cpu()))
        unchecked = set(unchecked)
        checked = {name: value for name, value in host.items() if name not in unchecked}
        if not torch.isfinite(torch.stack(list(checked.values()))).all():
            listed = ", ".join(f"{name}={float(value):.4g}" for name, value in checked.items() if "acc" not in name)
            raise NonFiniteLossError(
                f"{listed} at epoch {self.current_epoch}, batch {batch_idx}: training stopped, "
                f"checkpoints already saved are kept; {advice}"
            )
        shown = set(shown)
        self.log_dict({name: value for name, value in host.items() if name in shown}, prog_bar=True)
        rest = {name: value for name, value in host.items() if name not in shown}
        if rest:
            self.log_dict(rest)

    def log_loss_terms(self, terms: Mapping[str, torch.Tensor], batch_idx: int, advice: str) -> None:
        """On a :meth:`logging_step`, ``terms`` checked and logged as ``train/<name>``, all on the
        progress bar (:meth:`log_training_values`): the single-optimiser families' training logs."""
        if self.logging_step(batch_idx):
            logged = {f"train/{name}": value for name, value in terms.items()}
            self.log_training_values(logged, batch_idx, logged, advice)

    def on_train_start(self) -> None:
        """Under data parallelism, give every rank its own random stream (noise draws, dropout):
        the global seed plus the rank. Parameters stay identical (DDP broadcasts rank 0's). On one
        device, a resumed run continues the random streams its checkpoint recorded, so it draws the
        noise the uninterrupted run would have."""
        if self.trainer.world_size > 1:
            torch.manual_seed(torch.initial_seed() + self.global_rank)
        elif self._resumed_rng_states is not None:
            set_rng_states(self._resumed_rng_states)
        self._resumed_rng_states = None

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Record the model class, the DataModule class whose hyperparameters Lightning saves, and
        the random number generators' states (for an exact resume)."""
        info = {"model_class": _qualified_name(type(self))}
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is not None:
            info["datamodule_class"] = _qualified_name(type(datamodule))
        checkpoint[CHECKPOINT_KEY] = info
        checkpoint[RNG_KEY] = rng_states()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Keep the recorded random states for :meth:`on_train_start` (after Lightning's sanity
        validation, which draws from them too)."""
        self._resumed_rng_states = checkpoint.get(RNG_KEY)


class GenerativeModule(RecordedModule, ABC):
    """A conditional generator: ``generate(labels, n)`` returns images in [-1, 1].

    Subclasses implement :meth:`latent` (draws of the latent code) and :meth:`decode` (latent codes
    and labels to images), which interpolation strips also use. ``attributes`` (e.g. ``{"style": 2}``)
    adds label columns after the class; ``compile`` and ``channels_last`` are speed switches.
    Checkpoints record the concrete class so :func:`condgan.models.load_generative_model` can
    rebuild any family from the file alone.
    """

    def __init__(
        self,
        num_classes: int,
        attributes: Mapping[str, int] | None = None,
        compile: Mapping | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.compile_options = dict(compile) if compile is not None else None
        self.channels_last = channels_last
        self.num_classes = num_classes
        self.attributes = dict(attributes or {})
        self.label_sizes = [num_classes, *self.attributes.values()]

    @abstractmethod
    def latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws of the latent code (noise for GANs, the prior for autoencoders) on the device."""

    @abstractmethod
    def decode(self, latent: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Images ``[N, C, H, W]`` in [-1, 1] for latent codes and labels (already on the device).

        ``labels`` is int64 ``[N]`` (or ``[N, 1 + attributes]`` for a model with attributes), or
        float ``[N, sum(label_sizes)]`` weights (see :meth:`label_weights`) that blend label
        embeddings (label interpolation). Called in eval mode without gradients.
        """

    def sample(
        self, labels: torch.Tensor, generator: torch.Generator | None = None, truncation: float | None = None
    ) -> torch.Tensor:
        """One image per label of the int64 tensor ``labels``, from fresh latent draws (truncated at
        ``truncation``, see :meth:`truncate`)."""
        return self.decode(self.latent_draws(len(labels), generator, truncation), labels)

    def latent_draws(
        self, n: int, generator: torch.Generator | None = None, truncation: float | None = None
    ) -> torch.Tensor:
        """:meth:`latent`, truncated at ``truncation`` when given (:meth:`truncate`)."""
        latent = self.latent(n, generator)
        return latent if truncation is None else self.truncate(latent, truncation, generator)

    def truncate(
        self, latent: torch.Tensor, threshold: float, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``latent`` (draws of N(0, I)) with every component beyond +-``threshold`` drawn again until
        none is: the truncation trick (Brock et al. 2019), which trades variety for cleaner samples."""
        check_truncation(threshold)
        latent = latent.clone()
        while count := int((outside := latent.abs() > threshold).sum()):
            latent[outside] = self.standard_normal(1, count, generator)[0]
        return latent

    def check_labels(self, labels: torch.Tensor | Iterable | int) -> torch.Tensor:
        """``labels`` as int64 on the model's device: ``[N]`` classes, or ``[N, 1 + attributes]`` rows
        (class, then each attribute) for a model with attributes. Out-of-range values are an error."""
        labels = torch.as_tensor(labels, dtype=torch.long)
        names = ["class", *self.attributes]
        if not self.attributes:
            labels = labels.reshape(-1)
        elif labels.dim() != 2 or labels.shape[1] != len(names):
            example = ", ".join(f"<{name}>" for name in names)
            raise LabelRangeError(
                f"this model is conditioned on {' and '.join(names)}: pass one row per image, "
                f"labels=[[{example}], ...] (got shape {tuple(labels.shape)})"
            )
        columns = labels[:, None] if labels.dim() == 1 else labels
        for a, (name, size) in enumerate(zip(names, self.label_sizes)):
            outside = (columns[:, a] < 0) | (columns[:, a] >= size)
            if bool(outside.any()):
                bad = int(columns[:, a][outside][0])
                what = "label" if name == "class" else f"{name} label"
                values = "classes" if name == "class" else f"{name} values"
                raise LabelRangeError(
                    f"{what} {bad} is outside 0..{size - 1}: this model was trained on {size} {values}"
                )
        return labels.to(self.device)

    def with_attributes(self, classes: torch.Tensor) -> torch.Tensor:
        """Label rows for int64 ``classes``: unchanged without attributes; otherwise each attribute
        column cycles through its values (0, 1, 0, 1, ... for a thick/thin style)."""
        if not self.attributes:
            return classes
        index = torch.arange(len(classes), device=classes.device)
        return torch.stack([classes, *(index % size for size in self.label_sizes[1:])], dim=1)

    def label_weights(self, labels: torch.Tensor) -> torch.Tensor:
        """Float ``[N, sum(label_sizes)]`` one-hot blocks of label rows, for blending in :meth:`decode`."""
        return label_weights(labels, self.label_sizes)

    def standard_normal(self, n: int, dim: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``[n, dim]`` draws from N(0, I) on the model's device (from ``generator`` when given)."""
        if generator is None:
            return torch.randn(n, dim, device=self.device)
        return torch.randn(n, dim, generator=generator, device=generator.device).to(self.device)

    def generate(
        self,
        labels: torch.Tensor | Iterable[int] | int,
        n: int = 1,
        generator: torch.Generator | None = None,
        truncation: float | None = None,
    ) -> torch.Tensor:
        """``n`` images for each of ``labels``, grouped by label: shape ``[len(labels) * n, C, H, W]``.

        ``labels``: classes, or ``[[class, style], ...]`` rows for a model with attributes. Pass a
        seeded CPU ``generator`` for reproducible samples, and a ``truncation`` (e.g. 1.0) to draw
        every latent component within +-truncation (:meth:`truncate`).
        """
        labels = self.check_labels(labels).repeat_interleave(n, dim=0)
        with self.evaluating():
            return self.sample(labels, generator, truncation)

    def configure_model(self) -> None:
        """Config switches applied once the model is on its device: ``channels_last`` memory format
        of the conv weights, and ``torch.compile`` (with the ``compile`` options) of every network,
        in place, so checkpoints keep their parameter names."""
        check_compiled_layout(self.device, self.compile_options, self.channels_last)
        if self.channels_last:
            self.to(memory_format=torch.channels_last)
        if self.compile_options is not None:
            for network in self.children():
                network.compile(**self.compile_options)


# the first torch whose compiled conv backward predicts cuDNN's channels-last strides (pytorch/pytorch#171622)
COMPILED_CHANNELS_LAST_TORCH = "2.14"


def check_compiled_layout(
    device: torch.device, compile_options: Mapping | None, channels_last: bool, torch_version: str = torch.__version__
) -> None:
    """Refuse ``compile`` with ``channels_last`` on CUDA where torch's compiled conv backward fails
    (a stride assertion on the first batch: torch 2.11 on an H200)."""
    if (
        channels_last
        and compile_options is not None
        and device.type == "cuda"
        and torch.torch_version.TorchVersion(torch_version) < COMPILED_CHANNELS_LAST_TORCH
    ):
        raise ConfigError(
            f"model.compile with model.channels_last fails on CUDA before torch {COMPILED_CHANNELS_LAST_TORCH} "
            f"(this is {torch_version}): set model.channels_last=false (inductor picks conv layouts itself) "
            "or upgrade torch"
        )


def check_truncation(threshold: float | None) -> None:
    """A truncation is None or a positive number of standard deviations."""
    if threshold is not None and not (isinstance(threshold, (int, float)) and threshold > 0):
        raise ConfigError(
            f"truncation must be a positive number of standard deviations (e.g. 1.0) or null, got {threshold!r}"
        )


def rng_states() -> dict:
    """The states of torch's CPU and CUDA generators, numpy's and Python's, as tensors and plain
    values (no numpy objects in a checkpoint)."""
    name, keys, position, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(gauss)],
        "python": random.getstate(),
    }


def set_rng_states(states: dict) -> None:
    """Restore what :func:`rng_states` recorded (CUDA states only where CUDA is in use)."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_initialized():
        torch.cuda.set_rng_state_all(states["cuda"])
    name, keys, position, has_gauss, gauss = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    random.setstate(states["python"])


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
