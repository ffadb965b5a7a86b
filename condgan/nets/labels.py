"""How labels (a class, plus attributes such as a thick/thin style) enter a network: embedded,
then multiplied into a vector, appended to it, or ignored."""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from typing_extensions import override

from condgan.errors import ConfigError

LABEL_MODES = ("multiply", "concat", "none")


def label_sizes_of(sizes: int | Sequence[int]) -> list[int]:
    """Number of values of each conditioning attribute: the class first, then e.g. a style."""
    return [int(sizes)] if isinstance(sizes, int) else [int(size) for size in sizes]


def label_weights(labels: torch.Tensor, sizes: int | Sequence[int]) -> torch.Tensor:
    """Float ``[N, sum(sizes)]``: one one-hot block per attribute, side by side. ``labels`` are int64
    ``[N]`` (class only) or ``[N, attributes]``; float weights pass through unchanged."""
    if labels.is_floating_point():
        return labels.float()
    columns = labels[:, None] if labels.dim() == 1 else labels
    return torch.cat([F.one_hot(columns[:, a], size) for a, size in enumerate(label_sizes_of(sizes))], 1).float()


class LabelEmbedding(nn.Embedding):
    """One table of ``dim``-vectors per conditioning attribute (class, style, ...); a label row's
    vectors are summed.

    Takes int64 ``[N]`` (the class, when it is the only attribute), int64 ``[N, attributes]``, or
    float ``[N, sum(sizes)]`` weights over every table row (see :func:`label_weights`): one-hot
    blocks give the plain lookup, blends interpolate between labels.
    """

    def __init__(self, sizes: int | Sequence[int], dim: int) -> None:
        self.sizes = label_sizes_of(sizes)
        super().__init__(sum(self.sizes), dim)
        starts = torch.tensor([0, *self.sizes[:-1]]).cumsum(0)
        self.register_buffer("offsets", starts, persistent=False)

    def fill_identity(self) -> None:
        """Rows whose sum over the attributes is a vector of ones (a multiplicative identity)."""
        nn.init.constant_(self.weight, 1.0 / len(self.sizes))

    @override
    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        if labels.is_floating_point():
            return labels.to(self.weight.dtype) @ self.weight
        if labels.dim() == 1 or labels.shape[1] == 1:  # the class alone: one lookup, no offset or sum
            return F.embedding(labels.reshape(-1), self.weight)
        return F.embedding(labels + self.offsets[: labels.shape[1]], self.weight).sum(1)


def check_label_mode(label_mode: str) -> str:
    """``label_mode`` if it is one of :data:`LABEL_MODES`, else a config error."""
    if label_mode not in LABEL_MODES:
        raise ConfigError(f"unknown label_mode {label_mode!r}; choose one of {', '.join(LABEL_MODES)}")
    return label_mode


class VectorConditioning(nn.Module):
    """Combines ``[N, features]`` inputs with a label embedding.

    ``multiply``: element-wise product with an embedding of ``features`` dims (Keras-GAN style);
    ``concat``: appends an ``embed_dim``-dim embedding; ``none``: passes the input through.
    ``out_features`` is the width of the result. With ``identity_start`` a multiplicative
    embedding starts at ones, so the network first sees its input unchanged.
    """

    def __init__(
        self,
        label_sizes: int | Sequence[int],
        features: int,
        label_mode: str,
        embed_dim: int | None = None,
        identity_start: bool = False,
    ) -> None:
        super().__init__()
        self.label_mode = check_label_mode(label_mode)
        if label_mode == "multiply" and embed_dim not in (None, features):
            raise ConfigError(f"label_mode=multiply needs embed_dim == {features} (the input width), got {embed_dim}")
        embed_dim = embed_dim or features
        self.embedding = LabelEmbedding(label_sizes, embed_dim) if label_mode != "none" else None
        if label_mode == "multiply" and identity_start:
            self.embedding.fill_identity()
        self.out_features = features + (embed_dim if label_mode == "concat" else 0)

    @override
    def forward(self, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.label_mode == "multiply":
            return inputs * self.embedding(labels)
        if self.label_mode == "concat":
            return torch.cat([inputs, self.embedding(labels)], dim=1)
        return inputs
