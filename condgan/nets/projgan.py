"""Networks of the projection-discriminator GAN (Miyato & Koyama 2018), sized for small images.

The generator conditions every batch norm on the label (class-specific scale and shift); the
discriminator is spectrally normalised and adds the inner product of a label embedding with its
pooled features (the projection) to an unconditional logit.
"""

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm
from typing_extensions import override

from condgan.nets.cdcgan import dcgan_stages
from condgan.nets.labels import LabelEmbedding


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm without its own affine part, followed by a per-label scale (from 1) and shift (from 0)."""

    def __init__(self, num_features: int, label_sizes: int | Sequence[int]) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(num_features, affine=False)
        self.scale = LabelEmbedding(label_sizes, num_features)
        self.shift = LabelEmbedding(label_sizes, num_features)
        self.scale.fill_identity()
        nn.init.zeros_(self.shift.weight)

    @override
    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        scale, shift = self.scale(labels), self.shift(labels)
        return self.norm(x) * scale[:, :, None, None] + shift[:, :, None, None]


class ProjGenerator(nn.Module):
    """Dense projection of the noise to the start size, then ConvT stages with conditional batch norm."""

    def __init__(
        self, label_sizes: int | Sequence[int], channels: int, image_size: int, noise_dim: int, width: int = 64
    ) -> None:
        super().__init__()
        stages, self.start = dcgan_stages(image_size)
        widths = [width * 2**i for i in reversed(range(stages + 1))]
        self.project = nn.Linear(noise_dim, widths[0] * self.start**2)
        self.norms = nn.ModuleList([ConditionalBatchNorm2d(w, label_sizes) for w in widths])
        self.ups = nn.ModuleList([nn.ConvTranspose2d(a, b, 4, 2, 1) for a, b in zip(widths[:-1], widths[1:])])
        self.out = nn.Sequential(nn.Conv2d(widths[-1], channels, 3, padding=1), nn.Tanh())
        self.act = nn.ReLU(inplace=True)

    @override
    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.project(noise).view(len(noise), -1, self.start, self.start)
        h = self.act(self.norms[0](h, labels))
        for up, norm in zip(self.ups, self.norms[1:]):
            h = self.act(norm(up(h), labels))
        return self.out(h)


class ProjDiscriminator(nn.Module):
    """Spectrally normalised strided convs, sum pooling, logit = linear(phi) + <embed(y), phi>."""

    def __init__(self, label_sizes: int | Sequence[int], channels: int, image_size: int, width: int = 64) -> None:
        super().__init__()
        stages, _ = dcgan_stages(image_size)
        layers: list[nn.Module] = []
        w_in = channels
        for i in range(stages):
            w_out = width * 2**i
            layers += [spectral_norm(nn.Conv2d(w_in, w_out, 4, 2, 1)), nn.LeakyReLU(0.1, inplace=True)]
            w_in = w_out
        layers += [spectral_norm(nn.Conv2d(w_in, w_in * 2, 3, 1, 1)), nn.LeakyReLU(0.1, inplace=True)]
        self.features = nn.Sequential(*layers)
        self.linear = spectral_norm(nn.Linear(w_in * 2, 1))
        self.projection = spectral_norm(LabelEmbedding(label_sizes, w_in * 2))

    @override
    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        phi = self.features(images).sum(dim=(2, 3))
        return self.linear(phi).squeeze(1) + (self.projection(labels) * phi).sum(1)
