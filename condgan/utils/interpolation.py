"""Interpolation strips of any model with ``latent(n)`` and ``decode(latent, labels)``."""

import torch


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows ``a`` and ``b`` ``[N, D]`` at fractions ``t`` ``[S]``:
    ``[N, S, D]``. Keeps the norm of Gaussian draws typical, unlike a straight line."""
    a_unit, b_unit = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    omega = torch.acos((a_unit * b_unit).sum(1).clamp(-1 + 1e-7, 1 - 1e-7))[:, None]
    t = t[None, :]
    weight_a = torch.sin((1 - t) * omega) / torch.sin(omega)
    weight_b = torch.sin(t * omega) / torch.sin(omega)
    return weight_a[..., None] * a[:, None] + weight_b[..., None] * b[:, None]


def latent_interpolation(model, labels, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """One row per label (row): the label stays fixed while the latent code moves between two draws.

    Returns ``[len(labels) * steps, C, H, W]`` in [-1, 1], row by row.
    """
    labels = model.check_labels(labels)
    with model.evaluating():
        start, end = model.latent(len(labels), generator), model.latent(len(labels), generator)
        path = slerp(start, end, torch.linspace(0, 1, steps, device=start.device))
        return model.decode(path.flatten(0, 1), labels.repeat_interleave(steps, dim=0))


def label_interpolation(model, pairs, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """One row per ``(from_label, to_label)`` pair of label rows (or classes): the latent code stays
    fixed while the label weights blend linearly from one label's embedding to the other's."""
    pairs = list(pairs)
    sources = model.check_labels([source for source, _ in pairs])
    targets = model.check_labels([target for _, target in pairs])
    with model.evaluating():
        latent = model.latent(len(pairs), generator).repeat_interleave(steps, dim=0)
        t = torch.linspace(0, 1, steps, device=latent.device).repeat(len(pairs))[:, None]
        start = model.label_weights(sources).repeat_interleave(steps, dim=0)
        end = model.label_weights(targets).repeat_interleave(steps, dim=0)
        return model.decode(latent, (1 - t) * start + t * end)
