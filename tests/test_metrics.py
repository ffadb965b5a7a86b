"""Pixel-intensity KL/JS divergences behave as divergences."""

import math

import torch

from condgan.metrics import intensity_divergences, intensity_histogram, js_divergence, kl_divergence


def test_identical_histograms_have_zero_divergence():
    images = torch.randint(0, 256, (50, 1, 28, 28), dtype=torch.uint8)
    result = intensity_divergences(images, images.clone())
    assert abs(result["kl"]) < 1e-6 and abs(result["js"]) < 1e-6


def test_divergence_grows_as_the_sets_differ_and_js_is_bounded():
    real = torch.randint(0, 256, (200, 1, 28, 28), dtype=torch.uint8)
    close = (real.float() * 0.95).to(torch.uint8)
    far = (real.float() * 0.3).to(torch.uint8)
    near, distant = intensity_divergences(real, close), intensity_divergences(real, far)
    assert 0 < near["kl"] < distant["kl"] and 0 < near["js"] < distant["js"]
    p, q = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert math.isclose(js_divergence(p, q), math.log(2), rel_tol=1e-6)
    assert math.isclose(js_divergence(p, q), js_divergence(q, p))
    assert kl_divergence(p, q) > 10


def test_signed_unit_images_and_uint8_images_give_the_same_histogram():
    pixels = torch.randint(0, 256, (10, 1, 8, 8), dtype=torch.uint8)
    assert torch.allclose(intensity_histogram(pixels), intensity_histogram(pixels.float() / 127.5 - 1), atol=1e-6)
