"""DataModules read the real on-disk formats, orient and label images right, and fail clearly."""

import gzip
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from condgan.data import (
    EMNISTDataModule,
    FashionMNISTDataModule,
    GlyphsDataModule,
    KMNISTDataModule,
    Kuzushiji49DataModule,
    MNISTDataModule,
)
from condgan.data.attributes import thickness_style
from condgan.data.glyphs import render_glyphs
from condgan.data.idx import read_idx
from condgan.errors import ConfigError, CorruptDatasetError, DatasetNotFoundError, LabelRangeError
from tests.helpers import idx_bytes, write_idx, write_k49, write_mnist_style

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def idx_module(cls, root, **kwargs):
    args = {"num_classes": 10, "channels": 1, "image_size": 28, "batch_size": 8, "download": False}
    return cls(str(root), **{**args, **kwargs})


@pytest.mark.parametrize("gzipped", [True, False])
def test_read_idx_round_trip(tmp_path, gzipped):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / "x-idx3-ubyte", array, gzipped)
    np.testing.assert_array_equal(read_idx(path), array)


def test_read_idx_rejects_corrupt_files(tmp_path):
    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(gzip.compress(idx_bytes(np.zeros((4, 28, 28), np.uint8)))[:-20])
    with pytest.raises(CorruptDatasetError, match="delete it and download it again"):
        read_idx(truncated)
    short = tmp_path / "short"
    short.write_bytes(idx_bytes(np.zeros((4, 28, 28), np.uint8))[:-5])
    with pytest.raises(CorruptDatasetError, match="truncated or corrupt"):
        read_idx(short)
    foreign = tmp_path / "foreign"
    foreign.write_bytes(b"PK\x03\x04 not an idx file")
    with pytest.raises(CorruptDatasetError, match="bad magic number"):
        read_idx(foreign)


def test_fashion_mnist_reads_a_flat_folder_of_gz_files(tmp_path):
    written = write_mnist_style(tmp_path, n_train=50, n_test=20, num_classes=10, gzipped=True)
    dm = idx_module(FashionMNISTDataModule, tmp_path, val_fraction=0.2)
    dm.prepare_data()
    dm.setup()
    assert len(dm.train_set) == 40 and len(dm.val_set) == 10 and len(dm.test_set) == 20
    test_images, test_labels = written["test"]
    np.testing.assert_array_equal(dm.test_set.images[:, 0].numpy(), test_images)
    np.testing.assert_array_equal(dm.test_set.labels.numpy(), test_labels)
    train_pairs = {(img.numpy().tobytes(), int(lbl)) for img, lbl in zip(dm.train_set.images, dm.train_set.labels)}
    all_pairs = {(img.tobytes(), int(lbl)) for img, lbl in zip(*written["train"])}
    assert train_pairs <= all_pairs


def test_mnist_torchvision_layout_matches_torchvision(tmp_path):
    """Files in torchvision's raw layout are read exactly as torchvision itself reads them."""
    write_mnist_style(tmp_path / "MNIST" / "raw", n_train=30, n_test=10, num_classes=10, gzipped=False)
    reference = torchvision.datasets.MNIST(str(tmp_path), train=False, download=False)
    dm = idx_module(MNISTDataModule, tmp_path)
    dm.prepare_data()
    dm.setup("test")
    assert torch.equal(dm.test_set.images[:, 0], reference.data)
    assert torch.equal(dm.test_set.labels, reference.targets)


def test_emnist_letters_are_upright_and_labelled_from_zero(tmp_path):
    """EMNIST stores images transposed and letters as 1..26; condgan yields upright 0..25, 'z' kept."""
    raw = tmp_path / "EMNIST" / "raw"
    written = write_mnist_style(raw, 52, 26, num_classes=26, gzipped=False, prefix="emnist-letters-", label_offset=1)
    for split in ("train", "test"):  # store them the way EMNIST does: transposed
        images, _ = written[split]
        tag = "train" if split == "train" else "test"
        write_idx(raw / f"emnist-letters-{tag}-images-idx3-ubyte", images.transpose(0, 2, 1).copy(), gzipped=False)
    reference = torchvision.datasets.EMNIST(str(tmp_path), split="letters", train=False, download=False)
    assert int(reference.targets.min()) == 1 and int(reference.targets.max()) == 26

    dm = idx_module(EMNISTDataModule, tmp_path, num_classes=26, split="letters")
    dm.prepare_data()
    dm.setup("test")
    images, labels = dm.test_set.images[:, 0], dm.test_set.labels
    assert torch.equal(labels, reference.targets - 1)
    assert int(labels.min()) == 0 and int(labels.max()) == 25
    assert torch.equal(images, reference.data.transpose(1, 2))
    expected_images, expected_labels = written["test"]
    np.testing.assert_array_equal(images.numpy(), expected_images)
    np.testing.assert_array_equal(labels.numpy(), expected_labels)
    # upright: the label bar runs along the top rows, not down the left columns
    assert images[:, 1, 1].eq(255).all() and images[:, 10, 1].eq(0).all()


def test_missing_files_offline_give_one_line_advice(tmp_path):
    dm = idx_module(FashionMNISTDataModule, tmp_path / "empty")
    with pytest.raises(DatasetNotFoundError) as err:
        dm.prepare_data()
    message = str(err.value)
    assert "\n" not in message
    assert "train-images-idx3-ubyte[.gz]" in message and "train-labels-idx1-ubyte[.gz]" in message
    assert "data.root" in message and "data.download=true" in message


def test_a_failed_download_says_why_and_does_not_advise_the_setting_already_on(tmp_path, monkeypatch):
    def unreachable(self, train):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(FashionMNISTDataModule, "download_split", unreachable)
    with pytest.raises(DatasetNotFoundError) as err:
        idx_module(FashionMNISTDataModule, tmp_path / "empty", download=True).prepare_data()
    message = str(err.value)
    assert "download failed: URLError: <urlopen error Name or service not known>" in message
    assert "run again where the download can reach the internet" in message and "data.download=true" not in message


def test_labels_outside_num_classes_are_rejected(tmp_path):
    write_mnist_style(tmp_path, n_train=30, n_test=10, num_classes=12, gzipped=True)
    dm = idx_module(MNISTDataModule, tmp_path)
    with pytest.raises(LabelRangeError, match=r"labels span 0\.\.11 but data.num_classes=10"):
        dm.setup()


def test_config_mismatches_are_rejected(tmp_path):
    write_mnist_style(tmp_path, n_train=30, n_test=10, num_classes=10, gzipped=True)
    with pytest.raises(ConfigError, match="image_size"):
        idx_module(MNISTDataModule, tmp_path, image_size=32).setup()
    with pytest.raises(ConfigError, match="class_names"):
        idx_module(MNISTDataModule, tmp_path, class_names=["a", "b"])


def test_batches_are_uint8_on_the_loader_and_signed_unit_after_transfer(tmp_path):
    write_mnist_style(tmp_path, n_train=40, n_test=10, num_classes=10, gzipped=True)
    dm = idx_module(MNISTDataModule, tmp_path, val_fraction=0.0)
    dm.setup()
    batches = list(dm.train_dataloader())
    assert len(batches) == 5
    images, labels = batches[0]
    assert images.dtype == torch.uint8 and images.shape == (8, 1, 28, 28) and labels.dtype == torch.long
    scaled, _ = dm.on_after_batch_transfer((images, labels), 0)
    assert scaled.dtype == torch.float32 and scaled.min() == -1.0 and scaled.max() == 1.0
    seen = torch.cat([b[1] for b in batches])
    assert torch.equal(seen.sort().values, dm.train_set.labels.sort().values)


def test_glyphs_are_deterministic_and_balanced():
    a, b = render_glyphs(5, seed=3), render_glyphs(5, seed=3)
    assert torch.equal(a["images"], b["images"]) and torch.equal(a["labels"], b["labels"])
    assert not torch.equal(a["images"], render_glyphs(5, seed=4)["images"])
    assert a["images"].shape == (130, 1, 28, 28) and a["images"].dtype == torch.uint8
    assert torch.equal(a["labels"].bincount(), torch.full((26,), 5))
    # every image shows a glyph, none fills the frame
    ink = (a["images"] > 127).flatten(1).float().mean(1)
    assert ink.min() > 0.02 and ink.max() < 0.6


def test_glyph_style_splits_each_class_into_thick_and_thin(tmp_path):
    args = dict(num_classes=26, channels=1, image_size=28, samples_per_class=40, test_samples_per_class=4)
    dm = GlyphsDataModule(str(tmp_path), **args, attributes={"style": 2}, val_fraction=0.0)
    dm.setup("fit")
    images, rows = dm.train_set.images, dm.train_set.labels
    assert rows.shape == (26 * 40, 2)
    labels, style = rows[:, 0], rows[:, 1]
    assert torch.equal(style, thickness_style(images, labels, threshold=127))
    ink = (images > 127).flatten(1).sum(1).float()
    for label in range(26):
        members = labels == label
        thick, thin = ink[members & (style == 1)], ink[members & (style == 0)]
        assert len(thick) > 5 and len(thin) > 5
        assert thick.mean() > thin.mean() * 1.15
    with pytest.raises(ConfigError, match="no attribute 'smile'"):
        GlyphsDataModule(str(tmp_path), **args, attributes={"smile": 2}).setup("test")
    with pytest.raises(ConfigError, match="style has 2 values"):
        GlyphsDataModule(str(tmp_path), **args, attributes={"style": 3})


def test_glyphs_datamodule_caches_on_disk(tmp_path):
    args = dict(num_classes=26, channels=1, image_size=28, samples_per_class=6, test_samples_per_class=2)
    dm = GlyphsDataModule(str(tmp_path), **args)
    dm.prepare_data()
    cache = dm.cache_path(train=True)
    assert cache.is_file() and dm.cache_path(train=False).is_file()
    first = dm.load_split(train=True)
    cache.write_bytes(b"garbage")  # a corrupt cache is rendered again, not an error
    again = GlyphsDataModule(str(tmp_path), **args).load_split(train=True)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    other = GlyphsDataModule(str(tmp_path), **{**args, "seed": 1})
    assert other.cache_path(train=True) != cache


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_debian_package():
    dm = idx_module(FashionMNISTDataModule, DEBIAN_FASHION)
    dm.prepare_data()
    dm.setup()
    assert len(dm.train_set) + len(dm.val_set) == 60000 and len(dm.test_set) == 10000
    assert torch.equal(dm.test_set.labels.bincount(), torch.full((10,), 1000))


def k49_module(root, **kwargs):
    args = {"num_classes": 49, "channels": 1, "image_size": 28, "batch_size": 8, "download": False}
    return Kuzushiji49DataModule(str(root), **{**args, **kwargs})


@pytest.mark.parametrize("layout", ["flat", "download_folder"])
def test_kuzushiji49_reads_the_official_npz_files(tmp_path, layout):
    folder = tmp_path if layout == "flat" else tmp_path / "kuzushiji49"
    written = write_k49(folder, n_train=98, n_test=49)
    dm = k49_module(tmp_path, val_fraction=0.0)
    dm.prepare_data()
    dm.setup()
    assert dm.train_set.images.shape == (98, 1, 28, 28) and dm.test_set.images.shape == (49, 1, 28, 28)
    images, labels = dm.load_split(train=True)
    np.testing.assert_array_equal(images[:, 0].numpy(), written["train"][0])
    np.testing.assert_array_equal(labels.numpy(), written["train"][1])
    assert dm.test_set.labels.dtype == torch.int64 and sorted(dm.test_set.labels.tolist()) == list(range(49))


def test_kuzushiji49_missing_or_corrupt_files_are_one_line_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        k49_module(tmp_path / "nothing").prepare_data()
    assert "k49-train-imgs.npz" in str(err.value) and "data.root" in str(err.value) and "\n" not in str(err.value)
    write_k49(tmp_path, n_train=49, n_test=49)
    (tmp_path / "k49-test-labels.npz").write_bytes(b"not a zip")
    dm = k49_module(tmp_path)
    dm.prepare_data()
    with pytest.raises(CorruptDatasetError, match="k49-test-labels.npz cannot be read"):
        dm.setup("test")
    np.savez_compressed(tmp_path / "k49-test-imgs.npz", np.zeros((3, 28, 28), dtype=np.float32))
    with pytest.raises(CorruptDatasetError, match="float32 array"):
        k49_module(tmp_path).load_split(train=False)


def test_kmnist_reads_torchvisions_raw_layout(tmp_path):
    written = write_mnist_style(tmp_path / "KMNIST" / "raw", n_train=30, n_test=10, num_classes=10, gzipped=True)
    dm = idx_module(KMNISTDataModule, tmp_path)
    dm.prepare_data()
    images, labels = dm.load_split(train=False)
    np.testing.assert_array_equal(images[:, 0].numpy(), written["test"][0])
    np.testing.assert_array_equal(labels.numpy(), written["test"][1])


def test_emnist_balanced_split_keeps_labels_and_checks_the_class_count(tmp_path):
    written = write_mnist_style(tmp_path, 94, 47, num_classes=47, gzipped=True, prefix="emnist-balanced-")
    for split in ("train", "test"):
        write_idx(
            tmp_path / f"emnist-balanced-{split}-images-idx3-ubyte", written[split][0].transpose(0, 2, 1).copy(), True
        )
    dm = idx_module(EMNISTDataModule, tmp_path, split="balanced", num_classes=47)
    dm.prepare_data()
    images, labels = dm.load_split(train=True)
    np.testing.assert_array_equal(labels.numpy(), written["train"][1])
    np.testing.assert_array_equal(images[:, 0].numpy(), written["train"][0])
    with pytest.raises(ConfigError, match="use data=emnist_balanced"):
        idx_module(EMNISTDataModule, tmp_path, split="balanced", num_classes=26)
    with pytest.raises(ConfigError, match="unknown EMNIST split 'weird'"):
        idx_module(EMNISTDataModule, tmp_path, split="weird", num_classes=26)


def test_mirroring_characters_is_refused_but_clothes_may_be_mirrored(tmp_path):
    from condgan.data import FashionMNISTDataModule, GlyphsDataModule

    with pytest.raises(ConfigError, match="data.augment.hflip mirrors glyphs"):
        GlyphsDataModule(root=str(tmp_path), num_classes=26, channels=1, image_size=28, augment={"hflip": True})
    assert FashionMNISTDataModule(
        root=str(tmp_path), num_classes=10, channels=1, image_size=28, augment={"hflip": True}
    ).augment.active
