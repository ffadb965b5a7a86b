"""MNIST, Fashion-MNIST and EMNIST from their official IDX files.

Files are looked up in ``root`` itself (a flat folder of the ``.gz`` files, such as Debian's
``/usr/share/datasets/fashion-mnist``) and in torchvision's layout ``root/<Name>/raw``. When they
are missing and ``download`` is on, torchvision's own downloader fetches them.
"""

from pathlib import Path

import torch
from torchvision import datasets

from condgan.data.base import TensorImageDataModule
from condgan.data.idx import find_idx_file, read_idx
from condgan.errors import DatasetNotFoundError


class IDXDataModule(TensorImageDataModule):
    """A dataset of IDX image/label file pairs; subclasses name the files and the downloader."""

    torchvision_dataset: type = datasets.MNIST
    raw_folder = "MNIST/raw"
    source_hint = "the official site"

    def __init__(self, root: str, *args, download: bool = True, **kwargs) -> None:
        super().__init__(root, *args, **kwargs)

    def split_files(self, train: bool) -> tuple[str, str]:
        """Names of the (images, labels) IDX files of one split, without ``.gz``."""
        prefix = "train" if train else "t10k"
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"

    def folders(self) -> list[Path]:
        root = Path(self.hparams.root).expanduser()
        return [root, root / self.raw_folder]

    def download_split(self, train: bool) -> None:
        self.torchvision_dataset(self.hparams.root, train=train, download=True)

    def orient(self, images: torch.Tensor) -> torch.Tensor:
        """Bring images ``[N, H, W]`` upright; MNIST-style files already are."""
        return images

    def map_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Map file labels to ``0..num_classes-1``; MNIST-style files already are."""
        return labels

    def _missing(self, train: bool) -> list[str]:
        return [name for name in self.split_files(train) if find_idx_file(name, self.folders()) is None]

    def prepare_data(self) -> None:
        for train in (True, False):
            if self._missing(train) and self.hparams.download:
                try:
                    self.download_split(train)
                except Exception as err:  # any network or archive failure ends in the same advice
                    detail = " ".join(str(err).split())
                    raise self._not_found(train, f"download failed: {type(err).__name__}: {detail}") from err
            if self._missing(train):
                raise self._not_found(train, "data.download=false")

    def _not_found(self, train: bool, reason: str) -> DatasetNotFoundError:
        looked = " and ".join(str(f) for f in self.folders())
        files = ", ".join(f"{name}[.gz]" for name in self._missing(train))
        return DatasetNotFoundError(
            f"{self.name}: dataset files not found: {files} (looked in {looked}; {reason}). "
            f"Put the IDX files from {self.source_hint} in {self.hparams.root} and set data.root to that "
            "folder, or set data.download=true on a machine with internet."
        )

    def load_split(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if self._missing(train):
            raise self._not_found(train, "call prepare_data() to download them")
        image_file, label_file = (find_idx_file(name, self.folders()) for name in self.split_files(train))
        images = torch.from_numpy(read_idx(image_file))
        labels = torch.from_numpy(read_idx(label_file)).long()
        return self.orient(images).unsqueeze(1).contiguous(), self.map_labels(labels)


class MNISTDataModule(IDXDataModule):
    """MNIST handwritten digits, 10 classes, 28x28 grayscale."""

    name = "mnist"
    source_hint = "https://ossci-datasets.s3.amazonaws.com/mnist/"


class FashionMNISTDataModule(IDXDataModule):
    """Fashion-MNIST clothing images, 10 classes, 28x28 grayscale."""

    name = "fashion_mnist"
    torchvision_dataset = datasets.FashionMNIST
    raw_folder = "FashionMNIST/raw"
    source_hint = "https://github.com/zalandoresearch/fashion-mnist (Debian: apt-get install dataset-fashion-mnist)"


class EMNISTDataModule(IDXDataModule):
    """EMNIST handwritten characters; the files store images transposed, fixed here.

    The ``letters`` split labels its 26 classes 1..26 (0 is unused); they are mapped to 0..25 so
    that the last class, 'z', is kept.
    """

    name = "emnist"
    torchvision_dataset = datasets.EMNIST
    raw_folder = "EMNIST/raw"
    source_hint = "https://www.nist.gov/itl/products-and-services/emnist-dataset (gzip.zip)"
    label_offsets = {"letters": 1}

    def __init__(self, root: str, *args, split: str = "letters", **kwargs) -> None:
        super().__init__(root, *args, **kwargs)

    def split_files(self, train: bool) -> tuple[str, str]:
        prefix = f"emnist-{self.hparams.split}-{'train' if train else 'test'}"
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"

    def folders(self) -> list[Path]:
        return [*super().folders(), Path(self.hparams.root).expanduser() / "gzip"]

    def download_split(self, train: bool) -> None:
        self.torchvision_dataset(self.hparams.root, split=self.hparams.split, train=train, download=True)

    def orient(self, images: torch.Tensor) -> torch.Tensor:
        return images.transpose(1, 2)

    def map_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return labels - self.label_offsets.get(self.hparams.split, 0)
