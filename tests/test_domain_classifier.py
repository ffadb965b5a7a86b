"""The domain classifier learns something on one-class data (rotation prediction) and is trained on,
and scores against, the splits as the dataset stores them, so every experiment on a dataset shares it."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torchvision.transforms.functional import gaussian_blur

from condgan.data import ImageFolderDataModule, MNISTDataModule
from condgan.metrics.classifier import classifier_for
from condgan.metrics.scores import frechet_distance
from condgan.metrics.suites import domain_metrics
from condgan.pipelines.report import reference_split
from tests.conftest import compose_config
from tests.helpers import write_idx, write_mnist_style
from tests.test_experiments import emnist_letters

SMALL = {
    "objective": "auto",
    "widths": [8, 16],
    "feature_dim": 16,
    "pooled_size": 4,
    "dropout": 0.0,
    "epochs": 6,
    "batch_size": 32,
    "lr": 0.003,
    "seed": 0,
}


def write_toy_faces(folder: Path, n: int, size: int = 16, seed: int = 0) -> None:
    """``n`` upright toy faces, one class: a bright disk with two dark eyes above a dark mouth, at a
    random place, size and colour on a dim background."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        pixels = np.empty((size, size, 3), dtype=np.float64)
        pixels[:] = rng.integers(0, 60, 3)
        cy, cx, r = rng.uniform(6.5, 9.5), rng.uniform(6.5, 9.5), rng.uniform(4.5, 6.0)
        pixels[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = rng.integers(170, 256, 3)
        for dx in (-0.4, 0.4):  # eyes
            pixels[(yy - (cy - 0.35 * r)) ** 2 + (xx - (cx + dx * r)) ** 2 <= 1.2] = 20
        pixels[(abs(yy - (cy + 0.45 * r)) <= 0.6) & (abs(xx - cx) <= 0.45 * r)] = 20  # mouth
        Image.fromarray(pixels.astype(np.uint8)).save(folder / f"face_{i:04d}.png")


def blurred(images: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma == 0:
        return images
    k = 2 * math.ceil(3 * sigma) + 1
    return gaussian_blur(images.float(), [k, k], [sigma, sigma]).round().clamp(0, 255).to(torch.uint8)


def noisy(images: torch.Tensor, std: float) -> torch.Tensor:
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(1)) * std
    return (images.float() + noise).round().clamp(0, 255).to(torch.uint8)


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces")
    write_toy_faces(root / "images", 640)
    dm = ImageFolderDataModule(
        str(root / "images"),
        num_classes=1,
        channels=3,
        image_size=16,
        labels="none",
        cache_dir=str(root / "cache"),
        val_fraction=0.25,
        test_fraction=0.25,
    )
    return dm, classifier_for(dm, SMALL, root / "classifiers")


def test_a_one_class_dataset_gets_a_classifier_trained_on_rotations(faces):
    dm, classifier = faces
    assert classifier.objective == "rotation" and "rotation prediction" in classifier.info["objective"]
    assert classifier.test_accuracy > 0.8, "it learned the orientation of held-out faces: not a random net"
    assert classifier.predict(dm.reference_set("test").images) is None
    real, val = dm.reference_set("test"), dm.reference_set("val")
    settings = {"kid_subsets": 5, "kid_subset_size": 50, "pr_k": 3, "per_class_min_images": 16}
    metrics = domain_metrics(classifier, (real.images, real.labels), (val.images, val.labels), 1, settings, "faces")
    assert metrics["conditional_accuracy"] is None and metrics["per_class_accuracy"] == [None]
    assert "rotations, not classes" in metrics["protocol"]["conditional_accuracy"]
    assert metrics["protocol"]["classifier_objective"].startswith("rotation prediction")


@pytest.mark.parametrize("degrade, levels", [(blurred, (0.0, 0.6, 1.2, 2.0)), (noisy, (0.0, 16.0, 32.0, 64.0))])
def test_a_one_class_datasets_domain_fid_rises_monotonically_with_blur_and_noise(faces, degrade, levels):
    dm, classifier = faces
    reference = classifier.features(dm.reference_set("test").images)
    val = dm.reference_set("val").images
    fids = [frechet_distance(reference, classifier.features(degrade(val, level))) for level in levels]
    assert all(a < b for a, b in zip(fids, fids[1:])), fids
    assert fids[-1] > 10 * fids[0], f"the worst degradation stands far above the real-vs-real floor: {fids}"


def test_base_and_best_emnist_experiments_share_one_classifier_fingerprint(tmp_path, data_dir):
    root = tmp_path / "emnist"
    emnist_letters(root)
    cache = tmp_path / "classifiers"
    overrides = [
        f"data.root={root}",
        "data.download=false",
        "metrics.classifier.epochs=1",
        "metrics.classifier.widths=[8,16]",
        "metrics.classifier.feature_dim=16",
    ]
    found = {}
    for experiment in ("emnist_cgan_base", "emnist_cgan_best"):
        cfg = compose_config("train", [f"experiment={experiment}", *overrides], tmp_path / experiment, data_dir)
        dm = instantiate(cfg.data)
        dm.setup("fit")
        settings = OmegaConf.to_container(cfg.metrics.classifier, resolve=True)
        found[experiment] = dm, classifier_for(dm, settings, cache)
    (base, base_classifier), (best, best_classifier) = found.values()
    assert not torch.equal(base.train_set.images, best.train_set.images), "best denoises and sharpens"
    assert base_classifier.info["fingerprint"] == best_classifier.info["fingerprint"]
    assert [p.name for p in cache.iterdir()] == [Path(base_classifier.info["cache_file"]).name]
    for split in ("train", "val", "test"):
        assert torch.equal(base.reference_set(split).images, best.reference_set(split).images), split
    images, _, name = reference_split(best)
    assert torch.equal(images, base.reference_set("test").images) and name == "unpreprocessed emnist test split"


def test_reference_splits_are_unpreprocessed_and_hold_out_what_the_generator_trains_on(tmp_path):
    written = write_mnist_style(tmp_path, n_train=60, n_test=20, num_classes=10, gzipped=True)
    images = np.random.default_rng(0).integers(0, 100, (60, 28, 28), dtype=np.uint8)
    images[0] = 255  # an outlier of its class
    write_idx(tmp_path / "train-images-idx3-ubyte", images, gzipped=True)

    def module(image_size: int, **preprocess) -> MNISTDataModule:
        dm = MNISTDataModule(
            str(tmp_path), num_classes=10, channels=1, image_size=image_size, download=False, preprocess=preprocess
        )
        dm.setup()
        return dm

    cleaned = module(28, remove_outliers=1.5)
    val_idx, train_idx = cleaned.partition(60)
    removed = cleaned.removed_outliers
    assert removed >= 1 and len(cleaned.train_set) + len(cleaned.val_set) == 60 - removed
    assert torch.equal(cleaned.reference_set("val").images[:, 0], torch.from_numpy(images)[val_idx]), "outliers kept"
    assert torch.equal(cleaned.reference_set("train").labels, torch.from_numpy(written["train"][1]).long()[train_idx])
    trained = {bytes(image.numpy()) for image in cleaned.train_set.images}
    assert not trained & {bytes(image.numpy()) for image in cleaned.reference_set("val").images}

    denoised, plain = module(32, resize=True, denoise=3), module(32, resize=True)
    test = denoised.reference_set("test")
    assert test.images.shape == (20, 1, 32, 32) and not torch.equal(denoised.test_set.images, test.images)
    assert torch.equal(test.images, plain.test_set.images) and torch.equal(test.labels, plain.test_set.labels)
    assert plain.reference_set("val").images is plain.val_set.images, "no copy when preprocessing only resizes"
    assert denoised.reference_name("test") == "unpreprocessed mnist test split (resized from 28x28 to 32x32)"


def test_training_or_loading_the_classifier_leaves_the_runs_random_state_alone(tmp_path):
    """A training run that trains the classifier at its first validation and one that finds it
    cached must draw the same noise afterwards (and an exact resume must match either)."""
    from condgan.metrics.classifier import load_or_train_classifier

    generator = torch.Generator().manual_seed(1)
    train = (torch.randint(0, 256, (96, 1, 16, 16), dtype=torch.uint8, generator=generator), torch.arange(96) % 3)
    test = (train[0][:24], train[1][:24])
    settings = {**SMALL, "dropout": 0.5, "epochs": 1}
    states, nets = [], []
    for _ in range(2):  # trained, then loaded from the cache
        torch.manual_seed(123)
        nets.append(load_or_train_classifier("toy", train, test, 3, settings, tmp_path).net.state_dict())
        states.append(torch.get_rng_state())
    torch.manual_seed(123)
    assert all(torch.equal(state, torch.get_rng_state()) for state in states)
    retrained = load_or_train_classifier("toy", train, test, 3, settings, tmp_path / "elsewhere").net.state_dict()
    assert all(torch.equal(retrained[k], nets[0][k]) for k in nets[0]), "seeded: dropout included"
