"""The metric suites reported for a set of generated images, each with the protocol it followed."""

from collections.abc import Mapping

import torch

from condgan.metrics.classifier import DomainClassifier
from condgan.metrics.inception import InceptionFeatures
from condgan.metrics.scores import (
    conditional_accuracy,
    frechet_distance,
    kernel_distance,
    per_class_accuracy,
    per_class_frechet_distance,
    precision_recall,
)


def matched_subset(features: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` rows drawn without replacement (all rows when there are no more than ``n``)."""
    if len(features) <= n:
        return features
    return features[torch.randperm(len(features), generator=torch.Generator().manual_seed(seed))[:n]]


def domain_metrics(
    classifier: DomainClassifier,
    real: tuple[torch.Tensor, torch.Tensor],
    fake: tuple[torch.Tensor, torch.Tensor],
    num_classes: int,
    settings: Mapping,
    reference: str,
) -> dict:
    """Domain FID, KID, per-class FID, precision/recall and conditional accuracy of ``fake``.

    ``real`` and ``fake`` are ``(images, labels)`` with uint8 or [-1, 1] images; ``settings`` holds
    ``kid_subsets``, ``kid_subset_size`` and ``pr_k``; ``reference`` names the real split.
    """
    (real_images, real_labels), (fake_images, fake_labels) = real, fake
    real_features = classifier.features(real_images)
    fake_features, predicted = classifier.classify(fake_images)
    pr_real = matched_subset(real_features, len(fake_features))
    return {
        "fid": frechet_distance(real_features, fake_features),
        "kid": kernel_distance(real_features, fake_features, settings["kid_subsets"], settings["kid_subset_size"]),
        "per_class_fid": per_class_frechet_distance(real_features, real_labels, fake_features, fake_labels, num_classes),
        **precision_recall(pr_real, fake_features, settings["pr_k"]),
        "conditional_accuracy": conditional_accuracy(predicted, fake_labels),
        "per_class_accuracy": per_class_accuracy(predicted, fake_labels, num_classes),
        "protocol": {
            "extractor": f"domain classifier {classifier.info.get('cache_file', '')}".strip(),
            "features": classifier.net.feature_dim,
            "classifier_test_accuracy": classifier.test_accuracy,
            "resize": "none (native resolution)",
            "reference": f"{reference}, {len(real_labels)} images",
            "generated": len(fake_labels),
            "precision_recall_real": len(pr_real),
        },
    }


def inception_metrics(
    extractor: InceptionFeatures, real_images: torch.Tensor, fake_images: torch.Tensor, settings: Mapping, reference: str
) -> dict:
    """InceptionV3 FID and KID of uint8 ``fake_images`` against ``real_images``."""
    real_features = extractor.extract(real_images, settings["batch_size"])
    fake_features = extractor.extract(fake_images, settings["batch_size"])
    return {
        "fid": frechet_distance(real_features, fake_features),
        "kid": kernel_distance(real_features, fake_features, settings["kid_subsets"], settings["kid_subset_size"]),
        "protocol": {
            "extractor": f"InceptionV3 pool3 2048-d ({extractor.backend}: {extractor.source})",
            "resize": "bilinear to 299x299, grayscale repeated to 3 channels",
            "reference": f"{reference}, {len(real_images)} images",
            "generated": len(fake_images),
        },
    }
