"""Preprocessing (resize, outlier removal, denoise, sharpen) and batched augmentation."""

import math

import pytest
import torch

from condgan.data import MNISTDataModule
from condgan.data.transforms import BatchAugment, median_filter, preprocess, resize, sharpen
from condgan.errors import ConfigError
from condgan.pipelines.train import train
from tests.helpers import write_idx, write_mnist_style


def test_median_filter_removes_salt_noise_and_keeps_flat_regions():
    images = torch.full((2, 1, 12, 12), 100, dtype=torch.uint8)
    images[0, 0, 3, 4] = images[1, 0, 7, 7] = 255
    assert torch.equal(median_filter(images, 3), torch.full_like(images, 100))
    with pytest.raises(ConfigError, match="odd kernel"):
        median_filter(images, 4)


def test_sharpen_overshoots_edges_and_leaves_flat_images_alone():
    flat = torch.full((1, 1, 8, 8), 90, dtype=torch.uint8)
    assert torch.equal(sharpen(flat, 1.0), flat)
    edge = torch.zeros(1, 1, 8, 8, dtype=torch.uint8)
    edge[..., 4:] = 100
    out = sharpen(edge, 1.0)
    assert out[0, 0, 4, 4] > 100 and out[0, 0, 4, 3] == 0 and out[0, 0, 4, 7] == 100


def test_resize_and_outlier_removal_in_preprocess():
    images = torch.full((30, 1, 28, 28), 50, dtype=torch.uint8)
    images += torch.arange(30, dtype=torch.uint8)[:, None, None, None] % 3
    images[5] = 250
    labels = torch.zeros(30, dtype=torch.long)
    out, kept, removed = preprocess(images, labels, 1, 64, {"resize": True, "remove_outliers": 3.0}, train=True)
    assert out.shape == (29, 1, 64, 64) and removed == 1 and len(kept) == 29 and int(out.max()) < 250
    _, _, removed_test = preprocess(images, labels, 1, 28, {"remove_outliers": 3.0}, train=False)
    assert removed_test == 0, "the test split is never filtered"
    assert resize(images, 14).shape == (30, 1, 14, 14)
    with pytest.raises(ConfigError, match="unknown data.preprocess option"):
        preprocess(images, labels, 1, 28, {"blur": 1}, train=True)


def test_crop_padding_shifts_by_whole_pixels_and_fills_black():
    torch.manual_seed(0)
    images = -torch.ones(64, 1, 16, 16)
    images[:, 0, 8, 8] = 1.0
    out = BatchAugment({"crop_padding": 3})(images)
    for image in out:
        ys, xs = torch.nonzero(image[0] > 0.99, as_tuple=True)
        assert len(ys) == 1 and abs(int(ys) - 8) <= 3 and abs(int(xs) - 8) <= 3
        assert torch.allclose(image[image < 0.99], torch.tensor(-1.0), atol=1e-5)
    moved = {(int(y), int(x)) for y, x in (torch.nonzero(img[0] > 0.99)[0] for img in out)}
    assert len(moved) > 10


def test_rotation_flip_and_zoom_change_images_batched():
    torch.manual_seed(0)
    images = -torch.ones(32, 3, 20, 20)
    images[:, :, 2:6, 2:18] = 1.0  # a bar near the top
    rotated = BatchAugment({"rotation": 30.0, "zoom": 0.1, "shear": 5.0, "shift": 0.05})(images)
    assert rotated.shape == images.shape and not torch.allclose(rotated, images)
    assert rotated.min() >= -1 - 1e-5 and rotated.max() <= 1 + 1e-5
    flipped = BatchAugment({"hflip": True})(images[:, :, :, :] * torch.linspace(0, 1, 20))
    n_flipped = sum(not torch.allclose(f, o) for f, o in zip(flipped, images * torch.linspace(0, 1, 20)))
    assert 5 < n_flipped < 27
    same = BatchAugment({"rotation": 0.0, "hflip": False})
    assert not same.active and same(images) is images
    with pytest.raises(ConfigError, match="unknown data.augment option"):
        BatchAugment({"rotate": 30})


def test_datamodule_augments_only_training_batches_and_logs_removed_outliers(tmp_path, caplog):
    written = write_mnist_style(tmp_path, n_train=60, n_test=20, num_classes=10, gzipped=True)
    images = written["train"][0].copy()
    images[0] = 255  # one image far from its class mean
    write_idx(tmp_path / "train-images-idx3-ubyte", images, gzipped=True)
    dm = MNISTDataModule(
        str(tmp_path),
        num_classes=10,
        channels=1,
        image_size=64,
        download=False,
        batch_size=8,
        preprocess={"resize": True, "remove_outliers": 1.5},
        augment={"rotation": 45.0},
    )
    with caplog.at_level("INFO"):
        dm.setup()
    assert dm.train_set.images.shape[1:] == (1, 64, 64) and dm.test_set.images.shape == (20, 1, 64, 64)
    assert dm.removed_outliers == 1 and "removed 1 outliers of 60 training images" in caplog.text
    assert len(dm.train_set) + len(dm.val_set) == 59
    batch = next(iter(dm.val_dataloader()))
    images, _ = dm.on_after_batch_transfer(batch, 0)
    assert torch.equal(images, batch[0].float() / 127.5 - 1), "no trainer running: no augmentation"
    assert math.isclose(float(images.min()), -1.0)


def test_augmented_preprocessed_training_runs(train_config):
    trainer = train(
        train_config(
            "debug=fdr",
            "data.augment.rotation=30",
            "data.augment.crop_padding=2",
            "data.preprocess.denoise=3",
            "data.preprocess.sharpen=0.5",
        )
    )
    assert trainer.state.finished
