"""Networks of the CDCGAN report: Radford et al.'s DCGAN with label embeddings as extra inputs.

The generator starts from a 1x1 map of ``noise ++ embed(label)`` and doubles the resolution with
transposed convolutions (batch norm + ReLU) up to the image, or with nearest-neighbour upsampling
followed by a 3x3 convolution (``upsample="nearest"``, which cannot leave the checkerboard pattern
of overlapping transposed-convolution kernels); the discriminator reads the image with
the label embedding broadcast as ``embed_dim`` extra channels and halves the resolution with
strided convolutions (batch norm + LeakyReLU) down to one logit (its first layer padded to 8 input
channels on a GPU, for cuDNN's fast kernels). The starting size is 4 for 32x32
and 64x64 images and 7 for 28x28 ones.
"""

from collections.abc import Sequence

import torch
from torch import nn
from typing_extensions import override

from condgan.errors import ConfigError
from condgan.nets.channel_padding import ChannelPaddedConv2d
from condgan.nets.labels import LabelEmbedding


def dcgan_stages(image_size: int) -> tuple[int, int]:
    """(number of stride-2 stages, starting size) with a starting size of at most 7."""
    stages, size = 0, image_size
    while size > 7 and size % 2 == 0:
        stages, size = stages + 1, size // 2
    if stages == 0 or not 3 <= size <= 7:
        raise ConfigError(
            f"cdcgan needs an image_size of the form s * 2**k with 3 <= s <= 7 and k >= 1, got {image_size}"
        )
    return stages, size


UPSAMPLING = ("transposed", "nearest")


def doubling(w_in: int, w_out: int, upsample: str, bias: bool) -> list[nn.Module]:
    """Layers that double a map's resolution: a 4x4 stride-2 transposed convolution, or nearest-
    neighbour upsampling and a 3x3 convolution."""
    if upsample == "transposed":
        return [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=bias)]
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(w_in, w_out, 3, 1, 1, bias=bias)]


class CDCGANGenerator(nn.Module):
    """``[noise, embedding]`` as a 1x1 map -> ConvT to the start size -> x2 stages (``upsample``:
    transposed convolutions or nearest + conv) -> tanh."""

    def __init__(
        self,
        label_sizes: int | Sequence[int],
        channels: int,
        image_size: int,
        noise_dim: int,
        embed_dim: int = 5,
        width: int = 64,
        upsample: str = "transposed",
    ) -> None:
        super().__init__()
        if upsample not in UPSAMPLING:
            raise ConfigError(f"model.generator.upsample must be one of {', '.join(UPSAMPLING)}, got {upsample!r}")
        stages, start = dcgan_stages(image_size)
        self.embedding = LabelEmbedding(label_sizes, embed_dim)
        widths = [width * 2**i for i in reversed(range(stages))]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(noise_dim + embed_dim, widths[0], start, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            layers += [*doubling(w_in, w_out, upsample, bias=False), nn.BatchNorm2d(w_out), nn.ReLU(inplace=True)]
        layers += [*doubling(widths[-1], channels, upsample, bias=True), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    @override
    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([noise, self.embedding(labels)], dim=1)[:, :, None, None])


class CDCGANDiscriminator(nn.Module):
    """Image + broadcast label embedding channels -> strided convs -> one logit (plus
    ``aux_classes`` class logits, the ACGAN head)."""

    def __init__(
        self,
        label_sizes: int | Sequence[int],
        channels: int,
        image_size: int,
        embed_dim: int = 5,
        width: int = 64,
        aux_classes: int = 0,
    ) -> None:
        super().__init__()
        stages, start = dcgan_stages(image_size)
        self.embedding = LabelEmbedding(label_sizes, embed_dim)
        layers: list[nn.Module] = []
        w_in = channels + embed_dim
        for i in range(stages):
            w_out = width * 2**i
            conv = ChannelPaddedConv2d if i == 0 else nn.Conv2d  # image + label channels: rarely a multiple of 8
            layers.append(conv(w_in, w_out, 4, 2, 1, bias=i == 0))
            if i:
                layers.append(nn.BatchNorm2d(w_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            w_in = w_out
        layers.append(nn.Conv2d(w_in, 1 + aux_classes, start))
        self.net = nn.Sequential(*layers)
        self.aux_classes = aux_classes

    @override
    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        label_maps = self.embedding(labels)[:, :, None, None].expand(n, -1, h, w)
        out = self.net(torch.cat([images, label_maps], dim=1)).flatten(1)
        return out if self.aux_classes else out.squeeze(1)
