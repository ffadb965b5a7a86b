"""Scores of generated images computed on features that were extracted once (by the domain
classifier or by InceptionV3): FID and KID through torchmetrics, per-class FID and KID, improved
precision/recall, and conditional accuracy."""

import math
import warnings

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance
from typing_extensions import override


class PrecomputedFeatures(nn.Module):
    """The feature "extractor" handed to torchmetrics when its inputs already are features."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    @override
    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """FID between two feature sets ``[N, D]`` (torchmetrics, float64 statistics); NaN when either
    set has fewer than two rows (no covariance)."""
    if len(real) < 2 or len(fake) < 2:
        return float("nan")
    metric = FrechetInceptionDistance(feature=PrecomputedFeatures(real.shape[1]))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return float(metric.compute())


def kernel_distance(real: torch.Tensor, fake: torch.Tensor, subsets: int = 100, subset_size: int = 1000) -> dict:
    """KID (cubic polynomial kernel MMD, torchmetrics) averaged over random subsets: mean and std.

    The subset size is ``subset_size``, at most half the smaller set, so that the random subsets
    differ (were every subset the whole set, their std would be 0 whatever the data); the output's
    ``subset_size_rule`` says so. Mean and std are NaN when that leaves fewer than 2 images a
    subset. The seed is fixed so repeated calls agree.
    """
    half = min(len(real), len(fake)) // 2
    size = min(subset_size, half)
    result = {
        "subsets": subsets,
        "subset_size": size,
        "subset_size_rule": f"min(requested {subset_size}, half the smaller set {half})",
    }
    if size < 2:
        return {"mean": float("nan"), "std": float("nan"), **result}
    with warnings.catch_warnings():  # torchmetrics warns that KID keeps its features: they are ours already
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = KernelInceptionDistance(feature=PrecomputedFeatures(real.shape[1]), subsets=subsets, subset_size=size)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        mean, std = metric.compute()
    return {"mean": float(mean), "std": float(std), **result}


def per_class_frechet_distance(
    real: torch.Tensor, real_labels: torch.Tensor, fake: torch.Tensor, fake_labels: torch.Tensor, num_classes: int
) -> list[float | None]:
    """One FID per class between the real and generated features of that class (None when a class
    has fewer than two images on either side)."""
    scores: list[float | None] = []
    for c in range(num_classes):
        r, f = real[real_labels == c], fake[fake_labels == c]
        score = frechet_distance(r, f)
        scores.append(None if math.isnan(score) else score)
    return scores


def per_class_kernel_distance(
    real: torch.Tensor,
    real_labels: torch.Tensor,
    fake: torch.Tensor,
    fake_labels: torch.Tensor,
    num_classes: int,
    subsets: int = 100,
    subset_size: int = 1000,
) -> list[float | None]:
    """One KID mean per class between the real and generated features of that class (None when a
    class has fewer than 4 images on either side: no two-image subsets that differ). Unlike FID,
    KID is unbiased in the number of images and needs no covariance, so it holds for small classes."""
    scores: list[float | None] = []
    for c in range(num_classes):
        score = kernel_distance(real[real_labels == c], fake[fake_labels == c], subsets, subset_size)["mean"]
        scores.append(None if math.isnan(score) else score)
    return scores


def _kth_neighbour_radii(features: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Distance of each point to its k-th nearest other point of the same set."""
    radii = [torch.cdist(part, features).kthvalue(k + 1, dim=1).values for part in features.split(chunk)]
    return torch.cat(radii)


def _covered(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int) -> torch.Tensor:
    """Whether each point lies inside the ball of at least one centre."""
    return torch.cat([(torch.cdist(part, centres) <= radii).any(dim=1) for part in points.split(chunk)])


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3, chunk: int = 1024) -> dict:
    """Improved precision and recall (Kynkäänniemi et al., 2019) with k-NN balls in feature space.

    Precision: share of generated points inside the real manifold (fidelity); recall: share of real
    points inside the generated manifold (coverage).
    """
    real, fake = real.double(), fake.double()
    real_radii, fake_radii = _kth_neighbour_radii(real, k, chunk), _kth_neighbour_radii(fake, k, chunk)
    return {
        "precision": float(_covered(fake, real, real_radii, chunk).double().mean()),
        "recall": float(_covered(real, fake, fake_radii, chunk).double().mean()),
        "k": k,
    }


def conditional_accuracy(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of generated images that the domain classifier assigns to the label they were made for."""
    return float((predicted == labels).float().mean())


def per_class_accuracy(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int) -> list[float | None]:
    """Conditional accuracy within each class (None for classes with no images)."""
    return [
        float((predicted[labels == c] == c).float().mean()) if bool((labels == c).any()) else None
        for c in range(num_classes)
    ]
