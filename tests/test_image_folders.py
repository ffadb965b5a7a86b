"""64x64 image sets from files: folders with or without class sub-folders, AFHQ's train/val
layout, CelebA's layout and attributes; decoding, caching and errors."""

import pytest
import torch
from hydra.utils import instantiate

from condgan.data import CelebADataModule, ImageFolderDataModule
from condgan.errors import ConfigError, CorruptDatasetError, DatasetNotFoundError
from tests.conftest import QUIET, SMALL_METRICS, compose_config
from tests.helpers import write_image_folder


def folder_module(root, cache, **kwargs):
    args = {
        "num_classes": 3,
        "channels": 3,
        "image_size": 16,
        "labels": "subfolders",
        "cache_dir": str(cache),
        "batch_size": 4,
        "test_fraction": 0.25,
    }
    return ImageFolderDataModule(str(root), **{**args, **kwargs})


def test_class_subfolders_become_labels_and_images_are_cropped_squares(tmp_path):
    write_image_folder(tmp_path / "set", {"cat": 8, "dog": 8, "wild": 8})
    dm = folder_module(tmp_path / "set", tmp_path / "cache", class_names=["cat", "dog", "wild"])
    images, labels = dm.load_split(train=True)
    test_images, test_labels = dm.load_split(train=False)
    assert images.shape == (18, 3, 16, 16) and test_images.shape == (6, 3, 16, 16) and images.dtype == torch.uint8
    assert sorted(torch.cat([labels, test_labels]).tolist()) == [0] * 8 + [1] * 8 + [2] * 8
    # the colour channel each folder was drawn in identifies its label
    assert torch.equal(images.float().mean((2, 3)).argmax(1), labels)


def test_decoded_images_are_cached_and_reused(tmp_path):
    write_image_folder(tmp_path / "set", {"a": 4, "b": 4, "c": 4}, suffix=".jpg")
    dm = folder_module(tmp_path / "set", tmp_path / "cache")
    first = dm.load_split(train=True)[0]
    [cache] = [p for p in (tmp_path / "cache").iterdir() if "-" in p.name and p.suffix == ".pt"][:1]
    torch.save(torch.full_like(first, 7), cache)  # proves the second load reads the cache
    assert torch.equal(
        folder_module(tmp_path / "set", tmp_path / "cache").load_split(train=True)[0], torch.full_like(first, 7)
    )


def test_train_and_val_folders_are_the_splits(tmp_path):
    write_image_folder(tmp_path / "afhq" / "train", {"cat": 5, "dog": 4, "wild": 3})
    write_image_folder(tmp_path / "afhq" / "val", {"cat": 2, "dog": 2, "wild": 2})
    dm = folder_module(tmp_path / "afhq", tmp_path / "cache")
    assert dm.load_split(train=True)[1].tolist() == [0] * 5 + [1] * 4 + [2] * 3
    assert dm.load_split(train=False)[1].tolist() == [0, 0, 1, 1, 2, 2]


def test_unlabelled_folders_and_the_errors_a_user_can_meet(tmp_path):
    write_image_folder(tmp_path / "punks", {"": 6, "nested": 2})
    dm = folder_module(tmp_path / "punks", tmp_path / "cache", labels="none", num_classes=1, resample="nearest")
    _, labels = dm.load_split(train=True)
    assert len(labels) == 6 and labels.max() == 0
    with pytest.raises(ConfigError, match="set data.num_classes=1"):
        folder_module(tmp_path / "punks", tmp_path / "cache", labels="none")
    with pytest.raises(ConfigError, match="class_names"):
        folder_module(tmp_path / "punks", tmp_path / "cache", class_names=["x", "y", "z"]).load_split(train=True)
    with pytest.raises(DatasetNotFoundError, match="image folder .* not found"):
        folder_module(tmp_path / "missing", tmp_path / "cache").load_split(train=True)
    (tmp_path / "punks" / "broken.png").write_bytes(b"not a png")
    broken = folder_module(tmp_path / "punks", tmp_path / "cache2", labels="none", num_classes=1, test_fraction=0.0)
    with pytest.raises(CorruptDatasetError, match="broken.png is not a readable image"):
        broken.load_split(train=True)


def write_celeba(root, n: int = 12):
    base = root / "celeba"
    files = write_image_folder(base / "img_align_celeba", {"": n}, size=(178, 218), suffix=".jpg")[""]
    names = [f.name for f in files]
    (base / "list_eval_partition.txt").write_text(
        "".join(f"{name} {0 if i < n - 4 else 2}\n" for i, name in enumerate(names))
    )
    header = "Male Smiling Young"
    rows = "".join(f"{name} {1 if i % 2 else -1} {1 if i % 3 == 0 else -1} 1\n" for i, name in enumerate(names))
    (base / "list_attr_celeba.txt").write_text(f"{n}\n{header}\n{rows}")
    return names


def test_celeba_layout_partitions_and_attributes(tmp_path):
    write_celeba(tmp_path)
    dm = CelebADataModule(
        str(tmp_path),
        num_classes=1,
        channels=3,
        image_size=32,
        cache_dir=str(tmp_path / "cache"),
        attributes={"Smiling": 2, "style": 2},
        val_fraction=0.0,
    )
    dm.prepare_data()
    dm.setup()
    assert dm.train_set.images.shape == (8, 3, 32, 32) and dm.test_set.labels.shape == (4, 3)
    assert sorted(dm.train_set.labels[:, 1].tolist()) == sorted(1 if i % 3 == 0 else 0 for i in range(8))
    assert dm.test_set.labels[:, 1].tolist() == [1 if i % 3 == 0 else 0 for i in range(8, 12)]
    with pytest.raises(DatasetNotFoundError, match="img_align_celeba"):
        CelebADataModule(str(tmp_path / "none"), num_classes=1, channels=3, image_size=32).prepare_data()


@pytest.mark.parametrize("data", ["animal_faces", "cryptopunks", "rijksmuseum", "celeba", "image_folder"])
def test_image_set_configs_train_a_fast_dev_run(tmp_path, data):
    from condgan.pipelines.train import train

    root = tmp_path / "data"
    if data == "animal_faces":
        write_image_folder(root / "animal_faces", {"cat": 6, "dog": 6, "wild": 6})
    elif data == "celeba":
        write_celeba(root, n=24)
    else:
        write_image_folder(root / data, {"": 20})
    overrides = [f"data={data}", "model=cdcgan", "debug=fdr", "data.batch_size=4", *QUIET, *SMALL_METRICS]
    cfg = compose_config("train", overrides, tmp_path / "run", root)
    assert train(cfg).state.finished
    assert instantiate(cfg.data).hparams.image_size == 64
