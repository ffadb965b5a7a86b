"""Metrics of generated images that work on any model through ``generate(labels, n)``: pixel-intensity
divergences, ink pieces of drawings, domain-classifier and InceptionV3 FID / KID, precision / recall,
conditional accuracy."""

from condgan.metrics.classifier import (
    DomainClassifier,
    classifier_for,
    load_or_train_classifier,
)
from condgan.metrics.divergence import (
    intensity_divergences,
    intensity_histogram,
    js_divergence,
    kl_divergence,
)
from condgan.metrics.inception import InceptionFeatures
from condgan.metrics.ink import ink_connectivity, ink_pieces
from condgan.metrics.scores import (
    conditional_accuracy,
    frechet_distance,
    kernel_distance,
    per_class_frechet_distance,
    per_class_kernel_distance,
    precision_recall,
)
from condgan.metrics.suites import domain_metrics, inception_metrics

__all__ = [
    "DomainClassifier",
    "InceptionFeatures",
    "classifier_for",
    "conditional_accuracy",
    "domain_metrics",
    "frechet_distance",
    "inception_metrics",
    "ink_connectivity",
    "ink_pieces",
    "intensity_divergences",
    "intensity_histogram",
    "js_divergence",
    "kernel_distance",
    "kl_divergence",
    "load_or_train_classifier",
    "per_class_frechet_distance",
    "per_class_kernel_distance",
    "precision_recall",
]
