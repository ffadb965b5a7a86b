"""The embedded default dataset: 26 letters rendered with the font Pillow ships (and the ten digits,
``data=glyph_digits``, drawn the same way).

Each character is drawn upper- or lower-case at several stroke widths, then placed with a random
affine jitter (rotation, scale, shear, shift) and downsampled. Everything is drawn from one seed,
so the same config always yields the same images; the result is cached under ``root``.
With ``data.attributes: {style: 2}`` each image also gets the Kuzushiji report's thick/thin style.
"""

import hashlib
import json
import logging
import string
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from typing_extensions import override

from condgan.data.base import TensorImageDataModule
from condgan.data.cache import save_atomically
from condgan.errors import ConfigError
from condgan.nets.affine import random_affine

log = logging.getLogger(__name__)

LETTERS = string.ascii_uppercase
DIGITS = string.digits
SUPERSAMPLE = 2
_CHUNK = 4096


def render_templates(canvas: int, font_size: int, stroke_widths: list[int], alphabet: str = LETTERS) -> torch.Tensor:
    """Centred glyphs as floats in [0, 1], shaped ``[character, case, stroke, canvas, canvas]``
    (characters without a lower case, digits, are drawn the same in both)."""
    font = ImageFont.load_default(size=font_size)
    templates = torch.zeros(len(alphabet), 2, len(stroke_widths), canvas, canvas)
    for i, letter in enumerate(alphabet):
        for j, char in enumerate((letter, letter.lower())):
            for k, stroke in enumerate(stroke_widths):
                image = Image.new("L", (canvas, canvas))
                draw = ImageDraw.Draw(image)
                left, top, right, bottom = draw.textbbox((0, 0), char, font=font, stroke_width=stroke)
                origin = ((canvas - (right - left)) / 2 - left, (canvas - (bottom - top)) / 2 - top)
                draw.text(origin, char, fill=255, font=font, stroke_width=stroke, stroke_fill=255)
                templates[i, j, k] = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)
    return templates


def render_glyphs(
    samples_per_class: int,
    seed: int,
    image_size: int = 28,
    font_size: int = 22,
    stroke_widths: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5),
    lowercase_prob: float = 0.5,
    rotation: float = 12.0,
    scale: tuple[float, float] = (0.85, 1.1),
    shear: float = 12.0,
    shift: float = 0.06,
    alphabet: str = LETTERS,
) -> dict[str, torch.Tensor]:
    """Render ``len(alphabet) * samples_per_class`` jittered characters (label: the position in
    ``alphabet``); returns uint8 images and int64 labels.

    ``font_size`` and ``stroke_widths`` are in output pixels; ``shift`` is a fraction of the image.
    """
    gen = torch.Generator().manual_seed(seed)
    canvas = image_size * SUPERSAMPLE
    templates = render_templates(
        canvas, font_size * SUPERSAMPLE, [round(w * SUPERSAMPLE) for w in stroke_widths], alphabet
    )
    labels = torch.arange(len(alphabet)).repeat_interleave(samples_per_class)
    n = len(labels)
    case = (torch.rand(n, generator=gen) < lowercase_prob).long()
    stroke = torch.randint(len(stroke_widths), (n,), generator=gen)
    theta = random_affine(n, gen, rotation, scale, shear, shift)
    images = torch.empty(n, 1, image_size, image_size, dtype=torch.uint8)
    for start in range(0, n, _CHUNK):
        part = slice(start, start + _CHUNK)
        source = templates[labels[part], case[part], stroke[part]].unsqueeze(1)
        grid = F.affine_grid(theta[part], list(source.shape), align_corners=False)
        warped = F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        small = F.avg_pool2d(warped, SUPERSAMPLE)
        images[part] = small.mul(255).round().clamp(0, 255).to(torch.uint8)
    order = torch.randperm(n, generator=gen)
    images, labels = images[order], labels[order]
    return {"images": images, "labels": labels}


class GlyphsDataModule(TensorImageDataModule):
    """Rendered letters A-Z, generated offline in seconds and cached on disk."""

    name = "glyphs"
    mirrorable = False
    # the characters drawn, one class each
    alphabet = LETTERS

    def __init__(
        self,
        root: str,
        *args,
        samples_per_class: int = 600,
        test_samples_per_class: int = 100,
        render: dict | None = None,
        **kwargs,
    ) -> None:
        super().__init__(root, *args, **kwargs)
        if self.hparams.num_classes != len(self.alphabet) or self.hparams.channels != 1:
            raise ConfigError(
                f"{self.name} has {len(self.alphabet)} classes and 1 channel; fix data.num_classes/data.channels"
            )
        self._splits: dict[bool, dict[str, torch.Tensor]] = {}

    def _render_args(self, train: bool) -> dict:
        hp = self.hparams
        return {
            **dict(hp.render or {}),
            "samples_per_class": hp.samples_per_class if train else hp.test_samples_per_class,
            "seed": hp.seed if train else hp.seed + 1,
            "image_size": hp.image_size,
        }

    def cache_path(self, train: bool) -> Path:
        """The cache file of a rendered split, named by a digest of what it was rendered with."""
        args = self._render_args(train)
        key = hashlib.sha1(json.dumps(args, sort_keys=True, default=list).encode()).hexdigest()[:12]
        return Path(self.hparams.root).expanduser() / "glyphs" / f"{self.name}-{'train' if train else 'test'}-{key}.pt"

    def _load_or_render(self, train: bool) -> dict[str, torch.Tensor]:
        """The split from memory, else from the disk cache, else rendered (and cached)."""
        if train not in self._splits:
            self._splits[train] = self._read_cache(train) or self._render_to_cache(train)
        return self._splits[train]

    def _read_cache(self, train: bool) -> dict[str, torch.Tensor] | None:
        path = self.cache_path(train)
        if not path.is_file():
            return None
        try:
            return torch.load(path, weights_only=True)
        except Exception as err:  # a half-written or foreign file is simply rendered again
            log.warning("glyphs: cache %s unreadable (%s); rendering again", path, err)
            return None

    def _render_to_cache(self, train: bool) -> dict[str, torch.Tensor]:
        data = render_glyphs(**self._render_args(train), alphabet=self.alphabet)
        save_atomically(data, self.cache_path(train))
        return data

    @override
    def prepare_data(self) -> None:
        for train in (True, False):
            self._load_or_render(train)

    @override
    def load_split(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        data = self._load_or_render(train)
        return data["images"], data["labels"]


class GlyphDigitsDataModule(GlyphsDataModule):
    """Rendered digits 0-9, drawn like the letters: the offline digit source of ``data=arithmetic``."""

    name = "glyph_digits"
    alphabet = DIGITS
