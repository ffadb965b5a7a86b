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

from condgan.errors import ConfigError

LABEL_MODES = ("multiply", "concat", "none")


def _check_label_mode(label_mode: str) -> None:
    if label_mode not in LABEL_MODES:
        raise ConfigError(f"unknown label_mode {label_mode!r}; choose one of {', '.join(LABEL_MODES)}")


def _strided_size(size: int, stages: int) -> int:
    """Spatial size after ``stages`` stride-2 convolutions with kernel 3 and padding 1."""
    for _ in range(stages):
        size = (size + 1) // 2
    return size


class CGANGenerator(nn.Module):
    """Dense projection of the noise combined with a label embedding, then transposed-conv upsampling."""

    def __init__(
        self,
        num_classes: int,
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
        _check_label_mode(label_mode)
        if label_mode == "multiply" and embed_dim not in (None, noise_dim):
            raise ConfigError(f"label_mode=multiply needs embed_dim == noise_dim ({noise_dim}), got {embed_dim}")
        embed_dim = embed_dim or noise_dim
        upsamples = len(widths) - 1
        if upsamples < 1 or image_size % 2**upsamples:
            raise ConfigError(
                f"image_size {image_size} must be divisible by 2**{upsamples} "
                f"(one stride-2 stage per width after the first in {list(widths)})"
            )
        self.start_size = image_size // 2**upsamples
        self.start_width = widths[0]
        self.label_mode = label_mode
        self.label_embedding = nn.Embedding(num_classes, embed_dim) if label_mode != "none" else None
        in_features = noise_dim + (embed_dim if label_mode == "concat" else 0)
        self.project = nn.Sequential(
            nn.Linear(in_features, widths[0] * self.start_size**2), nn.ReLU(inplace=True)
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

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.label_mode == "multiply":
            noise = noise * self.label_embedding(labels)
        elif self.label_mode == "concat":
            noise = torch.cat([noise, self.label_embedding(labels)], dim=1)
        h = self.project(noise)
        h = h.view(-1, self.start_width, self.start_size, self.start_size)
        return self.upsample(h)


class CGANDiscriminator(nn.Module):
    """Strided convolutions over the image combined with a label embedding, optional dense layers, one logit."""

    def __init__(
        self,
        num_classes: int,
        channels: int,
        image_size: int,
        widths: Sequence[int] = (16, 32, 64),
        hidden: Sequence[int] = (),
        dropout: float = 0.2,
        leaky_slope: float = 0.2,
        label_mode: str = "multiply",
    ) -> None:
        super().__init__()
        _check_label_mode(label_mode)
        self.label_mode = label_mode
        self.label_shape = (channels if label_mode == "multiply" else 1, image_size, image_size)
        self.label_embedding = None
        if label_mode != "none":
            self.label_embedding = nn.Embedding(num_classes, self.label_shape[0] * image_size * image_size)
        if label_mode == "multiply":
            nn.init.ones_(self.label_embedding.weight)  # start as the identity gate
        layers: list[nn.Module] = []
        w_in = channels + (1 if label_mode == "concat" else 0)
        for w_out in widths:
            layers += [nn.Conv2d(w_in, w_out, 3, stride=2, padding=1), nn.LeakyReLU(leaky_slope, inplace=True), nn.Dropout(dropout)]
            w_in = w_out
        layers.append(nn.Flatten())
        features = w_in * _strided_size(image_size, len(widths)) ** 2
        for width in hidden:
            layers += [nn.Linear(features, width), nn.LeakyReLU(leaky_slope, inplace=True)]
            features = width
        layers.append(nn.Linear(features, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.label_mode == "multiply":
            images = images * self.label_embedding(labels).view(-1, *self.label_shape)
        elif self.label_mode == "concat":
            images = torch.cat([images, self.label_embedding(labels).view(-1, *self.label_shape)], dim=1)
        return self.net(images).squeeze(1)
