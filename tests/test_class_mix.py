"""Which classes the scored images come from: generated labels in the reference split's class mix
(reports, the leaderboard's floor and the training-time callback), and a training-time Inception
subset drawn across every class instead of the first classes of a class-grouped set."""

from types import SimpleNamespace

import torch

import condgan.callbacks.domain_metrics as callback_module
from condgan.callbacks import DomainMetricsCallback
from condgan.data.statistics import (
    class_allocation,
    class_column,
    class_counts,
    class_matched_indices,
    per_class_indices,
)
from condgan.models.base import GenerativeModule
from condgan.pipelines.report import generated_counts
from condgan.utils.sampling import generate_counts

NUM_CLASSES = 30


def imbalanced_labels() -> torch.Tensor:
    """Class-sorted labels, class ``c`` holding ``5 + 3c`` images (5 to 92)."""
    return torch.arange(NUM_CLASSES).repeat_interleave(5 + 3 * torch.arange(NUM_CLASSES))


def painted(classes: torch.Tensor) -> torch.Tensor:
    """uint8 4x4 images whose pixels hold their class, so a feature extractor can tell it."""
    return classes.to(torch.uint8)[:, None, None, None].expand(-1, 1, 4, 4).clone()


class ClassPainter(GenerativeModule):
    """A "generator" whose images show their class (uint8 value = class after ``to_uint8``)."""

    def latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.standard_normal(n, 2, generator)

    def decode(self, latent: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        value = class_column(labels).float() / 127.5 - 1
        return value[:, None, None, None].expand(-1, 1, 4, 4) + 0 * latent[:, :1, None, None]


def classes_of(images: torch.Tensor) -> torch.Tensor:
    """The class painted into uint8 (or [-1, 1]) images."""
    pixels = images[:, 0, 0, 0]
    return (pixels if images.dtype == torch.uint8 else (pixels + 1) * 127.5).round().long()


def features_of(images: torch.Tensor) -> torch.Tensor:
    """Distinct features per image that depend on its class."""
    noise = torch.randn(len(images), 4, generator=torch.Generator().manual_seed(len(images)))
    return noise + classes_of(images)[:, None].float()


def test_class_allocation_follows_the_frequencies_and_keeps_every_present_class():
    labels = torch.tensor([0] * 1000 + [1] * 10 + [2] * 3 + [4] * 500)
    shares = class_allocation(labels, 5, 20)
    assert shares.tolist() == [11, 1, 1, 0, 7], "largest remainders, rare classes raised to one, absent stay 0"
    big = class_allocation(labels, 5, 1000)
    assert big.sum() == 1000 and (big - torch.tensor([660.5, 6.6, 2.0, 0, 330.3])).abs().max() < 1
    balanced = torch.arange(10).repeat(600)
    assert class_allocation(balanced, 10, 2000).tolist() == [200] * 10, "balanced sets stay uniform"
    assert class_allocation(labels, 5, 2).tolist() == [1, 0, 0, 0, 1], "too few for every class: the largest"
    assert class_allocation(torch.zeros(0, dtype=torch.long), 5, 10).tolist() == [0] * 5


def test_class_matched_indices_take_the_reference_mix_and_count_tensors_work_per_class():
    reference, labels = imbalanced_labels(), torch.arange(NUM_CLASSES).repeat(50)
    chosen = class_matched_indices(labels, reference, NUM_CLASSES, 300, torch.Generator().manual_seed(0))
    assert torch.equal(class_counts(labels[chosen], NUM_CLASSES), class_allocation(reference, NUM_CLASSES, 300))
    assert per_class_indices(torch.tensor([0, 1, 0, 1, 1]), 3, torch.tensor([1, 3, 0])).tolist() == [0, 1, 3, 4]


def test_generated_labels_follow_the_reference_frequencies_with_attributes_too():
    test = SimpleNamespace(images=painted(imbalanced_labels()), labels=imbalanced_labels())
    datamodule = SimpleNamespace(
        name="imbalanced",
        test_set=test,
        reference_set=lambda split: test,
        reference_name=lambda split: "unpreprocessed imbalanced test split",
    )
    counts = generated_counts(datamodule, NUM_CLASSES, 10)
    assert counts.sum() == 300 and counts.min() >= 1
    assert (
        torch.corrcoef(torch.stack([counts.double(), class_counts(imbalanced_labels(), NUM_CLASSES).double()]))[0, 1]
        > 0.99
    )
    assert generated_counts(None, NUM_CLASSES, 10).tolist() == [10] * NUM_CLASSES, "no data: uniform"
    model = ClassPainter(NUM_CLASSES, attributes={"style": 2})
    images, labels = generate_counts(model, counts, torch.Generator().manual_seed(0), batch_size=64)
    assert labels.shape == (300, 2) and set(labels[:, 1].tolist()) == {0, 1}
    assert torch.equal(class_counts(labels[:, 0], NUM_CLASSES), counts)
    assert torch.equal(classes_of(images), labels[:, 0])


class RecordingClassifier:
    """Stands in for the domain classifier: features that depend on the class, exact predictions."""

    def __init__(self):
        self.classified: list[torch.Tensor] = []

    def to(self, device):
        return self

    def features(self, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        return features_of(images)

    def classify(self, images: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        self.classified.append(classes_of(images))
        return features_of(images), classes_of(images)


class RecordingInception:
    """Stands in for InceptionV3: records the classes of the images it is given."""

    seen: list[torch.Tensor] = []

    def __init__(self, weights_path):
        RecordingInception.seen = []
        self.source = weights_path

    def to(self, device):
        return self

    def extract(self, images: torch.Tensor, batch_size: int = 50) -> torch.Tensor:
        assert images.dtype == torch.uint8
        RecordingInception.seen.append(classes_of(images))
        return features_of(images)


def test_the_training_time_inception_subset_contains_every_class_and_fakes_follow_the_val_mix(monkeypatch):
    classifier = RecordingClassifier()
    monkeypatch.setattr(callback_module, "classifier_for", lambda *args: classifier)
    monkeypatch.setattr(callback_module, "InceptionFeatures", RecordingInception)
    val_labels = imbalanced_labels()  # grouped by class, like generated samples: [:n] sees the first classes only
    val = SimpleNamespace(images=painted(val_labels), labels=val_labels)
    datamodule = SimpleNamespace(val_set=val, reference_set=lambda split: val, num_classes=NUM_CLASSES)
    trainer = SimpleNamespace(
        datamodule=datamodule,
        global_rank=0,
        strategy=SimpleNamespace(root_device=torch.device("cpu"), barrier=lambda name: None),
    )
    callback = DomainMetricsCallback({}, "unused", samples_per_class=20, inception=True, inception_samples=100)
    callback.setup(trainer, None, "fit")
    values = callback.metrics(ClassPainter(NUM_CLASSES))

    real, fake = RecordingInception.seen
    assert len(real) == len(fake) == 100
    assert set(real.tolist()) == set(fake.tolist()) == set(range(NUM_CLASSES)), "every class is scored"
    assert torch.equal(class_counts(real, NUM_CLASSES), class_counts(fake, NUM_CLASSES)), "the same class mix"
    [generated] = classifier.classified
    assert torch.equal(class_counts(generated, NUM_CLASSES), class_allocation(val_labels, NUM_CLASSES, 600))
    assert values["val/cond_acc"] == 1.0 and set(values) == set(DomainMetricsCallback.LOGGED)
