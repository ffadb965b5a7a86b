"""A small CNN classifier of real images, whose penultimate layer serves as a feature space for
domain FID and whose predictions give the conditional accuracy of generated images."""

from collections.abc import Sequence

import torch
from torch import nn

from condgan.errors import ConfigError


class DomainClassifierNet(nn.Module):
    """Conv-BN-ReLU blocks, each followed by 2x2 max pooling, then a dense feature layer and a linear head.

    ``features(images)`` returns the ``feature_dim``-dim activations before the head; the pooled
    map is averaged down to ``pooled_size`` x ``pooled_size`` so any image size works.
    """

    def __init__(
        self,
        num_classes: int,
        channels: int,
        widths: Sequence[int] = (32, 64),
        feature_dim: int = 64,
        pooled_size: int = 4,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if not widths:
            raise ConfigError("the domain classifier needs at least one convolution width")
        layers: list[nn.Module] = []
        w_in = channels
        for w_out in widths:
            layers += [
                nn.Conv2d(w_in, w_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(w_out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            w_in = w_out
        layers += [nn.AdaptiveAvgPool2d(pooled_size), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.embed = nn.Sequential(nn.Linear(w_in * pooled_size**2, feature_dim), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, num_classes))
        self.feature_dim = feature_dim

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """``[N, feature_dim]`` features of images in [-1, 1]."""
        return self.embed(self.body(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits ``[N, num_classes]``."""
        return self.head(self.features(images))
