"""KL and JS divergence between the pixel-intensity distributions of two image sets (EMNIST report)."""

import torch


def intensity_histogram(images: torch.Tensor, bins: int = 256) -> torch.Tensor:
    """Normalised histogram of uint8 pixel values (or floats in [-1, 1]) over ``bins`` equal bins."""
    values = images.float() if images.dtype == torch.uint8 else (images.float() + 1) * 127.5
    counts = torch.histc(values.flatten().clamp(0, 255), bins=bins, min=0, max=255)
    return counts / counts.sum()


def kl_divergence(p: torch.Tensor, q: torch.Tensor, eps: float = 1e-10) -> float:
    """KL(p || q) in nats; ``eps`` keeps empty bins of ``q`` finite."""
    p, q = p + eps, q + eps
    p, q = p / p.sum(), q / q.sum()
    return float((p * (p / q).log()).sum())


def js_divergence(p: torch.Tensor, q: torch.Tensor) -> float:
    """Jensen-Shannon divergence in nats: symmetric, 0 for equal and at most ln 2 for disjoint histograms."""
    m = 0.5 * (p + q)
    return 0.5 * kl_divergence(p, m) + 0.5 * kl_divergence(q, m)


def intensity_divergences(real: torch.Tensor, generated: torch.Tensor, bins: int = 256) -> dict[str, float]:
    """``{"kl": KL(real || generated), "js": JS(real, generated)}`` of pixel-intensity histograms."""
    p, q = intensity_histogram(real, bins), intensity_histogram(generated, bins)
    return {"kl": kl_divergence(p, q), "js": js_divergence(p, q)}
