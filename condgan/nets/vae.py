"""Encoders and decoders of the autoencoder family: the Kuzushiji report's MLP CVAE and a
convolutional variant (also used unconditionally for the Cryptopunks report's VAE and CAE).

Labels enter as one-hot vectors appended to the input (MLP) or as one-hot channels / appended to
the latent code (conv) when ``conditional``; encoders return ``(mu, logvar)``, decoders logits.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from typing_extensions import override

from condgan.nets.cdcgan import dcgan_stages
from condgan.nets.labels import label_sizes_of, label_weights


class _LabelOneHot(nn.Module):
    """Labels as one-hot blocks (one per attribute), or nothing when not ``conditional``."""

    def __init__(self, label_sizes: int | Sequence[int], conditional: bool) -> None:
        super().__init__()
        self.sizes = label_sizes_of(label_sizes)
        self.width = sum(self.sizes) if conditional else 0

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        if not self.width:
            return torch.zeros(len(labels), 0, device=labels.device)
        return label_weights(labels, self.sizes)


class MLPEncoder(nn.Module):
    """fc1 over ``[flattened image, one-hot label]`` with ReLU, then fc2_mu and fc2_logvar."""

    def __init__(
        self,
        label_sizes: int | Sequence[int],
        channels: int,
        image_size: int,
        latent_dim: int,
        hidden: int = 400,
        conditional: bool = True,
    ) -> None:
        super().__init__()
        self.onehot = _LabelOneHot(label_sizes, conditional)
        self.fc1 = nn.Linear(channels * image_size**2 + self.onehot.width, hidden)
        self.fc2_mu = nn.Linear(hidden, latent_dim)
        self.fc2_logvar = nn.Linear(hidden, latent_dim)

    @override
    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.fc1(torch.cat([images.flatten(1), self.onehot(labels)], dim=1)))
        return self.fc2_mu(h), self.fc2_logvar(h)


class MLPDecoder(nn.Module):
    """fc3 over ``[z, one-hot label]`` with ReLU, then fc4 to the image's logits."""

    def __init__(
        self,
        label_sizes: int | Sequence[int],
        channels: int,
        image_size: int,
        latent_dim: int,
        hidden: int = 400,
        conditional: bool = True,
    ) -> None:
        super().__init__()
        self.image_shape = (channels, image_size, image_size)
        self.onehot = _LabelOneHot(label_sizes, conditional)
        self.fc3 = nn.Linear(latent_dim + self.onehot.width, hidden)
        self.fc4 = nn.Linear(hidden, channels * image_size**2)

    @override
    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.fc3(torch.cat([z, self.onehot(labels)], dim=1)))
        return self.fc4(h).view(-1, *self.image_shape)


class ConvEncoder(nn.Module):
    """Strided convs (batch norm, LeakyReLU) over the image and one-hot label channels, then mu/logvar."""

    def __init__(
        self,
        label_sizes: int | Sequence[int],
        channels: int,
        image_size: int,
        latent_dim: int,
        width: int = 32,
        conditional: bool = True,
    ) -> None:
        super().__init__()
        stages, start = dcgan_stages(image_size)
        self.onehot = _LabelOneHot(label_sizes, conditional)
        layers: list[nn.Module] = []
        w_in = channels + self.onehot.width
        for i in range(stages):
            w_out = width * 2**i
            layers += [nn.Conv2d(w_in, w_out, 4, 2, 1), nn.BatchNorm2d(w_out), nn.LeakyReLU(0.2, inplace=True)]
            w_in = w_out
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.mu = nn.Linear(w_in * start**2, latent_dim)
        self.logvar = nn.Linear(w_in * start**2, latent_dim)

    @override
    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, _, h, w = images.shape
        maps = self.onehot(labels)[:, :, None, None].expand(n, -1, h, w)
        features = self.features(torch.cat([images, maps], dim=1))
        return self.mu(features), self.logvar(features)


class ConvDecoder(nn.Module):
    """Dense projection of ``[z, one-hot label]``, then transposed convs up to the image's logits."""

    def __init__(
        self,
        label_sizes: int | Sequence[int],
        channels: int,
        image_size: int,
        latent_dim: int,
        width: int = 32,
        conditional: bool = True,
    ) -> None:
        super().__init__()
        stages, self.start = dcgan_stages(image_size)
        self.onehot = _LabelOneHot(label_sizes, conditional)
        widths = [width * 2**i for i in reversed(range(stages))]
        self.project = nn.Linear(latent_dim + self.onehot.width, widths[0] * self.start**2)
        layers: list[nn.Module] = [nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1), nn.BatchNorm2d(w_out), nn.ReLU(inplace=True)]
        layers.append(nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1))
        self.net = nn.Sequential(*layers)
        self.first_width = widths[0]

    @override
    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.project(torch.cat([z, self.onehot(labels)], dim=1))
        return self.net(h.view(len(z), self.first_width, self.start, self.start))
