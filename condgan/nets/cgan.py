"""Generator and discriminator of the EMNIST report's GANs (DCGAN, CGAN, WGAN).

With ``label_mode="multiply"`` (the report's CGAN) the generator multiplies the noise
element-wise with a label embedding of the same size and the discriminator multiplies the image
with a label embedding reshaped to the image. ``label_mode="concat"`` appends the embedding to the
noise instead, and to the image as an extra channel; ``label_mode="none"`` ignores the labels (the
report's unconditional DCGAN and WGAN). Widths, kernels, batch norm and dropout are arguments so
the report's variants are configs, not code.
"""

from collections.abc import Sequence

import torch
from torch import nn
from typing_extensions import override

from condgan.errors import ConfigError
from condgan.nets.labels import VectorConditioning


def _strided_size(size: int, stages: int) -> int:
    """Spatial size after ``stages`` stride-2 convolutions with kernel 3 and padding 1."""
    for _ in range(stages):
        size = (size + 1) // 2
    return size


class CGANGenerator(nn.Module):
    """Dense projection of the noise combined with a label embedding, then transposed-conv upsampling."""

    def __init__(
        self,
        label_sizes: int | Sequence[int],
        channels: int,
        image_size: int,
        noise_dim: int,
        widths: Sequence[int] = (64, 64, 32),
        batch_norm: bool = False,
        bn_momentum: float = 0.1,
        leaky_slope: float = 0.2,
        label_mode: str = "multiply",
        embed_dim: int | None = None,
        kernel_size: int = 4,
        out_kernel_size: int = 3,
    ) -> None:
        super().__init__()
        upsamples = len(widths) - 1
        if upsamples < 1 or image_size % 2**upsamples:
            raise ConfigError(
                f"image_size {image_size} must be divisible by 2**{upsamples} "
                f"(one stride-2 stage per width after the first in {list(widths)})"
            )
        self.start_size = image_size // 2**upsamples
        self.start_width = widths[0]
        self.condition = VectorConditioning(label_sizes, noise_dim, label_mode, embed_dim)
        self.project = nn.Sequential(
            nn.Linear(self.condition.out_features, widths[0] * self.start_size**2), nn.ReLU(inplace=True)
        )
        layers: list[nn.Module] = []
        if batch_norm:
            layers.append(nn.BatchNorm2d(widths[0], momentum=bn_momentum))
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            upsample = nn.ConvTranspose2d(
                w_in, w_out, kernel_size, stride=2, padding=(kernel_size - 1) // 2, output_padding=kernel_size % 2
            )
            layers += [upsample, nn.LeakyReLU(leaky_slope, inplace=True)]
            if batch_norm:
                layers.append(nn.BatchNorm2d(w_out, momentum=bn_momentum))
        layers += [nn.Conv2d(widths[-1], channels, out_kernel_size, padding=out_kernel_size // 2), nn.Tanh()]
        self.upsample = nn.Sequential(*layers)

    @override
    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.project(self.condition(noise, labels))
        h = h.view(-1, self.start_width, self.start_size, self.start_size)
        return self.upsample(h)


class CGANDiscriminator(nn.Module):
    """Strided convolutions over the image combined with a label embedding, optional dense layers,
    one logit (plus ``aux_classes`` class logits for ACGAN)."""

    def __init__(
        self,
        label_sizes: int | Sequence[int],
        channels: int,
        image_size: int,
        widths: Sequence[int] = (16, 32, 64),
        hidden: Sequence[int] = (),
        dropout: float = 0.2,
        leaky_slope: float = 0.2,
        label_mode: str = "multiply",
        aux_classes: int = 0,
    ) -> None:
        super().__init__()
        pixels = image_size * image_size
        # on the flattened image, an appended pixel map is exactly one extra image channel
        self.condition = VectorConditioning(
            label_sizes, channels * pixels, label_mode, pixels if label_mode == "concat" else None, identity_start=True
        )
        self.image_size = image_size
        layers: list[nn.Module] = []
        w_in = self.condition.out_features // pixels
        for w_out in widths:
            layers += [
                nn.Conv2d(w_in, w_out, 3, stride=2, padding=1),
                nn.LeakyReLU(leaky_slope, inplace=True),
                nn.Dropout(dropout),
            ]
            w_in = w_out
        layers.append(nn.Flatten())
        features = w_in * _strided_size(image_size, len(widths)) ** 2
        for width in hidden:
            layers += [nn.Linear(features, width), nn.LeakyReLU(leaky_slope, inplace=True)]
            features = width
        layers.append(nn.Linear(features, 1 + aux_classes))
        self.net = nn.Sequential(*layers)
        self.aux_classes = aux_classes

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """One logit per image ``[N]``; with ``aux_classes`` > 0, ``[N, 1 + aux_classes]``: the
        real/fake logit, then class logits (the ACGAN head)."""
        conditioned = self.condition(images.flatten(1), labels)
        out = self.net(conditioned.view(len(images), -1, self.image_size, self.image_size))
        return out if self.aux_classes else out.squeeze(1)
