"""Images of the characters of arithmetic queries and answers: digits drawn from a digit dataset's
images of the matching class, ``+`` and ``-`` from a small set of rendered operator images warped
by a fresh random jitter at every draw, and blank cells for padding."""

from collections.abc import Mapping

import torch

from condgan.data.glyphs import render_glyphs
from condgan.nets.affine import random_affine, warp

# every character an image can show, in class order: blank (padding), the digits, the operators
CHARACTERS = " 0123456789+-"
BLANK = 0
OPERATOR_CHARACTERS = "+-"
DIGIT_OFFSET = CHARACTERS.index("0")
OPERATOR_OFFSET = CHARACTERS.index("+")


def grouped_by_class(images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, ...]:
    """``images`` sorted by class, with each class's first position and count, for drawing by class."""
    order = labels.argsort(stable=True)
    counts = torch.bincount(labels, minlength=num_classes)
    starts = torch.cumsum(counts, 0) - counts
    return images[order], starts, counts


class CharacterImages:
    """Draws one image per character of token rows (indices into :data:`CHARACTERS`).

    ``digits``: uint8 ``[N, 1, S, S]`` images with labels 0-9, every digit present; ``operators``:
    uint8 rendered ``+`` / ``-`` images labelled 0 / 1, warped at each draw by a random affine
    ``jitter`` (``rotation``, ``shear`` in degrees, ``scale`` range, ``shift`` as a fraction of the
    image; None: drawn as rendered), so no two draws of a query give the same picture.
    """

    def __init__(
        self,
        digits: tuple[torch.Tensor, torch.Tensor],
        operators: tuple[torch.Tensor, torch.Tensor],
        jitter: Mapping | None,
    ) -> None:
        self.digits = grouped_by_class(*digits, 10)
        self.operators = grouped_by_class(*operators, len(OPERATOR_CHARACTERS))
        self.jitter = dict(jitter) if jitter else None
        self.size = digits[0].shape[-1]

    @staticmethod
    def _pick(group: tuple[torch.Tensor, ...], classes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        images, starts, counts = group
        offsets = (torch.rand(len(classes), generator=generator) * counts[classes]).long()
        return images[starts[classes] + offsets]

    def draw(self, tokens: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """uint8 ``[N, L, 1, S, S]`` images of the int64 character rows ``tokens`` ``[N, L]``."""
        flat = tokens.reshape(-1)
        out = torch.zeros(len(flat), 1, self.size, self.size, dtype=torch.uint8)
        digit = (flat >= DIGIT_OFFSET) & (flat < OPERATOR_OFFSET)
        out[digit] = self._pick(self.digits, flat[digit] - DIGIT_OFFSET, generator)
        operator = flat >= OPERATOR_OFFSET
        if bool(operator.any()):
            chosen = self._pick(self.operators, flat[operator] - OPERATOR_OFFSET, generator)
            out[operator] = chosen if self.jitter is None else self._warp(chosen, generator)
        return out.reshape(*tokens.shape, 1, self.size, self.size)

    def _warp(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """uint8 images warped by a random draw of the jitter each."""
        jitter = self.jitter
        theta = random_affine(
            len(images), generator, jitter["rotation"], tuple(jitter["scale"]), jitter["shear"], jitter["shift"]
        )
        warped = warp(images.float().div(127.5).sub(1), theta)
        return warped.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)


def render_operators(
    per_operator: int, seed: int, image_size: int, render: Mapping
) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_operator`` rendered images each of ``+`` and ``-`` (labels 0, 1) with the glyph
    renderer's stroke widths and jitter (``render``: the settings of
    :func:`~condgan.data.glyphs.render_glyphs`)."""
    data = render_glyphs(per_operator, seed, image_size, alphabet=OPERATOR_CHARACTERS, **dict(render))
    return data["images"], data["labels"]
