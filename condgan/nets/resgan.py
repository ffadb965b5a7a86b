"""Residual networks of a small BigGAN-style pair (Brock et al. 2019; Miyato & Koyama 2018).

The generator projects the noise to a small map and doubles its resolution in residual blocks
whose batch norms are conditioned on the label; the discriminator halves the resolution in
spectrally normalised residual blocks and adds a projection of the label onto its pooled features
to an unconditional logit. Both are sized by one ``width``; the discriminator's own ``width`` sets
the D:G ratio.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm
from typing_extensions import override

from condgan.nets.cdcgan import dcgan_stages
from condgan.nets.labels import LabelEmbedding
from condgan.nets.projgan import ConditionalBatchNorm2d


class UpBlock(nn.Module):
    """cBN-ReLU-upsample-conv3x3-cBN-ReLU-conv3x3, plus an upsampled 1x1-conv shortcut."""

    def __init__(self, w_in: int, w_out: int, label_sizes: Sequence[int]) -> None:
        super().__init__()
        self.norm1 = ConditionalBatchNorm2d(w_in, label_sizes)
        self.conv1 = nn.Conv2d(w_in, w_out, 3, padding=1)
        self.norm2 = ConditionalBatchNorm2d(w_out, label_sizes)
        self.conv2 = nn.Conv2d(w_out, w_out, 3, padding=1)
        self.shortcut = nn.Conv2d(w_in, w_out, 1)

    @override
    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.norm1(x, labels)), scale_factor=2.0)
        h = self.conv2(F.relu(self.norm2(self.conv1(h), labels)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2.0))


class DownBlock(nn.Module):
    """(ReLU-)conv3x3-ReLU-conv3x3(-avgpool), plus a 1x1-conv(-avgpool) shortcut; all spectrally
    normalised. The first block of D skips the leading ReLU (its input is the image)."""

    def __init__(self, w_in: int, w_out: int, down: bool, first: bool = False) -> None:
        super().__init__()
        self.conv1 = spectral_norm(nn.Conv2d(w_in, w_out, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(w_out, w_out, 3, padding=1))
        self.shortcut = spectral_norm(nn.Conv2d(w_in, w_out, 1))
        self.down, self.first = down, first

    @override
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        skip = self.shortcut(x)
        if self.down:
            h, skip = F.avg_pool2d(h, 2), F.avg_pool2d(skip, 2)
        return h + skip


class ResGenerator(nn.Module):
    """Dense projection of the noise to the start size, residual up-blocks with conditional batch
    norm (``width`` channels at full resolution, doubling per coarser stage), then BN-ReLU-conv-tanh."""

    def __init__(
        self, label_sizes: int | Sequence[int], channels: int, image_size: int, noise_dim: int, width: int = 32
    ) -> None:
        super().__init__()
        stages, self.start = dcgan_stages(image_size)
        widths = [width * 2**i for i in reversed(range(stages + 1))]
        self.project = nn.Linear(noise_dim, widths[0] * self.start**2)
        self.blocks = nn.ModuleList([UpBlock(a, b, label_sizes) for a, b in zip(widths[:-1], widths[1:])])
        self.out = nn.Sequential(
            nn.BatchNorm2d(widths[-1]), nn.ReLU(), nn.Conv2d(widths[-1], channels, 3, padding=1), nn.Tanh()
        )

    @override
    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.project(noise).view(len(noise), -1, self.start, self.start)
        for block in self.blocks:
            h = block(h, labels)
        return self.out(h)


class ResDiscriminator(nn.Module):
    """Residual down-blocks (``width`` channels at full resolution, doubling per stage), one more
    block at the coarsest size, ReLU, sum pooling, logit = linear(phi) + <embed(y), phi>."""

    def __init__(self, label_sizes: int | Sequence[int], channels: int, image_size: int, width: int = 32) -> None:
        super().__init__()
        stages, _ = dcgan_stages(image_size)
        widths = [width * 2**i for i in range(stages)]
        blocks = [DownBlock(channels, widths[0], down=True, first=True)]
        blocks += [DownBlock(a, b, down=True) for a, b in zip(widths[:-1], widths[1:])]
        blocks.append(DownBlock(widths[-1], widths[-1], down=False))
        self.blocks = nn.Sequential(*blocks)
        self.linear = spectral_norm(nn.Linear(widths[-1], 1))
        self.projection = spectral_norm(LabelEmbedding(label_sizes, widths[-1]))

    @override
    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        phi = F.relu(self.blocks(images)).sum(dim=(2, 3))
        return self.linear(phi).squeeze(1) + (self.projection(labels) * phi).sum(1)
