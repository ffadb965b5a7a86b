"""Image sets stored as files: a folder (labels from sub-folders, or none) and CelebA.

Every image is resized so its shorter side is ``image_size``, center-cropped to a square and
converted to RGB (or grayscale); the decoded uint8 tensor is cached under ``cache_dir`` by a
hash of the file list and the settings, so later runs skip the decoding.
"""

import hashlib
import json
import logging
import os
from abc import abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from typing_extensions import override

from condgan.data.base import TensorImageDataModule
from condgan.data.cache import save_atomically
from condgan.errors import ConfigError, CorruptDatasetError, DatasetNotFoundError

log = logging.getLogger(__name__)

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif")
RESAMPLING = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def list_images(folder: Path) -> list[Path]:
    """Image files below ``folder`` (recursively), sorted."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())


def decode_image(path: Path, size: int, channels: int, resample: str) -> np.ndarray:
    """``[channels, size, size]`` uint8: shorter side resized to ``size``, center crop."""
    try:
        with Image.open(path) as image:
            image = image.convert("RGB" if channels == 3 else "L")
            fitted = ImageOps.fit(image, (size, size), method=RESAMPLING[resample], centering=(0.5, 0.5))
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise CorruptDatasetError(f"{path} is not a readable image ({err}); delete or replace it") from err
    pixels = np.asarray(fitted, dtype=np.uint8)
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def decode_images(paths: Sequence[Path], size: int, channels: int, resample: str) -> torch.Tensor:
    """All ``paths`` decoded in parallel threads (Pillow releases the GIL while decoding)."""
    if resample not in RESAMPLING:
        raise ConfigError(f"unknown data.resample {resample!r}; choose one of {', '.join(RESAMPLING)}")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        arrays = list(pool.map(lambda p: decode_image(p, size, channels, resample), paths))
    return torch.from_numpy(np.stack(arrays)) if arrays else torch.zeros(0, channels, size, size, dtype=torch.uint8)


class DecodedFilesDataModule(TensorImageDataModule):
    """Base of the file-per-image datasets: subclasses list each split's files and labels, the
    decoding and the disk cache are shared."""

    def __init__(self, root: str, *args, cache_dir: str | None = None, resample: str = "bicubic", **kwargs) -> None:
        super().__init__(root, *args, **kwargs)
        self._decoded: dict[bool, tuple[torch.Tensor, torch.Tensor]] = {}

    @abstractmethod
    def list_split(self, train: bool) -> tuple[list[Path], torch.Tensor]:
        """One split's image files and their int64 class labels."""

    def cache_path(self, files: Sequence[Path]) -> Path:
        """The cache file of decoded images, named by a digest of the files (names and sizes) and the
        decoding settings (size, channels, resampling)."""
        hp = self.hparams
        digest = hashlib.sha1(
            json.dumps(
                {
                    "files": [str(f) for f in files],
                    "sizes": [f.stat().st_size for f in files],
                    "image_size": hp.image_size,
                    "channels": hp.channels,
                    "resample": hp.resample,
                },
            ).encode()
        ).hexdigest()[:16]
        cache_dir = Path(hp.cache_dir or Path(hp.root).expanduser() / "cache").expanduser()
        return cache_dir / f"{self.name}-{digest}.pt"

    @override
    def load_split(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if train not in self._decoded:
            files, labels = self.list_split(train)
            path = self.cache_path(files)
            if path.is_file():
                images = torch.load(path, weights_only=True)
            else:
                log.info("%s: decoding %d images (cached afterwards in %s)", self.name, len(files), path)
                images = decode_images(files, self.hparams.image_size, self.hparams.channels, self.hparams.resample)
                save_atomically(images, path)
            self._decoded[train] = (images, labels)
        return self._decoded[train]


class ImageFolderDataModule(DecodedFilesDataModule):
    """Images under ``root``: with ``labels: subfolders`` each sub-folder is a class (sorted by
    name, or in the order of ``class_names``); with ``labels: none`` everything is class 0.

    If ``root`` has ``train/`` and ``val/`` (or ``test/``) sub-folders (the AFHQ layout) they are
    the splits; otherwise ``test_fraction`` of the images is held out with a fixed seed.
    """

    name = "image_folder"

    def __init__(
        self,
        root: str,
        *args,
        labels: str = "subfolders",
        test_fraction: float = 0.1,
        dataset_name: str = "image_folder",
        **kwargs,
    ) -> None:
        super().__init__(root, *args, **kwargs)
        if labels not in ("subfolders", "none"):
            raise ConfigError(f"data.labels={labels!r}: use subfolders or none")
        if labels == "none" and self.hparams.num_classes != 1:
            raise ConfigError("data.labels=none gives one class: set data.num_classes=1")
        self.name = dataset_name

    def _folder(self) -> Path:
        folder = Path(self.hparams.root).expanduser()
        if not folder.is_dir():
            raise DatasetNotFoundError(
                f"{self.name}: image folder {folder} not found; put the images there (one sub-folder per "
                "class, or data.labels=none) or set data.root to their folder"
            )
        return folder

    def _split_folders(self, folder: Path) -> tuple[Path, Path] | None:
        test = next((folder / name for name in ("val", "test") if (folder / name).is_dir()), None)
        return (folder / "train", test) if (folder / "train").is_dir() and test is not None else None

    def _labelled(self, folder: Path) -> tuple[list[Path], torch.Tensor]:
        if self.hparams.labels == "none":
            files = list_images(folder)
            return files, torch.zeros(len(files), dtype=torch.long)
        found = sorted(p.name for p in folder.iterdir() if p.is_dir())
        names = list(self.hparams.class_names) if self.hparams.class_names else found
        if sorted(names) != found:
            raise ConfigError(
                f"{self.name}: sub-folders of {folder} are {found} but data.class_names are {names}; "
                "make them match (or use data.labels=none)"
            )
        files, labels = [], []
        for index, name in enumerate(names):
            members = list_images(folder / name)
            files += members
            labels += [index] * len(members)
        return files, torch.tensor(labels, dtype=torch.long)

    @override
    def list_split(self, train: bool) -> tuple[list[Path], torch.Tensor]:
        folder = self._folder()
        splits = self._split_folders(folder)
        if splits is not None:
            files, labels = self._labelled(splits[0] if train else splits[1])
        else:
            files, labels = self._labelled(folder)
            order = torch.randperm(len(files), generator=torch.Generator().manual_seed(self.hparams.seed))
            n_test = round(len(files) * self.hparams.test_fraction)
            chosen = order[n_test:] if train else order[:n_test]
            files, labels = [files[i] for i in chosen.sort().values], labels[chosen.sort().values]
        if not files:
            raise DatasetNotFoundError(
                f"{self.name}: no images ({', '.join(EXTENSIONS)}) in the {'train' if train else 'test'} split of "
                f"{folder}; put the images there or set data.root"
            )
        return files, labels


class CelebADataModule(DecodedFilesDataModule):
    """CelebA aligned faces in torchvision's layout: ``root/celeba/img_align_celeba/*.jpg`` with
    ``list_eval_partition.txt`` (train = partitions 0 and 1, test = 2) and ``list_attr_celeba.txt``,
    whose 40 binary attributes (``Smiling``, ``Male``, ...) can condition a model through
    ``data.attributes`` (e.g. ``{Smiling: 2}``). One class."""

    name = "celeba"

    def __init__(self, root: str, *args, download: bool = False, **kwargs) -> None:
        super().__init__(root, *args, **kwargs)
        if self.hparams.num_classes != 1:
            raise ConfigError("celeba has one class: set data.num_classes=1 (condition on data.attributes instead)")

    def base(self) -> Path:
        """The ``celeba`` folder under ``data.root``."""
        return Path(self.hparams.root).expanduser() / "celeba"

    @override
    def prepare_data(self) -> None:
        needed = [self.base() / "list_eval_partition.txt", self.base() / "img_align_celeba"]
        if all(p.exists() for p in needed):
            return
        if self.hparams.download:
            from torchvision.datasets import CelebA

            try:
                CelebA(self.hparams.root, split="all", target_type="attr", download=True)
            except Exception as err:  # Google Drive quota, no network, ...
                raise self._not_found(f"download failed: {type(err).__name__}: {' '.join(str(err).split())}") from err
        if not all(p.exists() for p in needed):
            raise self._not_found("data.download=false")

    def _not_found(self, reason: str) -> DatasetNotFoundError:
        return DatasetNotFoundError(
            f"celeba: {self.base()}/img_align_celeba and list_eval_partition.txt not found ({reason}); download "
            "img_align_celeba.zip and the list_*.txt files from the CelebA site into that folder, or set data.root"
        )

    def _partition(self) -> list[tuple[str, int]]:
        path = self.base() / "list_eval_partition.txt"
        if not path.is_file():
            raise self._not_found("call prepare_data()")
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
        return [(name, int(split)) for name, split in rows]

    @override
    def list_split(self, train: bool) -> tuple[list[Path], torch.Tensor]:
        names = [name for name, split in self._partition() if (split < 2) == train]
        files = [self.base() / "img_align_celeba" / name for name in names]
        return files, torch.zeros(len(files), dtype=torch.long)

    @override
    def attribute_names(self) -> list[str]:
        path = self.base() / "list_attr_celeba.txt"
        stored = path.read_text().splitlines()[1].split() if path.is_file() else []
        return [*super().attribute_names(), *stored]

    @override
    def load_attribute(self, name: str, images: torch.Tensor, labels: torch.Tensor, train: bool) -> torch.Tensor:
        if name not in self.attribute_names()[len(super().attribute_names()) :]:
            return super().load_attribute(name, images, labels, train)
        lines = (self.base() / "list_attr_celeba.txt").read_text().splitlines()
        column = lines[1].split().index(name)
        values = {row[0]: int(row[1 + column]) for row in (line.split() for line in lines[2:]) if row}
        names = [name_ for name_, split in self._partition() if (split < 2) == train]
        return torch.tensor([1 if values[n] > 0 else 0 for n in names], dtype=torch.long)
