"""The metric suites reported for a set of generated images, each with the protocol it followed,
and :data:`REPORT_SUITES`: the suites by the names ``metrics.report`` lists."""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from condgan.data.statistics import class_allocation, class_counts, class_matched_indices
from condgan.errors import CondganError
from condgan.metrics.classifier import DomainClassifier
from condgan.metrics.divergence import intensity_divergences
from condgan.metrics.inception import InceptionFeatures, inception_enabled
from condgan.metrics.ink import ink_connectivity
from condgan.metrics.scores import (
    conditional_accuracy,
    frechet_distance,
    kernel_distance,
    per_class_accuracy,
    per_class_frechet_distance,
    per_class_kernel_distance,
    precision_recall,
)
from condgan.utils.images import to_uint8

log = logging.getLogger(__name__)


def matched_subset(features: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` rows drawn without replacement (all rows when there are no more than ``n``)."""
    if len(features) <= n:
        return features
    return features[torch.randperm(len(features), generator=torch.Generator().manual_seed(seed))[:n]]


def class_mix(real_labels: torch.Tensor, fake_labels: torch.Tensor, num_classes: int, reference: str) -> str:
    """How the generated labels spread over the classes, for a protocol: following the reference's
    class frequencies (:func:`~condgan.data.statistics.class_allocation`), uniform, or neither."""
    counts = class_counts(fake_labels, num_classes)
    if torch.equal(counts, class_allocation(real_labels, num_classes, len(fake_labels))):
        return f"generated labels follow the {reference}'s class frequencies"
    if bool((counts == counts[0]).all()):
        return f"uniform, {int(counts[0])} generated images per class"
    return f"as given, {int(counts.min())} to {int(counts.max())} generated images per class"


def kid_protocol(kid: dict) -> str:
    """The subsets a KID was averaged over, for a protocol."""
    return f"{kid['subsets']} subsets of {kid['subset_size']} images, {kid['subset_size_rule']}"


def per_class_scores(
    real: tuple[torch.Tensor, torch.Tensor],
    fake: tuple[torch.Tensor, torch.Tensor],
    num_classes: int,
    settings: Mapping,
) -> dict:
    """Per-class FID and KID of ``(features, labels)`` pairs, the image counts of each class, and
    whether each FID is reliable: both sides hold at least ``settings["per_class_min_images"]``
    images of the class. Below the feature dimension the covariance is singular and FID's bias,
    which grows as the count falls, swamps the score; KID stays unbiased there. Unreliable classes
    are logged as a warning."""
    (real_features, real_labels), (fake_features, fake_labels) = real, fake
    minimum = settings["per_class_min_images"]
    real_counts, fake_counts = class_counts(real_labels, num_classes), class_counts(fake_labels, num_classes)
    reliable = torch.minimum(real_counts, fake_counts) >= minimum
    if not reliable.all():
        few = torch.nonzero(~reliable).flatten().tolist()
        log.warning(
            "per-class FID of %d of %d classes (%s%s) rests on fewer than %d real or generated images "
            "(metrics.per_class_min_images; features: %d-d): flagged unreliable, read their per-class KID",
            len(few),
            num_classes,
            ", ".join(map(str, few[:10])),
            ", ..." if len(few) > 10 else "",
            minimum,
            real_features.shape[1],
        )
    subsets, subset_size = settings["kid_subsets"], settings["kid_subset_size"]
    return {
        "per_class_fid": per_class_frechet_distance(
            real_features, real_labels, fake_features, fake_labels, num_classes
        ),
        "per_class_fid_reliable": reliable.tolist(),
        "per_class_kid": per_class_kernel_distance(
            real_features, real_labels, fake_features, fake_labels, num_classes, subsets, subset_size
        ),
        "per_class_images": {"reference": real_counts.tolist(), "generated": fake_counts.tolist()},
    }


NO_CLASS_PREDICTIONS = "none: the classifier predicts rotations, not classes (one class: it would be 1 by construction)"


def accuracy_scores(predicted: torch.Tensor | None, labels: torch.Tensor, num_classes: int) -> dict:
    """Conditional accuracy overall and per class, or None for each where the classifier predicts
    no classes (:attr:`~condgan.metrics.classifier.DomainClassifier.predicts_classes`)."""
    if predicted is None:
        return {"conditional_accuracy": None, "per_class_accuracy": [None] * num_classes}
    return {
        "conditional_accuracy": conditional_accuracy(predicted, labels),
        "per_class_accuracy": per_class_accuracy(predicted, labels, num_classes),
    }


def domain_metrics(
    classifier: DomainClassifier,
    real: tuple[torch.Tensor, torch.Tensor],
    fake: tuple[torch.Tensor, torch.Tensor],
    num_classes: int,
    settings: Mapping,
    reference: str,
) -> dict:
    """Domain FID, KID, per-class FID and KID, precision/recall and conditional accuracy (None where
    the classifier predicts no classes) of ``fake``.

    ``real`` and ``fake`` are ``(images, labels)`` with uint8 or [-1, 1] images and class labels;
    ``settings`` holds ``kid_subsets``, ``kid_subset_size``, ``per_class_min_images`` and ``pr_k``;
    ``reference`` names the real split.
    """
    (real_images, real_labels), (fake_images, fake_labels) = real, fake
    real_features = classifier.features(real_images)
    fake_features, predicted = classifier.classify(fake_images)
    pr_real = matched_subset(real_features, len(fake_features))
    kid = kernel_distance(real_features, fake_features, settings["kid_subsets"], settings["kid_subset_size"])
    return {
        "fid": frechet_distance(real_features, fake_features),
        "kid": kid,
        **per_class_scores((real_features, real_labels), (fake_features, fake_labels), num_classes, settings),
        **precision_recall(pr_real, fake_features, settings["pr_k"]),
        **accuracy_scores(predicted, fake_labels, num_classes),
        "protocol": {
            "extractor": f"domain classifier {classifier.info.get('cache_file', '')}".strip(),
            "features": classifier.net.feature_dim,
            "classifier_objective": classifier.info["objective"],
            "classifier_test_accuracy": classifier.test_accuracy,
            **({} if classifier.predicts_classes else {"conditional_accuracy": NO_CLASS_PREDICTIONS}),
            "resize": "none (native resolution)",
            "reference": f"{reference}, {len(real_labels)} images",
            "generated": len(fake_labels),
            "class_mix": class_mix(real_labels, fake_labels, num_classes, reference),
            "kid": kid_protocol(kid),
            "per_class_min_images": settings["per_class_min_images"],
            "precision_recall_real": len(pr_real),
        },
    }


def inception_metrics(
    extractor: InceptionFeatures,
    real: tuple[torch.Tensor, torch.Tensor],
    fake: tuple[torch.Tensor, torch.Tensor],
    num_classes: int,
    settings: Mapping,
    reference: str,
) -> dict:
    """InceptionV3 FID and KID of ``fake`` against ``real``: ``(images, labels)`` with uint8 images
    and class labels (which only the protocol's class mix reads)."""
    (real_images, real_labels), (fake_images, fake_labels) = real, fake
    real_features = extractor.extract(real_images, settings["batch_size"])
    fake_features = extractor.extract(fake_images, settings["batch_size"])
    kid = kernel_distance(real_features, fake_features, settings["kid_subsets"], settings["kid_subset_size"])
    return {
        "fid": frechet_distance(real_features, fake_features),
        "kid": kid,
        "protocol": {
            "extractor": f"InceptionV3 pool3 2048-d ({extractor.backend}: {extractor.source})",
            "resize": "bilinear to 299x299, grayscale repeated to 3 channels",
            "reference": f"{reference}, {len(real_images)} images",
            "generated": len(fake_images),
            "class_mix": class_mix(real_labels, fake_labels, num_classes, reference),
            "kid": kid_protocol(kid),
        },
    }


def ink_metrics(images: tuple[torch.Tensor, torch.Tensor], reference: str, threshold: float) -> dict:
    """Ink pieces (:func:`~condgan.metrics.ink.ink_connectivity`) of ``images = (real, generated)``
    single-channel drawings, the real ones giving the floor; skipped for colour images."""
    real, generated = images
    if generated.shape[1] != 1:
        return {"skipped": f"{generated.shape[1]}-channel images: ink pieces are measured on single-channel drawings"}
    return {
        **ink_connectivity(real, generated, threshold),
        "protocol": {
            "reference": f"{reference}, {len(real)} images",
            "generated": len(generated),
            "ink": f"pixels above {threshold} of full intensity, 8-connected",
        },
    }


@dataclass
class ScoredSamples:
    """What the report's suites read: the real reference split and the generated samples, each
    ``(images, class labels)``, and the settings they follow. ``settings`` is the ``metrics`` config
    group; ``classifier()`` loads (or trains once) the data's domain classifier, for the suites that use it."""

    real: tuple[torch.Tensor, torch.Tensor]
    fake: tuple[torch.Tensor, torch.Tensor]
    num_classes: int
    reference: str
    settings: Mapping
    intensity_bins: int
    ink_threshold: float
    seed: int
    device: torch.device
    classifier: Callable[[], DomainClassifier]


def pixel_intensity_suite(scored: ScoredSamples) -> dict:
    """KL and JS divergences of the pixel-intensity histograms, generated against real."""
    (real_images, real_labels), (fake_images, fake_labels) = scored.real, scored.fake
    return {
        **intensity_divergences(real_images, fake_images, scored.intensity_bins),
        "protocol": {
            "reference": f"{scored.reference}, {len(real_images)} images",
            "generated": len(fake_images),
            "class_mix": class_mix(real_labels, fake_labels, scored.num_classes, scored.reference),
            "bins": scored.intensity_bins,
        },
    }


def ink_suite(scored: ScoredSamples) -> dict:
    """:func:`ink_metrics` of the samples, the real images giving the floor."""
    return ink_metrics((scored.real[0], scored.fake[0]), scored.reference, scored.ink_threshold)


def domain_suite(scored: ScoredSamples) -> dict:
    """:func:`domain_metrics` of the samples, on the data's domain classifier."""
    return domain_metrics(
        scored.classifier(), scored.real, scored.fake, scored.num_classes, scored.settings, scored.reference
    )


def inception_suite(scored: ScoredSamples) -> dict:
    """:func:`inception_metrics` of up to ``metrics.inception.samples`` real and generated images, both
    drawn across the classes in the reference's class mix; skipped (with the reason) where
    ``metrics.inception.enabled`` is off for the device or the weights cannot be had here."""
    inception = scored.settings["inception"]
    if not inception_enabled(inception["enabled"], scored.device):
        return {
            "skipped": f"metrics.inception.enabled={inception['enabled']} on {scored.device.type}; set "
            "metrics.inception.enabled=true to compute it (about 6 images/s on 2 CPU cores)"
        }
    (real_images, real_labels), (fake_images, fake_labels) = scored.real, scored.fake
    k, n = scored.num_classes, inception["samples"]
    real = class_matched_indices(real_labels, real_labels, k, n, torch.Generator().manual_seed(scored.seed))
    fake = class_matched_indices(fake_labels, real_labels, k, n)
    try:
        extractor = InceptionFeatures(inception["weights_path"]).to(scored.device)
        return inception_metrics(
            extractor,
            (real_images[real], real_labels[real]),
            (to_uint8(fake_images[fake]), fake_labels[fake]),
            k,
            {**scored.settings, "batch_size": inception["batch_size"]},
            scored.reference,
        )
    except CondganError as err:
        reason = " ".join(str(err).split())
        log.warning("Inception FID/KID skipped: %s", reason)
        return {"skipped": reason}


# the suites evaluate.py's report can compute, by the names ``metrics.report`` lists (in its order)
REPORT_SUITES: dict[str, Callable[[ScoredSamples], dict]] = {
    "pixel_intensity": pixel_intensity_suite,
    "ink": ink_suite,
    "domain": domain_suite,
    "inception": inception_suite,
}
