"""Differentiable augmentation of the images a discriminator sees (DiffAugment, Zhao et al. 2020).

Real and generated batches both pass through the same random transforms before D, in its own step
and in G's step, so D cannot memorise the training set while G still learns un-augmented images
(gradients flow through every transform back to G). Every transform is a tensor operation on the
batch's device: no per-image Python.
"""

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from condgan.errors import ConfigError
from condgan.nets.affine import random_affine, warp

DIFF_AUGMENT_KEYS = ("translation", "cutout", "brightness", "contrast", "saturation", "rotation", "shear", "zoom")


class DiffAugment:
    """Random, differentiable transforms of a batch in [-1, 1], each off at 0:

    - ``brightness``: add a per-image offset uniform in +-brightness (images span [-1, 1]);
    - ``saturation``: scale each image's distance from its grey value by a factor in [1 - s, 1 + s]
      (RGB images only; a no-op on one channel);
    - ``contrast``: scale each image's distance from its mean by a factor in [1 - c, 1 + c];
    - ``rotation`` / ``shear`` (degrees, uniform in +-) and ``zoom`` (scale uniform in
      [1 - zoom, 1 + zoom]): one bilinear affine warp per image, uncovered pixels black;
    - ``translation``: shift by up to this fraction of the size (integer pixels, zero padding = black);
    - ``cutout``: blank (black) one square of this fraction of the size at a random place.

    ``generator`` makes the draws reproducible (tests); None uses the global RNG.
    """

    def __init__(self, settings: Mapping | None) -> None:
        settings = dict(settings or {})
        unknown = sorted(set(settings) - set(DIFF_AUGMENT_KEYS))
        if unknown:
            raise ConfigError(
                f"unknown model.diff_augment option(s) {', '.join(unknown)}; known: {', '.join(DIFF_AUGMENT_KEYS)}"
            )
        for key in ("translation", "cutout", "zoom"):
            if not 0.0 <= float(settings.get(key) or 0.0) < 1.0:
                raise ConfigError(f"model.diff_augment.{key}={settings[key]} must lie in [0, 1) (a fraction)")
        self.settings = {key: float(settings.get(key) or 0.0) for key in DIFF_AUGMENT_KEYS}
        self.active = any(self.settings.values())

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The batch augmented, one draw per image (returned as it is when no strength is set)."""
        if not self.active:
            return images
        s = self.settings
        n, device = len(images), images.device

        def uniform(*shape: int) -> torch.Tensor:
            return torch.rand(n, *shape, generator=generator, device=device, dtype=images.dtype) * 2 - 1

        if s["brightness"]:
            images = images + uniform(1, 1, 1) * s["brightness"]
        if s["saturation"] and images.shape[1] > 1:
            grey = images.mean(dim=1, keepdim=True)
            images = grey + (images - grey) * (1 + uniform(1, 1, 1) * s["saturation"])
        if s["contrast"]:
            mean = images.mean(dim=(1, 2, 3), keepdim=True)
            images = mean + (images - mean) * (1 + uniform(1, 1, 1) * s["contrast"])
        if s["rotation"] or s["shear"] or s["zoom"]:
            theta = random_affine(n, generator, s["rotation"], (1 - s["zoom"], 1 + s["zoom"]), s["shear"], 0.0, device)
            images = warp(images, theta)
        if s["translation"]:
            images = self._translate(images, s["translation"], generator)
        if s["cutout"]:
            images = self._cutout(images, s["cutout"], generator)
        return images

    @staticmethod
    def _translate(images: torch.Tensor, fraction: float, generator: torch.Generator | None) -> torch.Tensor:
        """Shift every image by its own integer offset; pixels shifted in are black (-1)."""
        n, _, h, w = images.shape
        max_y, max_x = int(h * fraction + 0.5), int(w * fraction + 0.5)
        shift_y = torch.randint(-max_y, max_y + 1, (n, 1, 1), generator=generator, device=images.device)
        shift_x = torch.randint(-max_x, max_x + 1, (n, 1, 1), generator=generator, device=images.device)
        rows = torch.arange(h, device=images.device)[None, :, None] - shift_y
        cols = torch.arange(w, device=images.device)[None, None, :] - shift_x
        padded = F.pad(images + 1, [1, 1, 1, 1])
        rows, cols = rows.clamp(-1, h) + 1, cols.clamp(-1, w) + 1
        index = (rows * (w + 2) + cols).reshape(n, 1, h * w).expand(-1, images.shape[1], -1)
        return padded.flatten(2).gather(2, index).reshape(images.shape) - 1

    @staticmethod
    def _cutout(images: torch.Tensor, fraction: float, generator: torch.Generator | None) -> torch.Tensor:
        """Blank one square of side ``fraction`` x size per image, centred anywhere in the image."""
        n, _, h, w = images.shape
        size_y, size_x = int(h * fraction + 0.5), int(w * fraction + 0.5)
        centre_y = torch.randint(0, h + (1 - size_y % 2), (n, 1, 1), generator=generator, device=images.device)
        centre_x = torch.randint(0, w + (1 - size_x % 2), (n, 1, 1), generator=generator, device=images.device)
        top = torch.arange(h, device=images.device)[None, :, None] - centre_y + size_y // 2
        left = torch.arange(w, device=images.device)[None, None, :] - centre_x + size_x // 2
        inside = (top >= 0) & (top < size_y) & (left >= 0) & (left < size_x)
        keep = (~inside).to(images.dtype)[:, None]
        return (images + 1) * keep - 1
