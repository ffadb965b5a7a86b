"""MNIST, Fashion-MNIST, KMNIST and EMNIST from their official IDX files.

Files are looked up in ``root`` itself (a flat folder of the ``.gz`` files, such as Debian's
``/usr/share/datasets/fashion-mnist``) and in torchvision's layout ``root/<Name>/raw``. When they
are missing and ``download`` is on, torchvision's own downloader fetches them.
"""

from pathlib import Path

import torch
from torchvision import datasets
from typing_extensions import override

from condgan.data.files import FileDataModule
from condgan.data.idx import read_idx
from condgan.errors import ConfigError


class IDXDataModule(FileDataModule):
    """A dataset of IDX image/label file pairs, downloaded by a torchvision dataset class."""

    torchvision_dataset: type = datasets.MNIST
    raw_folder = "MNIST/raw"

    def split_files(self, train: bool) -> tuple[str, str]:
        """Names of the (images, labels) IDX files of one split, without ``.gz``."""
        prefix = "train" if train else "t10k"
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"

    @override
    def download_split(self, train: bool) -> None:
        self.torchvision_dataset(self.hparams.root, train=train, download=True)

    def orient(self, images: torch.Tensor) -> torch.Tensor:
        """Bring images ``[N, H, W]`` upright; MNIST-style files already are."""
        return images

    def map_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Map file labels to ``0..num_classes-1``; MNIST-style files already are."""
        return labels

    @override
    def read_split(self, files: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
        image_file, label_file = files
        images = torch.from_numpy(read_idx(image_file))
        labels = torch.from_numpy(read_idx(label_file)).long()
        return self.orient(images).unsqueeze(1).contiguous(), self.map_labels(labels)


class MNISTDataModule(IDXDataModule):
    """MNIST handwritten digits, 10 classes, 28x28 grayscale."""

    name = "mnist"
    mirrorable = False
    source_hint = "https://ossci-datasets.s3.amazonaws.com/mnist/"


class FashionMNISTDataModule(IDXDataModule):
    """Fashion-MNIST clothing images, 10 classes, 28x28 grayscale."""

    name = "fashion_mnist"
    torchvision_dataset = datasets.FashionMNIST
    raw_folder = "FashionMNIST/raw"
    source_hint = "https://github.com/zalandoresearch/fashion-mnist (Debian: apt-get install dataset-fashion-mnist)"


class KMNISTDataModule(IDXDataModule):
    """Kuzushiji-MNIST: 10 cursive hiragana, 28x28 grayscale."""

    name = "kmnist"
    mirrorable = False
    torchvision_dataset = datasets.KMNIST
    raw_folder = "KMNIST/raw"
    source_hint = "http://codh.rois.ac.jp/kmnist/ (the four IDX .gz files)"


# classes of each EMNIST split, in label order
EMNIST_CLASSES = {
    "letters": 26,
    "balanced": 47,
    "bymerge": 47,
    "byclass": 62,
    "digits": 10,
    "mnist": 10,
}


class EMNISTDataModule(IDXDataModule):
    """EMNIST handwritten characters, one ``split`` of letters / balanced / bymerge / byclass /
    digits / mnist; the files store images transposed, fixed here.

    The ``letters`` split labels its 26 classes 1..26 (0 is unused); they are mapped to 0..25 so
    that the last class, 'z', is kept.
    """

    name = "emnist"
    mirrorable = False
    torchvision_dataset = datasets.EMNIST
    raw_folder = "EMNIST/raw"
    source_hint = "https://www.nist.gov/itl/products-and-services/emnist-dataset (gzip.zip)"
    label_offsets = {"letters": 1}

    def __init__(self, root: str, *args, split: str = "letters", **kwargs) -> None:
        super().__init__(root, *args, **kwargs)
        if split not in EMNIST_CLASSES:
            raise ConfigError(f"unknown EMNIST split {split!r}; choose one of {', '.join(EMNIST_CLASSES)}")
        if self.hparams.num_classes != EMNIST_CLASSES[split]:
            config = "emnist" if split == "letters" else f"emnist_{split}"
            raise ConfigError(
                f"EMNIST split {split!r} has {EMNIST_CLASSES[split]} classes but data.num_classes="
                f"{self.hparams.num_classes}; use data={config}, which sets both"
            )

    @override
    def split_files(self, train: bool) -> tuple[str, str]:
        prefix = f"emnist-{self.hparams.split}-{'train' if train else 'test'}"
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"

    @override
    def folders(self) -> list[Path]:
        return [*super().folders(), Path(self.hparams.root).expanduser() / "gzip"]

    @override
    def download_split(self, train: bool) -> None:
        self.torchvision_dataset(self.hparams.root, split=self.hparams.split, train=train, download=True)

    @override
    def orient(self, images: torch.Tensor) -> torch.Tensor:
        return images.transpose(1, 2)

    @override
    def map_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return labels - self.label_offsets.get(self.hparams.split, 0)
