"""Drawing fixed numbers of samples per class from any model with ``generate(labels, n)``."""

import torch


def generate_per_class(
    model, per_class: int, generator: torch.Generator | None = None, batch_size: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` images of every class of ``model`` on the CPU, with their int64 labels."""
    labels = torch.arange(model.num_classes).repeat_interleave(per_class)
    chunks = [model.generate(part, 1, generator=generator).cpu() for part in labels.split(batch_size)]
    return torch.cat(chunks), labels
