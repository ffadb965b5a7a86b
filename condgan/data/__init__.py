"""LightningDataModules for small image datasets, each held in memory as one uint8 tensor."""

from condgan.data.base import TensorImageDataModule
from condgan.data.glyphs import GlyphsDataModule
from condgan.data.image_folder import CelebADataModule, ImageFolderDataModule
from condgan.data.idx_datasets import EMNISTDataModule, FashionMNISTDataModule, KMNISTDataModule, MNISTDataModule
from condgan.data.kuzushiji import Kuzushiji49DataModule

__all__ = [
    "TensorImageDataModule",
    "GlyphsDataModule",
    "MNISTDataModule",
    "FashionMNISTDataModule",
    "KMNISTDataModule",
    "EMNISTDataModule",
    "Kuzushiji49DataModule",
    "ImageFolderDataModule",
    "CelebADataModule",
]
