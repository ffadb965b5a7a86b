"""Whether drawn characters come out in one piece: the 8-connected pieces of ink in each image.

A rendered letter or digit is one stroke of light ink on a dark background; a generator's stray
pixels and detached blobs are extra pieces. The share of images whose ink is one piece, and the
share of ink outside each image's largest piece, measure those blemishes directly (the real images
of the same split give their floor).
"""

import torch
import torch.nn.functional as F

from condgan.data.base import to_signed_unit
from condgan.errors import CondganError


def unit_intensity(images: torch.Tensor) -> torch.Tensor:
    """uint8 images, or floats in [-1, 1], as floats in [0, 1]."""
    signed = to_signed_unit(images) if images.dtype == torch.uint8 else images.float().clamp(-1, 1)
    return (signed + 1) / 2


def ink_pieces(images: torch.Tensor, threshold: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image of ``[N, 1, H, W]`` (uint8, or floats in [-1, 1]): the number of 8-connected pieces
    of ink (pixels brighter than ``threshold`` of full intensity), and the share of the ink's
    intensity outside its largest piece (0 for an image without ink).

    Each ink pixel starts with its own id; the largest id of every 3x3 neighbourhood spreads through
    the ink until nothing changes, so each piece ends labelled with its largest pixel id.
    """
    if images.dim() != 4 or images.shape[1] != 1:
        raise CondganError(
            f"ink pieces are measured on single-channel drawings [N, 1, H, W], not on images "
            f"of shape {tuple(images.shape)}"
        )
    intensity = unit_intensity(images)
    ink = intensity > threshold
    n, _, h, w = images.shape
    ids = torch.arange(1, h * w + 1, dtype=torch.float32, device=images.device).reshape(1, 1, h, w)
    labels = torch.where(ink, ids, 0.0)
    while True:
        spread = torch.where(ink, F.max_pool2d(labels, 3, stride=1, padding=1), 0.0)
        if torch.equal(spread, labels):
            break
        labels = spread
    pieces = (ink & (labels == ids)).flatten(1).sum(1)
    per_piece = torch.zeros(n, h * w + 1, device=images.device)
    per_piece.scatter_add_(1, labels.flatten(1).long(), torch.where(ink, intensity, 0.0).flatten(1))
    total, largest = per_piece[:, 1:].sum(1), per_piece[:, 1:].amax(1)
    stray = torch.where(total > 0, 1 - largest / total.clamp_min(1e-12), 0.0)
    return pieces, stray


def ink_connectivity(
    real: torch.Tensor, generated: torch.Tensor, threshold: float = 0.3, chunk: int = 2048
) -> dict[str, float]:
    """The share of images whose ink is one piece and the mean share of ink outside the largest
    piece, of the generated images and of the real ones (their floor), in chunks of ``chunk``."""

    def summary(images: torch.Tensor) -> tuple[float, float]:
        pieces, stray = zip(*(ink_pieces(part, threshold) for part in images.split(chunk)))
        return float((torch.cat(pieces) == 1).float().mean()), float(torch.cat(stray).mean())

    one_piece, stray_ink = summary(generated)
    real_one_piece, real_stray_ink = summary(real)
    return {
        "one_piece": one_piece,
        "stray_ink": stray_ink,
        "real_one_piece": real_one_piece,
        "real_stray_ink": real_stray_ink,
    }
