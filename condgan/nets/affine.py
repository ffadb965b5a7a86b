"""Random affine warps of image batches (rotation, shear, zoom, shift), shared by the data
augmentation, the glyph renderer and the discriminator's differentiable augmentation."""

import math

import torch
import torch.nn.functional as F


def random_affine(
    n: int,
    generator: torch.Generator | None,
    rotation: float,
    scale: tuple[float, float],
    shear: float,
    shift: float,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Random output-to-input affine matrices ``[n, 2, 3]`` for ``F.affine_grid``: rotation and
    shear in degrees (uniform in +-), zoom uniform in ``scale``, shift as a fraction of the image."""

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator, device=device) * (high - low) + low

    angle = uniform(-rotation, rotation) * math.pi / 180
    zoom = uniform(*scale)
    slant = uniform(-shear, shear) * math.pi / 180
    cos, sin, tan = angle.cos(), angle.sin(), slant.tan()
    # forward map: rotate(angle) @ shear_x(slant) @ scale(zoom); affine_grid needs its inverse
    forward = torch.zeros(n, 2, 2, device=device)
    forward[:, 0, 0] = cos * zoom
    forward[:, 0, 1] = (cos * tan - sin) * zoom
    forward[:, 1, 0] = sin * zoom
    forward[:, 1, 1] = (sin * tan + cos) * zoom
    inverse = torch.linalg.inv(forward)
    offset = torch.stack([uniform(-shift, shift), uniform(-shift, shift)], dim=1) * 2
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, :, :2] = inverse
    theta[:, :, 2] = -(inverse @ offset.unsqueeze(2)).squeeze(2)
    return theta


def warp(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] resampled (bilinear, differentiable) through output-to-input affine
    matrices ``theta`` ``[N, 2, 3]``; pixels from outside the image are black (-1)."""
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1
