"""LightningDataModules for small image datasets, each held in memory as one uint8 tensor."""

from condgan.data.base import TensorImageDataModule
from condgan.data.glyphs import GlyphsDataModule
from condgan.data.idx_datasets import EMNISTDataModule, FashionMNISTDataModule, MNISTDataModule

__all__ = [
    "TensorImageDataModule",
    "GlyphsDataModule",
    "MNISTDataModule",
    "FashionMNISTDataModule",
    "EMNISTDataModule",
]
