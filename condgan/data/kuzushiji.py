"""Kuzushiji-49: 49 classes of cursive hiragana, 28x28 grayscale, from the official ``.npz`` files."""

import zipfile
from pathlib import Path

import numpy as np
import torch
from torchvision.datasets.utils import download_url
from typing_extensions import override

from condgan.data.files import FileDataModule
from condgan.errors import CorruptDatasetError

K49_URL = "http://codh.rois.ac.jp/kmnist/dataset/k49/"


def read_npz_array(path: Path, dtype: type, ndim: int) -> np.ndarray:
    """The ``arr_0`` array of an official ``.npz`` file, checked for its dtype and rank."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            array = archive["arr_0"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise CorruptDatasetError(
            f"{path} cannot be read as a .npz with arr_0 ({err}); delete it and download it again"
        ) from err
    if array.ndim != ndim or not np.issubdtype(array.dtype, dtype):
        raise CorruptDatasetError(
            f"{path} holds a {array.dtype} array of shape {array.shape}, not the official format; download it again"
        )
    return array


class Kuzushiji49DataModule(FileDataModule):
    """Kuzushiji-49 (``k49-{train,test}-{imgs,labels}.npz``), downloaded into ``root/kuzushiji49``."""

    name = "kuzushiji49"
    mirrorable = False
    raw_folder = "kuzushiji49"
    source_hint = K49_URL

    @override
    def split_files(self, train: bool) -> tuple[str, str]:
        split = "train" if train else "test"
        return f"k49-{split}-imgs.npz", f"k49-{split}-labels.npz"

    @override
    def download_split(self, train: bool) -> None:
        folder = Path(self.hparams.root).expanduser() / self.raw_folder
        for name in self.split_files(train):
            download_url(K49_URL + name, str(folder), filename=name)

    @override
    def read_split(self, files: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
        image_file, label_file = files
        images = read_npz_array(image_file, np.uint8, 3)
        labels = read_npz_array(label_file, np.integer, 1)
        return torch.from_numpy(images).unsqueeze(1).contiguous(), torch.from_numpy(labels.astype(np.int64))
