"""Per-image attributes derived from pixels, such as the thick/thin style of the Kuzushiji report."""

import torch


def thickness_style(images: torch.Tensor, labels: torch.Tensor, threshold: int = 0) -> torch.Tensor:
    """1 (thick) where an image's foreground pixel count exceeds its class median, else 0 (thin).

    Foreground pixels are those above ``threshold``; ``images`` is uint8 ``[N, C, H, W]``.
    """
    counts = (images > threshold).flatten(1).sum(1)
    style = torch.zeros_like(labels)
    for label in labels.unique():
        members = labels == label
        style[members] = (counts[members] > counts[members].median()).long()
    return style
