"""Metrics of generated images that work on any model through ``generate(labels, n)``."""

from condgan.metrics.divergence import intensity_divergences, intensity_histogram, js_divergence, kl_divergence

__all__ = ["intensity_divergences", "intensity_histogram", "js_divergence", "kl_divergence"]
