"""How a class label enters a network through a vector: multiplied in, appended, or ignored."""

import torch
from torch import nn

from condgan.errors import ConfigError

LABEL_MODES = ("multiply", "concat", "none")


def embed_labels(embedding: nn.Embedding, labels: torch.Tensor) -> torch.Tensor:
    """Rows of ``embedding`` for int64 ``labels [N]``; float ``labels [N, num_classes]`` are weights
    that mix the rows (one-hot rows give the plain lookup; blends interpolate between classes)."""
    if labels.is_floating_point():
        return labels.to(embedding.weight.dtype) @ embedding.weight
    return embedding(labels)


def check_label_mode(label_mode: str) -> str:
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
        self, num_classes: int, features: int, label_mode: str, embed_dim: int | None = None,
        identity_start: bool = False,
    ) -> None:
        super().__init__()
        self.label_mode = check_label_mode(label_mode)
        if label_mode == "multiply" and embed_dim not in (None, features):
            raise ConfigError(f"label_mode=multiply needs embed_dim == {features} (the input width), got {embed_dim}")
        embed_dim = embed_dim or features
        self.embedding = nn.Embedding(num_classes, embed_dim) if label_mode != "none" else None
        if label_mode == "multiply" and identity_start:
            nn.init.ones_(self.embedding.weight)
        self.out_features = features + (embed_dim if label_mode == "concat" else 0)

    def forward(self, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.label_mode == "multiply":
            return inputs * embed_labels(self.embedding, labels)
        if self.label_mode == "concat":
            return torch.cat([inputs, embed_labels(self.embedding, labels)], dim=1)
        return inputs
