"""Per-class statistics of an image set (the EMNIST report's EDA), and outliers by distance from
the class mean: shared by ``evaluate.py task=eda`` and outlier removal; and the class mixes of the
images that metrics compare (:func:`class_allocation`); the class column of label rows."""

import torch


def class_column(labels: torch.Tensor) -> torch.Tensor:
    """The class of each label row (``labels`` itself when it holds classes only): label rows are
    ``[N, 1 + attributes]`` with the class first."""
    return labels[:, 0] if labels.dim() == 2 else labels


def per_class_indices(
    labels: torch.Tensor, num_classes: int, n: int | torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Indices of up to ``n`` images of each class (``n[c]`` of class ``c`` when ``n`` is a tensor of
    counts), grouped by class: the first ones, or random ones drawn with ``generator``."""
    order = torch.arange(len(labels)) if generator is None else torch.randperm(len(labels), generator=generator)
    ordered = labels[order]
    wanted = torch.as_tensor(n).expand(num_classes).tolist()
    return torch.cat([order[ordered == c][: wanted[c]] for c in range(num_classes)])


def class_allocation(labels: torch.Tensor, num_classes: int, total: int) -> torch.Tensor:
    """How many of ``total`` images each class gets so that their class mix follows the class
    frequencies of ``labels``: largest-remainder rounding of the proportional shares, then every
    class that ``labels`` holds raised to at least one image (taken from the largest shares) while
    ``total`` allows, so per-class scores exist for it. All zeros when ``labels`` is empty."""
    counts = class_counts(labels, num_classes)
    if counts.sum() == 0:
        return torch.zeros(num_classes, dtype=torch.long)
    quotas = counts.double() * total / counts.sum()
    shares = quotas.floor().long()
    by_remainder = torch.argsort(quotas - shares, descending=True, stable=True)
    shares[by_remainder[: total - int(shares.sum())]] += 1
    for c in torch.nonzero((counts > 0) & (shares == 0)).flatten().tolist():
        if shares.max() <= 1:
            break
        shares[shares.argmax()] -= 1
        shares[c] = 1
    return shares


def class_matched_indices(
    labels: torch.Tensor, reference: torch.Tensor, num_classes: int, n: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Indices of up to ``n`` of ``labels``, grouped by class, whose class mix follows the class
    frequencies of ``reference`` (:func:`class_allocation`); fewer where a class runs short."""
    return per_class_indices(labels, num_classes, class_allocation(reference, num_classes, n), generator)


def class_counts(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Number of images of each class."""
    return torch.bincount(labels, minlength=num_classes)


def mean_intensity_per_class(images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Average pixel value (0..255) of each class's images (NaN for empty classes)."""
    per_image = images.flatten(1).float().mean(1)
    totals = torch.zeros(num_classes).index_add_(0, labels, per_image)
    return totals / class_counts(labels, num_classes).float()


def class_mean_distances(images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Root-mean-square pixel distance (0..255 scale) of each image from the mean image of its class."""
    pixels = images.flatten(1).float()
    sums = torch.zeros(num_classes, pixels.shape[1]).index_add_(0, labels, pixels)
    means = sums / class_counts(labels, num_classes).clamp(min=1)[:, None].float()
    return (pixels - means[labels]).pow(2).mean(1).sqrt()


def outlier_thresholds(distances: torch.Tensor, labels: torch.Tensor, num_classes: int, num_std: float) -> torch.Tensor:
    """Per class: mean + ``num_std`` standard deviations of its images' distances."""
    thresholds = torch.full((num_classes,), float("inf"))
    for c in range(num_classes):
        d = distances[labels == c]
        if len(d) > 1:
            thresholds[c] = d.mean() + num_std * d.std()
    return thresholds


def distance_outliers(images: torch.Tensor, labels: torch.Tensor, num_classes: int, num_std: float) -> torch.Tensor:
    """Boolean mask of images farther from their class mean than their class's threshold."""
    distances = class_mean_distances(images, labels, num_classes)
    return distances > outlier_thresholds(distances, labels, num_classes, num_std)[labels]
