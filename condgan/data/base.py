"""Common DataModule: decode a dataset once into uint8 tensors, serve batches by indexing.

Batches travel as uint8 (four times less to copy than float) and are scaled to [-1, 1] in
``on_after_batch_transfer``, i.e. on the device, so nothing runs per sample in Python.
"""

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset
from typing_extensions import override

from condgan.data.attributes import thickness_style
from condgan.data.batching import ConsecutiveBatches, DeviceBatches, EpochBatchSampler, MidEpochResume
from condgan.data.statistics import distance_outliers
from condgan.data.transforms import PREPROCESS_KEYS, BatchAugment, check_settings, preprocess, resize
from condgan.errors import ConfigError, LabelRangeError

log = logging.getLogger(__name__)

# attributes computed from the pixels of any dataset: name -> (number of values, function)
DERIVED_ATTRIBUTES = {"style": (2, thickness_style)}


def to_signed_unit(images: torch.Tensor) -> torch.Tensor:
    """Map uint8 pixels 0..255 to floats in [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


class TensorBatchDataset(Dataset):
    """Images and labels in memory; indexing with a list of indices returns a whole batch."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]


class TensorImageDataModule(MidEpochResume, L.LightningDataModule, ABC):
    """Base of every in-memory dataset: subclasses implement :meth:`load_split`.

    The official training split is divided into train/val by ``val_fraction`` with a fixed
    ``seed``; the official test split is served by :meth:`test_dataloader`. ``attributes`` names
    conditioning attributes besides the class (``{style: 2}``: thick/thin from the foreground
    pixel count, pixels above ``style_threshold``, against the class median); labels are then rows
    ``[class, style, ...]``. Batches follow an order drawn from ``seed`` and the epoch; with
    ``on_device`` (``auto``: on a GPU) the splits stay on the accelerator and batches are indexed
    there instead of going through a DataLoader. :meth:`reference_set` serves the splits without
    ``data.preprocess``, the same for every experiment, for metrics to score against.
    """

    name = "dataset"
    # whether a mirrored image still shows its class: not for characters (data.augment.hflip is refused)
    mirrorable = True

    def __init__(
        self,
        root: str,
        num_classes: int,
        channels: int,
        image_size: int,
        class_names: Sequence[str] | None = None,
        batch_size: int = 128,
        val_fraction: float = 0.1,
        num_workers: int = 0,
        pin_memory: bool = False,
        drop_last: bool = True,
        seed: int = 0,
        attributes: Mapping[str, int] | None = None,
        style_threshold: int = 127,
        preprocess: Mapping | None = None,
        augment: Mapping | None = None,
        on_device: bool | str = "auto",
    ) -> None:
        super().__init__()
        if class_names is not None and len(class_names) != num_classes:
            raise ConfigError(
                f"{self.name}: {len(class_names)} class_names given for num_classes={num_classes}; "
                "make data.class_names list one name per class"
            )
        for name, size in (attributes or {}).items():
            if name in DERIVED_ATTRIBUTES and size != DERIVED_ATTRIBUTES[name][0]:
                raise ConfigError(f"data.attributes.{name} has {DERIVED_ATTRIBUTES[name][0]} values, not {size}")
        if not 0.0 <= val_fraction < 1.0:
            raise ConfigError(f"{self.name}: data.val_fraction={val_fraction} must lie in [0, 1)")
        self.save_hyperparameters(logger=False)
        self.augment = BatchAugment(augment)
        if self.augment.settings.get("hflip") and not self.mirrorable:
            raise ConfigError(
                f"data.augment.hflip mirrors {self.name}'s characters into other shapes (b into d); "
                "set data.augment.hflip=false"
            )
        check_settings(preprocess, PREPROCESS_KEYS, "preprocess")
        self.removed_outliers = 0
        self.stored_shape: tuple[int, ...] | None = None
        self._references: dict[str, TensorBatchDataset] = {}
        self.train_set: TensorBatchDataset | None = None
        self.val_set: TensorBatchDataset | None = None
        self.test_set: TensorBatchDataset | None = None

    @abstractmethod
    def load_split(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(images, labels)``: uint8 ``[N, C, H, W]`` and int64 ``[N]`` in ``0..num_classes-1``."""

    def attribute_names(self) -> list[str]:
        """Attributes ``data.attributes`` may condition on; datasets with stored attributes add theirs."""
        return list(DERIVED_ATTRIBUTES)

    def load_attribute(self, name: str, images: torch.Tensor, labels: torch.Tensor, train: bool) -> torch.Tensor:
        """int64 ``[N]`` values of attribute ``name`` for a split's images and classes."""
        return DERIVED_ATTRIBUTES[name][1](images, labels, self.hparams.style_threshold)

    def labelled(self, images: torch.Tensor, labels: torch.Tensor, train: bool) -> torch.Tensor:
        """Class labels ``[N]``, or ``[N, 1 + attributes]`` rows (class, then each configured attribute)."""
        if not self.attributes:
            return labels
        columns = [labels]
        for name, size in self.attributes.items():
            if name not in self.attribute_names():
                raise ConfigError(
                    f"{self.name} has no attribute {name!r} to condition on; data.attributes may name "
                    f"{', '.join(self.attribute_names())}"
                )
            values = self.load_attribute(name, images, labels, train).long()
            if len(values) != len(labels):
                raise ConfigError(
                    f"{self.name}: attribute {name!r} has {len(values)} values for {len(labels)} images; "
                    "its load_attribute must give one value per image of the split"
                )
            if int(values.min()) < 0 or int(values.max()) >= size:
                raise LabelRangeError(f"{self.name}: attribute {name!r} values must lie in 0..{size - 1}")
            columns.append(values)
        return torch.stack(columns, dim=1)

    @property
    def attributes(self) -> dict[str, int]:
        """Conditioning attributes besides the class (``data.attributes``), name: number of values."""
        return dict(self.hparams.attributes or {})

    @property
    def num_classes(self) -> int:
        """How many classes the labels take."""
        return self.hparams.num_classes

    @property
    def class_names(self) -> list[str]:
        """A name per class (``data.class_names``, else the class indices as text)."""
        names = self.hparams.class_names
        return list(names) if names is not None else [str(i) for i in range(self.num_classes)]

    @override
    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and self.train_set is None:
            images, labels, inliers = self._prepared(train=True)
            val_idx, train_idx = self.partition(len(labels))
            val_idx, train_idx = val_idx[inliers[val_idx]], train_idx[inliers[train_idx]]
            self.train_set = TensorBatchDataset(images[train_idx], labels[train_idx])
            self.val_set = TensorBatchDataset(images[val_idx], labels[val_idx])
        if stage in (None, "test") and self.test_set is None:
            images, labels, _ = self._prepared(train=False)
            self.test_set = TensorBatchDataset(images, labels)

    def partition(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices of the val and the train part of the official training split's ``n`` images as
        stored (before any outlier is removed): ``val_fraction`` of them drawn with ``seed``."""
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.hparams.seed))
        n_val = round(n * self.hparams.val_fraction)
        return order[:n_val], order[n_val:]

    def reference_set(self, split: str) -> TensorBatchDataset:
        """The ``train``, ``val`` or ``test`` split as the dataset stores it, labelled by class only:
        without ``data.preprocess`` (resized to ``data.image_size`` only where its size differs),
        train and val being :meth:`partition`'s parts, outliers included. The same images for every
        experiment on the dataset at one image size: what metrics train their classifier on and
        score against. Shares the tensors of :meth:`setup`'s splits when preprocessing only resizes."""
        if split not in ("train", "val", "test"):
            raise ValueError(f"reference_set({split!r}): use train, val or test")
        if split not in self._references:
            self._references[split] = self._reference(split)
        return self._references[split]

    def reference_name(self, split: str) -> str:
        """How a protocol names :meth:`reference_set`'s split, e.g. ``unpreprocessed mnist test split
        (resized from 28x28 to 64x64)``."""
        self.reference_set(split)
        size = self.hparams.image_size
        stored = self.stored_shape[-2:]
        resized = f" (resized from {stored[0]}x{stored[1]} to {size}x{size})" if stored != (size, size) else ""
        return f"unpreprocessed {self.name} {split} split{resized}"

    def _reference(self, split: str) -> TensorBatchDataset:
        settings = check_settings(self.hparams.preprocess, PREPROCESS_KEYS, "preprocess")
        if not any(value for key, value in settings.items() if key != "resize"):
            self.setup("test" if split == "test" else "fit")
            dataset = {"train": self.train_set, "val": self.val_set, "test": self.test_set}[split]
            labels = dataset.labels if dataset.labels.dim() == 1 else dataset.labels[:, 0]
            return TensorBatchDataset(dataset.images, labels)
        images, labels = self._checked(train=split != "test")
        size = self.hparams.image_size
        images = resize(images, size) if tuple(images.shape[-2:]) != (size, size) else images
        self._check_shape(images)
        if split != "test":
            val_idx, train_idx = self.partition(len(labels))
            chosen = train_idx if split == "train" else val_idx
            images, labels = images[chosen], labels[chosen]
        return TensorBatchDataset(images, labels)

    def _prepared(self, train: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One split, checked, preprocessed (``data.preprocess``) and labelled with its attributes,
        and the mask of the images that ``remove_outliers`` keeps (train split; all elsewhere). The
        outliers are found on the resized images, before denoising, and returned as a mask rather
        than removed so that :meth:`partition` draws train/val on the split as stored."""
        hp = self.hparams
        settings = check_settings(hp.preprocess, PREPROCESS_KEYS, "preprocess")
        images, labels = self._checked(train)
        images = preprocess(images, labels, hp.num_classes, hp.image_size, {"resize": settings.get("resize")}, train)[0]
        inliers = self._inliers(images, labels, settings.get("remove_outliers") if train else None)
        rest = {key: value for key, value in settings.items() if key not in ("resize", "remove_outliers")}
        images = preprocess(images, labels, hp.num_classes, hp.image_size, rest, train)[0]
        self._check_shape(images)
        return images, self.labelled(images, labels, train), inliers

    def _inliers(self, images: torch.Tensor, labels: torch.Tensor, num_std: float | None) -> torch.Tensor:
        """Mask of the images no farther than ``num_std`` std from their class mean (all when off)."""
        if not num_std:
            return torch.ones(len(labels), dtype=torch.bool)
        outliers = distance_outliers(images, labels, self.hparams.num_classes, float(num_std))
        removed = int(outliers.sum())
        if removed:
            log.info(
                "%s: removed %d outliers of %d training images (data.preprocess.remove_outliers=%s std)",
                self.name,
                removed,
                len(labels),
                num_std,
            )
        self.removed_outliers += removed
        return ~outliers

    def _checked(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """One split as :meth:`load_split` gives it, checked: uint8 ``[N, C, H, W]`` images, int64 labels."""
        hp = self.hparams
        images, labels = self.load_split(train)
        if images.dtype != torch.uint8 or images.dim() != 4 or len(labels) != len(images):
            raise ConfigError(
                f"{self.name}: got {images.dtype} images {tuple(images.shape)} and {len(labels)} labels; "
                "a dataset must yield uint8 [N, C, H, W] images and one label per image"
            )
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= hp.num_classes:
            raise LabelRangeError(
                f"{self.name}: labels span {lo}..{hi} but data.num_classes={hp.num_classes} allows "
                f"0..{hp.num_classes - 1}; fix data.num_classes or the label files"
            )
        self.stored_shape = tuple(images.shape[1:])
        return images, labels.long()

    def _check_shape(self, images: torch.Tensor) -> None:
        hp = self.hparams
        expected = (hp.channels, hp.image_size, hp.image_size)
        if tuple(images.shape[1:]) != expected:
            raise ConfigError(
                f"{self.name}: images are {tuple(images.shape[1:])} but the config says {expected}; fix "
                "data.channels/data.image_size, or set data.preprocess.resize=true to resize to data.image_size"
            )

    def keeps_data_on_device(self) -> bool:
        """``data.on_device``: true, false, or auto (on when training on a GPU)."""
        setting = self.hparams.on_device
        if setting not in (True, False, "auto"):
            raise ConfigError(f"data.on_device={setting!r}: use true, false or auto")
        if self.trainer is None:
            return False
        return setting is True or (setting == "auto" and self.trainer.strategy.root_device.type == "cuda")

    def overfitting(self) -> bool:
        """Whether the trainer repeats its first batches (``trainer.overfit_batches``, ``debug=overfit``)."""
        return self.trainer is not None and self.trainer.overfit_batches > 0

    def _loader(self, dataset: TensorBatchDataset | None, shuffle: bool) -> DataLoader | DeviceBatches:
        if dataset is None:
            raise RuntimeError(f"{self.name}: call setup() before asking for a dataloader")
        if self.overfitting():
            # batches in stored order, one per item: Lightning keeps the sequential sampler and
            # takes the first overfit_batches, the same ones every epoch, on either data path
            return DataLoader(
                ConsecutiveBatches(dataset, self.hparams.batch_size, shuffle and self.hparams.drop_last),
                batch_size=None,
                shuffle=False,
            )
        batches = EpochBatchSampler(
            len(dataset),
            self.hparams.batch_size,
            shuffle,
            shuffle and self.hparams.drop_last,
            self.hparams.seed,
            self._resume_at if shuffle else None,
        )
        if self.keeps_data_on_device():
            trainer = self.trainer
            return DeviceBatches(
                dataset.images,
                dataset.labels,
                batches,
                trainer.strategy.root_device,
                trainer.global_rank,
                trainer.world_size,
            )
        return DataLoader(
            dataset,
            batch_size=None,
            sampler=batches,
            num_workers=self.hparams.num_workers,
            pin_memory=self.hparams.pin_memory,
            persistent_workers=self.hparams.num_workers > 0,
            # the workers' base seed comes from here, not from the global generator, whose stream
            # stays the model's (noise, dropout), so a resumed run draws what an uninterrupted one would
            generator=torch.Generator().manual_seed(self.hparams.seed),
        )

    @override
    def train_dataloader(self) -> DataLoader | DeviceBatches:
        if self.train_set is not None and self.hparams.drop_last and len(self.train_set) < self.hparams.batch_size:
            raise ConfigError(
                f"{self.name}: {len(self.train_set)} training images make no whole batch of "
                f"data.batch_size={self.hparams.batch_size}; use a data.batch_size of at most "
                f"{len(self.train_set)}"
            )
        return self._loader(self.train_set, shuffle=True)

    @override
    def val_dataloader(self) -> DataLoader | DeviceBatches:
        return self._loader(self.val_set, shuffle=False)

    @override
    def test_dataloader(self) -> DataLoader | DeviceBatches:
        return self._loader(self.test_set, shuffle=False)

    @override
    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        """Batches already on ``device`` (cut there, ``data.on_device``) pass through as they are,
        without Lightning's walk over the batch (host time in every step)."""
        if all(isinstance(part, torch.Tensor) and part.device == device for part in batch):
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Scale to [-1, 1] on the device; training batches are also augmented (``data.augment``)."""
        images, labels = batch
        images = to_signed_unit(images)
        if self.trainer is not None and self.trainer.training:
            images = self.augment(images)
        return images, labels
