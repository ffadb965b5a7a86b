"""Metrics behave as their definitions say: divergences, FID/KID, precision/recall, the domain
classifier and its cache, conditional accuracy, and the InceptionV3 feature extractor."""

import math

import pytest
import torch
from torch import nn

from condgan.errors import CondganError, InceptionUnavailableError
from condgan.metrics import (
    InceptionFeatures,
    conditional_accuracy,
    domain_metrics,
    frechet_distance,
    inception_metrics,
    ink_connectivity,
    ink_pieces,
    intensity_divergences,
    intensity_histogram,
    js_divergence,
    kernel_distance,
    kl_divergence,
    load_or_train_classifier,
    per_class_frechet_distance,
    precision_recall,
)
from condgan.metrics.scores import per_class_accuracy, per_class_kernel_distance
from condgan.metrics.suites import ScoredSamples, class_mix, inception_suite, ink_metrics, per_class_scores


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


# --- feature-space scores -------------------------------------------------------------------------

CLASSIFIER = dict(widths=[8, 16], feature_dim=16, pooled_size=4, dropout=0.0, epochs=6, batch_size=32, lr=3e-3, seed=0)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_the_shift():
    features = torch.randn(400, 8, generator=torch.Generator().manual_seed(0))
    assert abs(frechet_distance(features, features.clone())) < 1e-3
    scores = [frechet_distance(features, features + shift) for shift in (0.25, 0.5, 1.0)]
    assert scores == sorted(scores) and scores[0] > 0.25 * 8 * 0.25**2
    # FID of a pure mean shift is the squared distance of the means
    assert math.isclose(scores[2], 8.0, rel_tol=1e-3)


def test_kid_is_near_zero_for_the_same_distribution_and_larger_for_a_different_one():
    g = torch.Generator().manual_seed(1)
    real, same, other = (
        torch.randn(300, 8, generator=g),
        torch.randn(300, 8, generator=g),
        torch.randn(300, 8, generator=g) + 1,
    )
    near, far = (
        kernel_distance(real, same, subsets=20, subset_size=100),
        kernel_distance(real, other, subsets=20, subset_size=100),
    )
    assert abs(near["mean"]) < far["mean"] / 10 and far["subset_size"] == 100


def test_kid_subsets_are_at_most_half_the_smaller_set_so_its_std_means_something():
    g = torch.Generator().manual_seed(4)
    real, fake = torch.randn(50, 8, generator=g), torch.randn(300, 8, generator=g) + 0.5
    kid = kernel_distance(real, fake, subsets=20, subset_size=1000)
    assert kid["subset_size"] == 25 and "half the smaller set 25" in kid["subset_size_rule"]
    assert kid["std"] > 0, "the subsets differ"
    assert math.isnan(kernel_distance(real[:3], fake, subsets=5)["mean"]), "no two-image subsets that differ"


def test_per_class_fid_returns_one_value_per_class_and_finds_the_bad_class():
    g = torch.Generator().manual_seed(2)
    labels = torch.arange(4).repeat_interleave(100)
    real = torch.randn(400, 6, generator=g) + labels[:, None].float()
    fake = real + torch.randn(400, 6, generator=g) * 0.05
    fake[labels == 2] += 3.0
    scores = per_class_frechet_distance(real, labels, fake, labels, num_classes=5)
    assert len(scores) == 5 and scores[4] is None
    assert max(range(4), key=lambda c: scores[c]) == 2 and scores[0] < 1 < scores[2]
    kids = per_class_kernel_distance(real, labels, fake, labels, 5, subsets=10, subset_size=1000)
    assert len(kids) == 5 and kids[4] is None and max(range(4), key=lambda c: kids[c]) == 2


def test_small_classes_get_their_fid_flagged_unreliable_a_warning_and_a_kid(caplog):
    g = torch.Generator().manual_seed(5)
    real_labels = torch.tensor([0] * 400 + [1] * 400 + [2] * 12)
    fake_labels = torch.tensor([0] * 100 + [1] * 30 + [2] * 10)
    real = torch.randn(len(real_labels), 16, generator=g) + real_labels[:, None].float()
    fake = torch.randn(len(fake_labels), 16, generator=g) + fake_labels[:, None].float()
    settings = {"per_class_min_images": 16, "kid_subsets": 10, "kid_subset_size": 1000}
    with caplog.at_level("WARNING"):
        scores = per_class_scores((real, real_labels), (fake, fake_labels), 4, settings)
    assert scores["per_class_fid_reliable"] == [True, True, False, False]
    assert all(kid is not None for kid in scores["per_class_kid"][:3]) and scores["per_class_kid"][3] is None
    assert scores["per_class_images"] == {"reference": [400, 400, 12, 0], "generated": [100, 30, 10, 0]}
    assert "2 of 4 classes (2, 3)" in caplog.text and "fewer than 16" in caplog.text


def test_precision_and_recall_of_identical_overlapping_and_disjoint_sets():
    g = torch.Generator().manual_seed(3)
    real = torch.randn(300, 4, generator=g)
    same = precision_recall(real, real.clone(), k=3)
    assert same["precision"] == 1.0 and same["recall"] == 1.0
    far = precision_recall(real, real + 100, k=3)
    assert far["precision"] == 0.0 and far["recall"] == 0.0
    # a generator that covers only half of the data: precise but with low recall
    half = real[real[:, 0] > 0]
    partial = precision_recall(real, half, k=3)
    assert partial["precision"] > 0.9 and partial["recall"] < 0.75


def noisy_patterns(n: int, num_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Easy labelled 28x28 images (a bright 6x6 block whose place on a 4x4 grid is the label) with noise."""
    labels = torch.arange(n) % num_classes
    images = torch.zeros(n, 1, 28, 28)
    for i, label in enumerate(labels.tolist()):
        row, col = divmod(label, 4)
        images[i, 0, 7 * row : 7 * row + 6, 7 * col : 7 * col + 6] = 190
    noise = torch.rand(images.shape, generator=torch.Generator().manual_seed(seed)) * 60
    return (images + noise).to(torch.uint8), labels


@pytest.fixture(scope="module")
def pattern_classifier(tmp_path_factory):
    train, test = noisy_patterns(600, 10, seed=0), noisy_patterns(200, 10, seed=1)
    cache = tmp_path_factory.mktemp("classifiers")
    return load_or_train_classifier("patterns", train, test, 10, CLASSIFIER, cache), train, test, cache


def test_conditional_accuracy_is_one_on_real_images_and_chance_on_shuffled_labels(pattern_classifier):
    classifier, _, (images, labels), _ = pattern_classifier
    assert classifier.test_accuracy > 0.97
    predicted = classifier.predict(images)
    assert conditional_accuracy(predicted, labels) > 0.97
    shuffled = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]
    assert abs(conditional_accuracy(predicted, shuffled) - 0.1) < 0.06
    assert per_class_accuracy(predicted, labels, 11)[10] is None


def test_the_classifier_is_cached_and_retrained_when_the_data_changes(pattern_classifier, caplog):
    classifier, train, test, cache = pattern_classifier
    files = sorted(cache.iterdir())
    assert [f.name for f in files] == [f"patterns-{classifier.info['fingerprint'][:16]}.pt"]
    stamp = files[0].stat().st_mtime_ns
    again = load_or_train_classifier("patterns", train, test, 10, CLASSIFIER, cache)
    assert files[0].stat().st_mtime_ns == stamp and again.info == classifier.info
    for p, q in zip(again.net.parameters(), classifier.net.parameters()):
        assert torch.equal(p, q)
    changed = (train[0].clone(), train[1])
    changed[0][0, 0, 5, 5] ^= 1
    retrained = load_or_train_classifier("patterns", changed, test, 10, CLASSIFIER, cache)
    assert retrained.info["fingerprint"] != classifier.info["fingerprint"] and len(list(cache.iterdir())) == 2
    files[0].write_bytes(b"not a checkpoint")
    assert (
        load_or_train_classifier("patterns", train, test, 10, CLASSIFIER, cache).test_accuracy
        == classifier.test_accuracy
    )


def test_domain_metrics_record_their_protocol_and_rank_a_broken_generator_worse(pattern_classifier):
    classifier, _, real, _ = pattern_classifier
    good = noisy_patterns(200, 10, seed=5)
    broken = (good[0].flip(3), good[1])  # mirrored bars: wrong class evidence
    settings = {"kid_subsets": 10, "kid_subset_size": 100, "pr_k": 3, "per_class_min_images": 16}
    ok = domain_metrics(classifier, real, good, 10, settings, "patterns test split")
    bad = domain_metrics(classifier, real, broken, 10, settings, "patterns test split")
    assert ok["fid"] < bad["fid"] and ok["conditional_accuracy"] > bad["conditional_accuracy"]
    assert len(ok["per_class_fid"]) == len(ok["per_class_kid"]) == 10 and ok["protocol"]["generated"] == 200
    assert ok["protocol"]["reference"] == "patterns test split, 200 images"
    assert ok["protocol"]["classifier_test_accuracy"] == classifier.test_accuracy
    assert ok["protocol"]["class_mix"] == "generated labels follow the patterns test split's class frequencies"
    assert ok["protocol"]["kid"].startswith("10 subsets of 100 images") and ok["protocol"]["per_class_min_images"] == 16


def test_the_protocol_names_the_class_mix_of_the_generated_labels():
    imbalanced = torch.tensor([0] * 70 + [1] * 20 + [2] * 10)
    assert class_mix(imbalanced, torch.tensor([0] * 7 + [1] * 2 + [2]), 3, "x split") == (
        "generated labels follow the x split's class frequencies"
    )
    assert class_mix(imbalanced, torch.arange(3).repeat(4), 3, "x split") == "uniform, 4 generated images per class"
    assert (
        class_mix(imbalanced, torch.tensor([0, 0, 1, 2, 2, 2]), 3, "x") == "as given, 1 to 3 generated images per class"
    )


# --- InceptionV3 ---------------------------------------------------------------------------------


def test_missing_inception_weights_offline_give_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for proxy in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(proxy, "http://127.0.0.1:9")  # nothing listens there: no network
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with pytest.raises(InceptionUnavailableError) as err:
        InceptionFeatures(None, download_timeout=5)
    message = str(err.value)
    assert "\n" not in message and "weights_path" in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in message
    with pytest.raises(InceptionUnavailableError, match="does not exist"):
        InceptionFeatures(str(tmp_path / "missing.pth"))


class TinyInception(nn.Module):
    """Stands in for a TorchScript InceptionV3: 299x299x3 inputs in [-1, 1] to 2048 features."""

    def __init__(self):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(8)
        self.proj = nn.Linear(3 * 64, 2048)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1:] == (3, 299, 299)
        return self.proj(self.pool(x).flatten(1))


@pytest.mark.slow
def test_a_torchscript_inception_file_is_used_for_fid_and_kid(tmp_path):
    path = tmp_path / "inception.pt"
    torch.jit.script(TinyInception()).save(str(path))
    extractor = InceptionFeatures(str(path))
    assert extractor.backend == "torchscript"
    real, labels = noisy_patterns(40, 10, seed=0)
    features = extractor.extract(real, batch_size=16)
    assert features.shape == (40, 2048)
    settings = {"kid_subsets": 5, "kid_subset_size": 20, "batch_size": 16}
    same = inception_metrics(extractor, (real, labels), (real.clone(), labels), 10, settings, "x")
    shifted = inception_metrics(extractor, (real, labels), (real // 2, labels), 10, settings, "x")
    assert abs(same["fid"]) < 1e-2 < shifted["fid"]
    assert "torchscript" in same["protocol"]["extractor"] and same["protocol"]["generated"] == 40
    assert same["protocol"]["class_mix"] == "generated labels follow the x's class frequencies"


def inception_suite_of(real, generated, labels, enabled, weights_path) -> dict:
    """The report's Inception suite of ``generated`` against ``real`` (both of ``labels``) on the CPU."""

    def no_classifier():
        raise AssertionError("the Inception suite never needs the domain classifier")

    inception = {"enabled": enabled, "weights_path": weights_path, "samples": 20, "batch_size": 8}
    settings = {"inception": inception, "kid_subsets": 3, "kid_subset_size": 5}
    scored = ScoredSamples(
        (real, labels), (generated, labels), 10, "x", settings, 8, 0.3, 0, torch.device("cpu"), no_classifier
    )
    return inception_suite(scored)


def test_the_inception_suite_says_why_it_was_skipped(tmp_path, caplog):
    real, labels = noisy_patterns(40, 10, seed=0)
    assert inception_suite_of(real, real, labels, "auto", None) == {
        "skipped": "metrics.inception.enabled=auto on cpu; set metrics.inception.enabled=true to compute it "
        "(about 6 images/s on 2 CPU cores)"
    }
    missing = inception_suite_of(real, real, labels, True, str(tmp_path / "missing.pth"))
    assert "does not exist" in missing["skipped"] and "Inception FID/KID skipped: " in caplog.text


@pytest.mark.slow
def test_the_inception_suite_scores_class_matched_subsets(tmp_path):
    real, labels = noisy_patterns(40, 10, seed=0)
    generated = real.float() / 127.5 - 1
    path = tmp_path / "inception.pt"
    torch.jit.script(TinyInception()).save(str(path))
    scored = inception_suite_of(real, generated, labels, True, str(path))
    assert scored["protocol"]["generated"] == 20 and scored["protocol"]["reference"] == "x, 20 images"
    inverted = inception_suite_of(real, -generated, labels, True, str(path))
    assert 0 <= scored["fid"] < inverted["fid"], "inverted images score worse"


def drawing(*strokes: tuple[slice, slice], value: float = 1.0, size: int = 12) -> torch.Tensor:
    """A [1, 1, size, size] image in [-1, 1]: dark, with ``value`` at each (rows, columns) stroke."""
    image = -torch.ones(1, 1, size, size)
    for rows, columns in strokes:
        image[0, 0, rows, columns] = value
    return image


def test_ink_pieces_count_8_connected_strokes_and_the_ink_outside_the_largest():
    u_shape = drawing((slice(2, 10), 2), (slice(2, 10), 8), (9, slice(2, 9)))  # joined only at the bottom
    diagonal = drawing(*[(i, i) for i in range(1, 11)])  # corner to corner: 8-connected
    letter_and_speck = drawing((slice(2, 10), 3), (slice(2, 10), 4), (1, 10))
    pieces, stray = ink_pieces(torch.cat([u_shape, diagonal, letter_and_speck, drawing()]))
    assert pieces.tolist() == [1, 1, 2, 0]
    assert stray[:2].tolist() == [0.0, 0.0] and stray[3] == 0.0, "one piece, or no ink: nothing outside"
    assert stray[2] == pytest.approx(1 / 17), "the speck's one pixel of the 17 inked"


def test_ink_below_the_threshold_is_background_and_uint8_reads_the_same():
    faint_speck = drawing((slice(2, 10), 3), (1, 10))
    faint_speck[0, 0, 1, 10] = -0.6  # 0.2 of full intensity
    assert ink_pieces(faint_speck, threshold=0.3)[0].tolist() == [1]
    assert ink_pieces(faint_speck, threshold=0.1)[0].tolist() == [2]
    as_uint8 = ((faint_speck + 1) * 127.5).round().to(torch.uint8)
    assert ink_pieces(as_uint8, threshold=0.1)[0].tolist() == [2]


def test_rendered_capitals_are_one_piece_and_a_stray_pixel_breaks_that():
    from condgan.data.glyphs import render_glyphs

    real = render_glyphs(samples_per_class=2, seed=0, lowercase_prob=0.0)["images"]
    assert ink_connectivity(real, real)["real_one_piece"] == 1.0
    specked = real.clone()
    specked[::2, 0, 0, 0] = 255  # a corner pixel in every other image, away from the letter
    scores = ink_connectivity(real, specked)
    assert scores["one_piece"] == pytest.approx(0.5) and scores["stray_ink"] > 0 == scores["real_stray_ink"]


def test_ink_pieces_refuse_colour_images():
    with pytest.raises(CondganError, match="single-channel drawings"):
        ink_pieces(torch.zeros(2, 3, 8, 8))


def test_reports_skip_ink_pieces_of_colour_images_and_score_single_channel_ones():
    colour = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    assert ink_metrics((colour, colour), "test split", 0.3) == {
        "skipped": "3-channel images: ink pieces are measured on single-channel drawings"
    }
    strokes = torch.cat([drawing((slice(2, 10), 3)), drawing((slice(2, 10), 3), (1, 10))])
    scores = ink_metrics((strokes[:1], strokes), "test split", 0.3)
    assert scores["one_piece"] == 0.5 and scores["real_one_piece"] == 1.0
    assert scores["protocol"]["reference"] == "test split, 1 images"
