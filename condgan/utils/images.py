"""Conversions between model outputs in [-1, 1] and uint8 pictures, and class grids (optionally with
the class names along their rows)."""

import functools
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.utils import make_grid

from condgan.data.base import to_signed_unit

GRID_PADDING = 2


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] as uint8 0..255 on the CPU, same shape."""
    return images.detach().float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8).cpu()


def class_grid(images: torch.Tensor, per_row: int) -> torch.Tensor:
    """uint8 ``[C, H, W]`` grid of images in [-1, 1], ``per_row`` per row; with ``generate``'s
    grouping, one row per class (also used for interpolation strips and reconstructions)."""
    return make_grid(to_uint8(images), nrow=per_row, padding=GRID_PADDING, pad_value=128)


@functools.lru_cache(maxsize=8)
def label_font(size: int) -> ImageFont.FreeTypeFont:
    """The font Pillow ships (no system fonts needed), at ``size`` pixels."""
    return ImageFont.load_default(size=size)


def drawable_label(name: str, font: ImageFont.FreeTypeFont) -> str:
    """``name`` as the font can draw it: characters it lacks become their romaji (kana, from their
    Unicode names) or their code point (``U+3042``)."""
    missing = bytes(font.getmask("\uffff"))

    def char(c: str) -> str:
        if c.isascii() or bytes(font.getmask(c)) != missing:
            return c
        name = unicodedata.name(c, "")
        for script in ("HIRAGANA LETTER ", "KATAKANA LETTER "):
            if name.startswith(script):
                return name[len(script) :].lower()
        return f"U+{ord(c):04X}"

    return "".join(char(c) for c in name)


def label_rows(grid: torch.Tensor, labels: Sequence[str], font_size: int | None = None) -> torch.Tensor:
    """``grid`` (uint8 ``[C, H, W]``, ``len(labels)`` rows of equal height, as :func:`class_grid`
    makes) with a strip on its left holding each row's label, centred on the row; the font is about
    half a row high unless ``font_size`` is given."""
    channels, height, width = grid.shape
    row_height = (height - GRID_PADDING) / len(labels)
    font = label_font(font_size or max(9, min(24, round(row_height * 0.45))))
    texts = [drawable_label(str(label), font) for label in labels]
    strip_width = int(max(font.getlength(text) for text in texts)) + 3 * GRID_PADDING
    strip = Image.new("L", (strip_width, height), 255)
    draw = ImageDraw.Draw(strip)
    for row, text in enumerate(texts):
        centre = GRID_PADDING + row_height * (row + 0.5)
        draw.text((strip_width - GRID_PADDING, centre), text, fill=0, font=font, anchor="rm")
    pixels = torch.from_numpy(np.array(strip)).expand(channels, height, strip_width)
    return torch.cat([pixels, grid], dim=2)


def labelled_class_grid(images: torch.Tensor, per_row: int, labels: Sequence[str] | None) -> torch.Tensor:
    """:func:`class_grid` with a label per row on its left (none when ``labels`` is None)."""
    grid = class_grid(images, per_row)
    return grid if labels is None else label_rows(grid, labels)


def save_png(image: torch.Tensor, path: str | Path) -> Path:
    """Write a uint8 ``[C, H, W]`` image (1 or 3 channels) to ``path``, creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = image.permute(1, 2, 0).numpy()
    Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(path)
    return path


def real_class_grid(images: torch.Tensor, labels: torch.Tensor, names: Sequence[str], per_class: int) -> torch.Tensor:
    """A labelled grid of real images (uint8 ``[N, C, H, W]``, class ``labels``): the first ``per_class``
    of every class in ``names`` in a row, gray cells where a class has fewer."""
    rows = []
    for c in range(len(names)):
        found = to_signed_unit(images[labels == c][:per_class])
        rows.append(torch.cat([found, torch.zeros((per_class - len(found), *images.shape[1:]))]))
    return labelled_class_grid(torch.cat(rows), per_class, names)
