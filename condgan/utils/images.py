"""Conversions between model outputs in [-1, 1] and uint8 pictures, and class grids."""

from pathlib import Path

import torch
from PIL import Image
from torchvision.utils import make_grid


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] as uint8 0..255 on the CPU, same shape."""
    return images.detach().float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8).cpu()


def class_grid(images: torch.Tensor, per_row: int) -> torch.Tensor:
    """uint8 ``[C, H, W]`` grid of images in [-1, 1], ``per_row`` per row; with ``generate``'s
    grouping, one row per class (also used for interpolation strips and reconstructions)."""
    return make_grid(to_uint8(images), nrow=per_row, padding=2, pad_value=128)


def save_png(image: torch.Tensor, path: str | Path) -> Path:
    """Write a uint8 ``[C, H, W]`` image (1 or 3 channels) to ``path``, creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = image.permute(1, 2, 0).numpy()
    Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(path)
    return path
