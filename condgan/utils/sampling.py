"""Drawing fixed sets of samples from any model with ``generate``, ``latent`` and ``decode``."""

from itertools import product

import torch


def generate_per_class(
    model, per_class: int, generator: torch.Generator | None = None, batch_size: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` images of every class of ``model``: :func:`generate_counts` of a uniform class mix."""
    return generate_counts(model, torch.full((model.num_classes,), per_class), generator, batch_size)


def generate_counts(
    model, counts: torch.Tensor, generator: torch.Generator | None = None, batch_size: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """``counts[c]`` images of every class ``c`` of ``model`` on the CPU, grouped by class, with
    their int64 label rows (classes ``[N]``; ``[N, 1 + attributes]`` when the model has attributes,
    whose values then cycle along the rows, so each class gets them in turn)."""
    classes = torch.arange(model.num_classes).repeat_interleave(torch.as_tensor(counts, dtype=torch.long))
    labels = model.with_attributes(classes)
    chunks = [model.generate(part, 1, generator=generator).cpu() for part in labels.split(batch_size)]
    return torch.cat(chunks), labels


def grid_samples(
    model,
    per_cell: int,
    generator: torch.Generator | None = None,
    batch_size: int = 500,
    truncation: float | None = None,
) -> tuple[torch.Tensor, int]:
    """Images for a grid with one row per class: ``per_cell`` samples for each combination of the
    model's attribute values side by side (the same noise in every combination, so a row shows e.g.
    thin and thick versions of the same samples), the noise truncated at ``truncation`` when given
    (``model.latent_draws``). Returns the images row by row and the row length. The rows are decoded
    together, ``batch_size`` images per call."""
    combinations = list(product(*(range(size) for size in model.label_sizes[1:])))
    with model.evaluating():
        latent = model.latent_draws(model.num_classes * per_cell, generator, truncation)
        codes, labels = [], []
        for c in range(model.num_classes):
            for combination in combinations:
                codes.append(latent[c * per_cell : (c + 1) * per_cell])
                labels.append(model.check_labels([[c, *combination]] * per_cell if combination else [c] * per_cell))
        pieces = zip(torch.cat(codes).split(batch_size), torch.cat(labels).split(batch_size))
        images = [model.decode(z, y) for z, y in pieces]
    return torch.cat(images), per_cell * len(combinations)
