"""The per-dataset domain classifier: trained once on the real training split as the dataset stores
it (no ``data.preprocess``), cached on disk under a fingerprint of the data and of its settings, so
a changed dataset (or setting) trains a new one and every experiment on a dataset shares one.

Its objective is the class, or for a one-class dataset (where cross-entropy on one logit has no
gradient and the net would stay at its random initialisation) the self-supervised prediction of
by how many quarter turns an image was rotated.
"""

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
from condgan.data.cache import save_atomically
from condgan.errors import ConfigError
from condgan.nets.classifier import DomainClassifierNet

log = logging.getLogger(__name__)

# bump when the training procedure changes, so stale caches are not reused
# (2: one-class datasets train on rotation prediction instead of staying random)
CLASSIFIER_VERSION = 2
ARCHITECTURE_KEYS = ("widths", "feature_dim", "pooled_size", "dropout")
ROTATIONS = 4
OBJECTIVES = {
    "classes": "class prediction",
    "rotation": "rotation prediction (0/90/180/270 degrees, self-supervised)",
}


def resolve_objective(setting: str, num_classes: int) -> str:
    """``metrics.classifier.objective``: ``classes``, ``rotation``, or ``auto`` (classes with two or
    more classes, rotation for one class)."""
    if setting == "auto":
        return "classes" if num_classes > 1 else "rotation"
    if setting not in OBJECTIVES:
        raise ConfigError(f"metrics.classifier.objective={setting!r}: use auto, classes or rotation")
    if setting == "classes" and num_classes < 2:
        raise ConfigError("metrics.classifier.objective=classes needs two or more classes; use auto or rotation")
    return setting


def head_size(objective: str, num_classes: int) -> int:
    """Outputs of the classifier's head: one per class, or one per quarter turn."""
    return num_classes if objective == "classes" else ROTATIONS


def rotated(images: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Each square image ``[N, C, S, S]`` rotated counter-clockwise by its number of quarter ``turns``."""
    out = images.clone()
    for k in range(1, ROTATIONS):
        chosen = turns == k
        out[chosen] = torch.rot90(images[chosen], k, dims=(2, 3))
    return out


def task_batch(
    images: torch.Tensor, labels: torch.Tensor, objective: str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets of one training batch: the images and their classes, or (``rotation``)
    each image rotated by a random number of quarter turns drawn from ``generator``, and that number."""
    if objective == "classes":
        return images, labels
    turns = torch.randint(0, ROTATIONS, (len(images),), generator=generator).to(images.device)
    return rotated(images, turns), turns


def as_signed_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 images scaled to [-1, 1]; float images (already in [-1, 1]) unchanged."""
    return to_signed_unit(images) if images.dtype == torch.uint8 else images.float()


class DomainClassifier:
    """A trained :class:`DomainClassifierNet` with a record of what it was trained on.

    ``info`` holds the dataset name, the data fingerprint, the sizes of the splits, the settings
    (``objective`` resolved), the training time and ``test_accuracy`` at the objective's task on the
    real test split (rotation: each test image in all four orientations).
    """

    def __init__(self, net: DomainClassifierNet, info: Mapping) -> None:
        self.net = net.eval().requires_grad_(False)
        self.info = dict(info)

    @property
    def test_accuracy(self) -> float:
        """Accuracy on the dataset's test split, of its objective (classes or rotations)."""
        return self.info["test_accuracy"]

    @property
    def objective(self) -> str:
        """What the head learned: ``classes`` or ``rotation``."""
        return self.info["settings"]["objective"]

    @property
    def predicts_classes(self) -> bool:
        """Whether the head predicts the class (so conditional accuracy means something)."""
        return self.objective == "classes"

    @property
    def device(self) -> torch.device:
        """Where the network's parameters are."""
        return next(self.net.parameters()).device

    def to(self, device: torch.device | str) -> "DomainClassifier":
        """Move the network to ``device``; returns this classifier."""
        self.net.to(device)
        return self

    @torch.no_grad()
    def outputs(self, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """Penultimate features ``[N, feature_dim]`` and the head's choice (int64: the class, or the
        quarter turns) of uint8 images or floats in [-1, 1], in one pass, on the CPU."""
        features, chosen = [], []
        for part in images.split(batch_size):
            h = self.net.features(as_signed_unit(part.to(self.device)))
            features.append(h.float().cpu())
            chosen.append(self.net.head(h).argmax(1).cpu())
        return torch.cat(features), torch.cat(chosen)

    def classify(self, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Features and predicted classes (None unless :attr:`predicts_classes`) in one pass."""
        features, chosen = self.outputs(images, batch_size)
        return features, chosen if self.predicts_classes else None

    def features(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Penultimate features (CPU) of uint8 images or floats in [-1, 1]."""
        return self.outputs(images, batch_size)[0]

    def predict(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor | None:
        """Predicted class (int64, CPU) of each image; None unless :attr:`predicts_classes`."""
        return self.classify(images, batch_size)[1]

    def task_accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        """Accuracy at the objective's task: the classes of ``images``, or the quarter turns of every
        image rotated each of the four ways."""
        if self.predicts_classes:
            return float((self.predict(images) == labels).float().mean())
        hits = [(self.outputs(torch.rot90(images, k, dims=(2, 3)))[1] == k).float().mean() for k in range(ROTATIONS)]
        return float(torch.stack(hits).mean())


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


def classifier_net(num_classes: int, channels: int, settings: Mapping) -> DomainClassifierNet:
    """The network ``settings`` describe, initialised from ``settings["seed"]`` without drawing
    from the caller's random state (loading a cached classifier must not change a run's noise)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings["seed"])
        return DomainClassifierNet(
            head_size(settings["objective"], num_classes), channels, **{k: settings[k] for k in ARCHITECTURE_KEYS}
        )


def train_classifier(
    train: tuple[torch.Tensor, torch.Tensor],
    num_classes: int,
    settings: Mapping,
    device: torch.device | str = "cpu",
) -> DomainClassifierNet:
    """Adam on cross-entropy at the task of ``settings["objective"]`` (:func:`task_batch`), learning
    rate annealed to 0 on a cosine over ``settings["epochs"]`` passes of the uint8 ``train`` split.
    Seeded by ``settings["seed"]`` (weights, batch order, dropout), it leaves the caller's random
    state as it was: a training run that trains the classifier on its first validation draws the
    same noise as one that finds it cached."""
    device = torch.device(device)
    cuda_devices = (
        [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    )
    images, labels = train
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(settings["seed"])
        net = classifier_net(num_classes, images.shape[1], settings).to(device).train()
        optimizer = torch.optim.Adam(net.parameters(), lr=settings["lr"])
        steps = settings["epochs"] * -(-len(labels) // settings["batch_size"])
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        order = torch.Generator().manual_seed(settings["seed"])
        for _ in range(settings["epochs"]):
            for idx in torch.randperm(len(labels), generator=order).split(settings["batch_size"]):
                if len(idx) < 2:
                    continue
                batch = to_signed_unit(images[idx].to(device)), labels[idx].to(device)
                inputs, targets = task_batch(*batch, settings["objective"], order)
                loss = F.cross_entropy(net(inputs), targets)
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

    ``settings``: ``widths``, ``feature_dim``, ``pooled_size``, ``dropout`` (architecture),
    ``epochs``, ``batch_size``, ``lr``, ``seed`` (training) and ``objective`` (:func:`resolve_objective`;
    ``auto`` when absent).
    """
    settings = {**settings, "objective": resolve_objective(settings.get("objective", "auto"), num_classes)}
    key = fingerprint({"train": train, "test": test}, settings)
    path = Path(cache_dir) / f"{name}-{key[:16]}.pt"
    channels = train[0].shape[1]
    if path.is_file():
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
            net = classifier_net(num_classes, channels, settings)
            net.load_state_dict(stored["state_dict"])
            log.info(
                "domain classifier for %s from %s (test accuracy %.4f)", name, path, stored["info"]["test_accuracy"]
            )
            return DomainClassifier(net, stored["info"]).to(device)
        except (RuntimeError, KeyError, OSError, EOFError, pickle.UnpicklingError) as err:
            log.warning("retraining the domain classifier: cached %s is unreadable (%s)", path, err)
    start = time.perf_counter()
    net = train_classifier(train, num_classes, settings, device)
    seconds = time.perf_counter() - start
    classifier = DomainClassifier(net, {"settings": settings})
    accuracy = classifier.task_accuracy(*test)
    classifier.info = {
        "dataset": name,
        "fingerprint": key,
        "objective": OBJECTIVES[settings["objective"]],
        "train_images": len(train[1]),
        "test_images": len(test[1]),
        "test_accuracy": accuracy,
        "train_seconds": round(seconds, 1),
        "settings": settings,
        "cache_file": str(path),
    }
    save_atomically({"state_dict": net.state_dict(), "info": classifier.info}, path)
    log.info(
        "trained the domain classifier (%s) for %s in %.1f s: test accuracy %.4f, cached at %s",
        settings["objective"],
        name,
        seconds,
        accuracy,
        path,
    )
    return classifier


def classifier_for(
    datamodule, settings: Mapping, cache_dir: str | Path, device: torch.device | str = "cpu"
) -> DomainClassifier:
    """The domain classifier of a :class:`~condgan.data.base.TensorImageDataModule`'s data: trained
    on its train split and tested on its test split, both without the experiment's preprocessing
    (:meth:`~condgan.data.base.TensorImageDataModule.reference_set`), so every experiment on the
    dataset at one image size gets the same one."""
    train, test = datamodule.reference_set("train"), datamodule.reference_set("test")
    return load_or_train_classifier(
        datamodule.name,
        (train.images, train.labels),
        (test.images, test.labels),
        datamodule.num_classes,
        settings,
        cache_dir,
        device,
    )
