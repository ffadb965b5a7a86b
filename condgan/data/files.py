"""Datasets distributed as a few official files per split: found in a local folder, else downloaded.

Files are looked up in ``root`` itself and in the subfolder a downloader uses (``raw_folder``);
when they are missing and ``download`` is on, the subclass's downloader fetches them, and any
failure ends in one line saying where to put the files.
"""

from abc import abstractmethod
from collections.abc import Iterable
from pathlib import Path

import torch
from typing_extensions import override

from condgan.data.base import TensorImageDataModule
from condgan.errors import DatasetNotFoundError


def find_file(name: str, folders: Iterable[Path]) -> Path | None:
    """First existing ``name`` or ``name.gz`` in ``folders``, or None."""
    for folder in folders:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


class FileDataModule(TensorImageDataModule):
    """A dataset stored as named files per split; subclasses name the files, the downloader and the reader."""

    raw_folder = "raw"
    source_hint = "the official site"

    def __init__(self, root: str, *args, download: bool = True, **kwargs) -> None:
        super().__init__(root, *args, **kwargs)

    @abstractmethod
    def split_files(self, train: bool) -> tuple[str, ...]:
        """Names of one split's files (a ``.gz`` variant of each is found too)."""

    @abstractmethod
    def download_split(self, train: bool) -> None:
        """Fetch one split's files into ``root / raw_folder``."""

    @abstractmethod
    def read_split(self, files: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode one split's files into ``(images, labels)`` as :meth:`load_split` returns them."""

    def folders(self) -> list[Path]:
        """Where the split files are looked for: ``data.root``, then its raw sub-folder."""
        root = Path(self.hparams.root).expanduser()
        return [root, root / self.raw_folder]

    def _missing(self, train: bool) -> list[str]:
        return [name for name in self.split_files(train) if find_file(name, self.folders()) is None]

    @override
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
            f"Put the files from {self.source_hint} in {self.hparams.root} and set data.root to that "
            "folder, or "
            + (
                "run again where the download can reach the internet."
                if self.hparams.download
                else "set data.download=true on a machine with internet."
            )
        )

    @override
    def load_split(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if self._missing(train):
            raise self._not_found(train, "call prepare_data() to download them")
        return self.read_split([find_file(name, self.folders()) for name in self.split_files(train)])
