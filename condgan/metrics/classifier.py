"""The per-dataset domain classifier: trained once on the real training split, cached on disk under a
fingerprint of the data and of its settings, so a changed dataset (or setting) trains a new one."""

import hashlib
import json
import logging
import pickle
import time
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F

from condgan.data.base import to_signed_unit
from condgan.models.base import class_column
from condgan.nets.classifier import DomainClassifierNet

log = logging.getLogger(__name__)

# bump when the training procedure changes, so stale caches are not reused
CLASSIFIER_VERSION = 1
ARCHITECTURE_KEYS = ("widths", "feature_dim", "pooled_size", "dropout")


def as_signed_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 images scaled to [-1, 1]; float images (already in [-1, 1]) unchanged."""
    return to_signed_unit(images) if images.dtype == torch.uint8 else images.float()


class DomainClassifier:
    """A trained :class:`DomainClassifierNet` with a record of what it was trained on.

    ``info`` holds the dataset name, the data fingerprint, the sizes of the splits, the settings,
    the training time and ``test_accuracy`` on the real test split.
    """

    def __init__(self, net: DomainClassifierNet, info: Mapping) -> None:
        self.net = net.eval().requires_grad_(False)
        self.info = dict(info)

    @property
    def test_accuracy(self) -> float:
        return self.info["test_accuracy"]

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def to(self, device: torch.device | str) -> "DomainClassifier":
        self.net.to(device)
        return self

    @torch.no_grad()
    def classify(self, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """Penultimate features ``[N, feature_dim]`` and predicted classes (int64) of uint8 images or
        floats in [-1, 1], in one pass, on the CPU."""
        features, predicted = [], []
        for part in images.split(batch_size):
            h = self.net.features(as_signed_unit(part.to(self.device)))
            features.append(h.float().cpu())
            predicted.append(self.net.head(h).argmax(1).cpu())
        return torch.cat(features), torch.cat(predicted)

    def features(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Penultimate features (CPU) of uint8 images or floats in [-1, 1]."""
        return self.classify(images, batch_size)[0]

    def predict(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Predicted class (int64, CPU) of each image."""
        return self.classify(images, batch_size)[1]


def fingerprint(splits: Mapping[str, tuple[torch.Tensor, torch.Tensor]], settings: Mapping) -> str:
    """Hex digest of the image and label bytes of every split and of the settings."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps({"version": CLASSIFIER_VERSION, **settings}, sort_keys=True).encode())
    for name in sorted(splits):
        for tensor in splits[name]:
            digest.update(name.encode())
            digest.update(str(tuple(tensor.shape)).encode())
            digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def train_classifier(
    train: tuple[torch.Tensor, torch.Tensor],
    num_classes: int,
    settings: Mapping,
    device: torch.device | str = "cpu",
) -> DomainClassifierNet:
    """Adam on cross-entropy, learning rate annealed to 0 on a cosine over ``settings["epochs"]``
    passes of the uint8 ``train`` split."""
    images, labels = train
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings["seed"])
        net = DomainClassifierNet(num_classes, images.shape[1], **{k: settings[k] for k in ARCHITECTURE_KEYS})
    net.to(device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=settings["lr"])
    steps = settings["epochs"] * -(-len(labels) // settings["batch_size"])
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    order = torch.Generator().manual_seed(settings["seed"])
    for _ in range(settings["epochs"]):
        for idx in torch.randperm(len(labels), generator=order).split(settings["batch_size"]):
            if len(idx) < 2:
                continue
            logits = net(to_signed_unit(images[idx].to(device)))
            loss = F.cross_entropy(logits, labels[idx].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return net.eval()


def load_or_train_classifier(
    name: str,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    num_classes: int,
    settings: Mapping,
    cache_dir: str | Path,
    device: torch.device | str = "cpu",
) -> DomainClassifier:
    """The classifier for these splits from ``cache_dir``, or a newly trained (and cached) one.

    ``settings``: ``widths``, ``feature_dim``, ``pooled_size``, ``dropout`` (architecture) and
    ``epochs``, ``batch_size``, ``lr``, ``seed`` (training).
    """
    settings = dict(settings)
    key = fingerprint({"train": train, "test": test}, settings)
    path = Path(cache_dir) / f"{name}-{key[:16]}.pt"
    channels = train[0].shape[1]
    if path.is_file():
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
            net = DomainClassifierNet(num_classes, channels, **{k: settings[k] for k in ARCHITECTURE_KEYS})
            net.load_state_dict(stored["state_dict"])
            log.info("domain classifier for %s from %s (test accuracy %.4f)", name, path, stored["info"]["test_accuracy"])
            return DomainClassifier(net, stored["info"]).to(device)
        except (RuntimeError, KeyError, OSError, EOFError, pickle.UnpicklingError) as err:
            log.warning("retraining the domain classifier: cached %s is unreadable (%s)", path, err)
    start = time.perf_counter()
    net = train_classifier(train, num_classes, settings, device)
    seconds = time.perf_counter() - start
    classifier = DomainClassifier(net, {})
    accuracy = float((classifier.predict(test[0]) == test[1]).float().mean())
    classifier.info = {
        "dataset": name,
        "fingerprint": key,
        "train_images": len(train[1]),
        "test_images": len(test[1]),
        "test_accuracy": accuracy,
        "train_seconds": round(seconds, 1),
        "settings": settings,
        "cache_file": str(path),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    torch.save({"state_dict": net.state_dict(), "info": classifier.info}, partial)
    partial.replace(path)
    log.info("trained the domain classifier for %s in %.1f s: test accuracy %.4f, cached at %s",
             name, seconds, accuracy, path)
    return classifier


def classifier_for(datamodule, settings: Mapping, cache_dir: str | Path, device: torch.device | str = "cpu") -> DomainClassifier:
    """The domain classifier of a :class:`~condgan.data.base.TensorImageDataModule`'s data:
    trained on its train split, tested on its test split (both loaded here if needed)."""
    datamodule.setup("fit")
    datamodule.setup("test")
    train, test = datamodule.train_set, datamodule.test_set
    return load_or_train_classifier(
        datamodule.name, (train.images, class_column(train.labels)), (test.images, class_column(test.labels)),
        datamodule.num_classes, settings, cache_dir, device,
    )
