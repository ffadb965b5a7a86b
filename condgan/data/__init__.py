"""LightningDataModules for small image datasets, each held in memory as one uint8 tensor, and the
arithmetic queries of report 002 (text and character images)."""

from condgan.data.arithmetic import ArithmeticDataModule
from condgan.data.base import TensorImageDataModule
from condgan.data.glyphs import GlyphDigitsDataModule, GlyphsDataModule
from condgan.data.idx_datasets import EMNISTDataModule, FashionMNISTDataModule, KMNISTDataModule, MNISTDataModule
from condgan.data.image_folder import CelebADataModule, ImageFolderDataModule
from condgan.data.kuzushiji import Kuzushiji49DataModule

__all__ = [
    "ArithmeticDataModule",
    "TensorImageDataModule",
    "GlyphsDataModule",
    "GlyphDigitsDataModule",
    "MNISTDataModule",
    "FashionMNISTDataModule",
    "KMNISTDataModule",
    "EMNISTDataModule",
    "Kuzushiji49DataModule",
    "ImageFolderDataModule",
    "CelebADataModule",
]
