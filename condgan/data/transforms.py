"""Batched image transforms on tensors: preprocessing applied once to a decoded split (denoise,
sharpen, resize, outlier removal) and random augmentation applied to every training batch on its
device (rotation, shift, shear, zoom, crop with padding, horizontal flip). Nothing runs per sample
in Python."""

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from condgan.data.statistics import distance_outliers
from condgan.errors import ConfigError
from condgan.nets.affine import random_affine, warp

CHUNK = 4096
PREPROCESS_KEYS = ("remove_outliers", "denoise", "sharpen", "resize")
AUGMENT_KEYS = ("rotation", "shift", "shear", "zoom", "crop_padding", "hflip")


def _chunked(fn, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([fn(part) for part in images.split(CHUNK)]) if len(images) else images


def median_filter(images: torch.Tensor, kernel: int) -> torch.Tensor:
    """Per-channel ``kernel`` x ``kernel`` median of uint8 images (edges reflected): removes speckle noise."""
    if kernel < 3 or kernel % 2 == 0:
        raise ConfigError(f"data.preprocess.denoise={kernel}: the median filter needs an odd kernel >= 3")

    def apply(part: torch.Tensor) -> torch.Tensor:
        n, c, h, w = part.shape
        padded = F.pad(part.float(), [kernel // 2] * 4, mode="reflect")
        patches = F.unfold(padded.reshape(n * c, 1, *padded.shape[2:]), kernel)
        return patches.median(dim=1).values.reshape(n, c, h, w).to(torch.uint8)

    return _chunked(apply, images)


def sharpen(images: torch.Tensor, amount: float) -> torch.Tensor:
    """Unsharp mask: ``image + amount * (image - blur(image))`` with a 3x3 Gaussian blur."""
    blur = torch.tensor([1.0, 2.0, 1.0])
    kernel = (blur[:, None] * blur[None, :] / 16).expand(images.shape[1], 1, 3, 3)

    def apply(part: torch.Tensor) -> torch.Tensor:
        x = part.float()
        blurred = F.conv2d(F.pad(x, [1] * 4, mode="replicate"), kernel, groups=x.shape[1])
        return (x + amount * (x - blurred)).round().clamp(0, 255).to(torch.uint8)

    return _chunked(apply, images)


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 images resized to ``size`` x ``size`` (bilinear, antialiased when shrinking)."""

    def apply(part: torch.Tensor) -> torch.Tensor:
        out = F.interpolate(part.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return out.round().clamp(0, 255).to(torch.uint8)

    return _chunked(apply, images)


def check_settings(settings: Mapping | None, keys: tuple[str, ...], group: str) -> dict:
    """The ``data.<group>`` settings as a dict, refusing keys outside ``keys``."""
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(keys))
    if unknown:
        raise ConfigError(f"unknown data.{group} option(s) {', '.join(unknown)}; known: {', '.join(keys)}")
    return settings


def preprocess(
    images: torch.Tensor, labels: torch.Tensor, num_classes: int, image_size: int, settings: Mapping | None, train: bool
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Apply ``data.preprocess`` to one split: resize to ``image_size`` (``resize: true``), drop
    the train split's images farther than ``remove_outliers`` std from their class mean, median
    ``denoise`` (kernel size), ``sharpen`` (amount). Returns images, labels and the number removed."""
    settings = check_settings(settings, PREPROCESS_KEYS, "preprocess")
    if settings.get("resize") and images.shape[-1] != image_size:
        images = resize(images, image_size)
    removed = 0
    if train and settings.get("remove_outliers"):
        outliers = distance_outliers(images, labels, num_classes, float(settings["remove_outliers"]))
        removed = int(outliers.sum())
        images, labels = images[~outliers], labels[~outliers]
    if settings.get("denoise"):
        images = median_filter(images, int(settings["denoise"]))
    if settings.get("sharpen"):
        images = sharpen(images, float(settings["sharpen"]))
    return images, labels, removed


class BatchAugment:
    """Random augmentation of a batch in [-1, 1] on its own device: one affine warp per image
    (``rotation``/``shear`` in degrees, ``shift`` as a fraction of the size, ``zoom`` as +-fraction,
    ``crop_padding``: an extra integer shift of up to that many pixels, as a random crop of the
    padded image), then ``hflip`` of half the images. Uncovered pixels are black (-1)."""

    def __init__(self, settings: Mapping | None) -> None:
        self.settings = check_settings(settings, AUGMENT_KEYS, "augment")
        s = self.settings
        self.warps = any(s.get(k) for k in ("rotation", "shift", "shear", "zoom", "crop_padding"))
        self.active = self.warps or bool(s.get("hflip"))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """The batch augmented (returned as it is when no setting is on)."""
        if not self.active:
            return images
        s, n, size = self.settings, len(images), images.shape[-1]
        if self.warps:
            zoom = float(s.get("zoom") or 0.0)
            theta = random_affine(
                n,
                None,
                float(s.get("rotation") or 0.0),
                (1 - zoom, 1 + zoom),
                float(s.get("shear") or 0.0),
                float(s.get("shift") or 0.0),
                images.device,
            )
            padding = int(s.get("crop_padding") or 0)
            if padding:
                pixels = torch.randint(-padding, padding + 1, (n, 2), device=images.device).float()
                theta[:, :, 2] -= pixels * 2 / size
            images = warp(images, theta)
        if s.get("hflip"):
            flip = torch.rand(n, device=images.device) < 0.5
            images = torch.where(flip[:, None, None, None], images.flip(3), images)
        return images
