"""Dense generator and discriminator of the Keras MNIST cGAN report (its experiment 3).

The generator maps the label-conditioned noise through dense layers (256-512-1024 in the report,
each LeakyReLU + batch norm) to the flattened image; the discriminator maps the label-conditioned
flattened image through dense layers (512-512) to one logit.
"""

from collections.abc import Sequence

import torch
from torch import nn
from typing_extensions import override

from condgan.nets.labels import VectorConditioning


class MLPGenerator(nn.Module):
    """Dense layers from ``noise`` (combined with the label) to a ``[C, H, W]`` image in [-1, 1]."""

    def __init__(
        self,
        label_sizes: int | Sequence[int],
        channels: int,
        image_size: int,
        noise_dim: int,
        widths: Sequence[int] = (256, 512, 1024),
        batch_norm: bool = True,
        bn_momentum: float = 0.2,
        leaky_slope: float = 0.2,
        label_mode: str = "multiply",
        embed_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.image_shape = (channels, image_size, image_size)
        self.condition = VectorConditioning(label_sizes, noise_dim, label_mode, embed_dim)
        layers: list[nn.Module] = []
        features = self.condition.out_features
        for width in widths:
            layers += [nn.Linear(features, width), nn.LeakyReLU(leaky_slope, inplace=True)]
            if batch_norm:
                layers.append(nn.BatchNorm1d(width, momentum=bn_momentum))
            features = width
        layers += [nn.Linear(features, channels * image_size * image_size), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    @override
    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(self.condition(noise, labels)).view(-1, *self.image_shape)


class MLPDiscriminator(nn.Module):
    """Dense layers from the flattened image (combined with the label) to one logit."""

    def __init__(
        self,
        label_sizes: int | Sequence[int],
        channels: int,
        image_size: int,
        widths: Sequence[int] = (512, 512),
        dropout: float = 0.4,
        leaky_slope: float = 0.2,
        label_mode: str = "multiply",
        embed_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.condition = VectorConditioning(
            label_sizes, channels * image_size * image_size, label_mode, embed_dim, identity_start=True
        )
        layers: list[nn.Module] = []
        features = self.condition.out_features
        for width in widths:
            layers += [nn.Linear(features, width), nn.LeakyReLU(leaky_slope, inplace=True), nn.Dropout(dropout)]
            features = width
        layers.append(nn.Linear(features, 1))
        self.net = nn.Sequential(*layers)

    @override
    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(self.condition(images.flatten(1), labels)).squeeze(1)
