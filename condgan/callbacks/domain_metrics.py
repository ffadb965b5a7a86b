"""Sample-quality metrics during training: domain FID and conditional accuracy of a fixed
noise/label set, logged so dashboards plot them and ModelCheckpoint can keep the best epoch."""

import logging
from collections.abc import Mapping

import lightning as L
import torch
from typing_extensions import override

from condgan.data.statistics import class_allocation, class_column, class_matched_indices
from condgan.errors import ConfigError, InceptionUnavailableError
from condgan.metrics.classifier import DomainClassifier, classifier_for
from condgan.metrics.inception import InceptionFeatures, inception_enabled
from condgan.metrics.scores import conditional_accuracy, frechet_distance
from condgan.utils.images import to_uint8
from condgan.utils.sampling import generate_counts

log = logging.getLogger(__name__)


class DomainMetricsCallback(L.Callback):
    """Every ``every_n_epochs`` validation epochs, generates ``samples_per_class`` images per class
    on average from a generator seeded with ``seed``, their labels following the validation split's
    class frequencies (:func:`~condgan.data.statistics.class_allocation`), and logs, against that split
    as the dataset stores it (no ``data.preprocess``: ``reference_set("val")``):

    - ``val/fid_domain``: FID on the features of the dataset's domain classifier,
    - ``val/cond_acc``: share of samples the classifier assigns to their label (not for one-class
      data, whose classifier predicts rotations),
    - ``val/fid_inception``: InceptionV3 FID of up to ``inception_samples`` validation and as many
      generated images, both drawn across the classes in the validation split's class mix, when
      ``inception`` is true, or ``"auto"`` and the model is on a GPU (where missing weights only
      turn it off).

    The classifier is trained on the first run for a dataset and cached under ``cache_dir``
    (rank 0 trains, the other ranks then load it). Every rank computes the same numbers.
    """

    LOGGED = ("val/fid_domain", "val/cond_acc", "val/fid_inception")

    def __init__(
        self,
        classifier: Mapping,
        cache_dir: str,
        samples_per_class: int = 100,
        every_n_epochs: int = 1,
        seed: int = 0,
        batch_size: int = 500,
        inception: bool | str = False,
        inception_weights_path: str | None = None,
        inception_samples: int = 1000,
    ) -> None:
        self.settings = dict(classifier)
        self.cache_dir = cache_dir
        self.samples_per_class = samples_per_class
        self.every_n_epochs = every_n_epochs
        self.seed = seed
        self.batch_size = batch_size
        self.inception = inception
        self.inception_weights_path = inception_weights_path
        self.inception_samples = inception_samples
        self.classifier: DomainClassifier | None = None
        self.real_features: torch.Tensor | None = None
        self.real_labels: torch.Tensor | None = None
        self.extractor: InceptionFeatures | None = None
        self.real_inception: torch.Tensor | None = None

    @override
    def setup(self, trainer: L.Trainer, pl_module, stage: str) -> None:
        if stage != "fit" or self.classifier is not None:
            return
        datamodule, device = trainer.datamodule, trainer.strategy.root_device
        val = datamodule.reference_set("val")
        if len(val.labels) == 0:
            raise ConfigError(
                "the validation split is empty (data.val_fraction=0?) and callbacks.domain_metrics scores "
                "samples against it: set data.val_fraction > 0, or also callbacks.domain_metrics=null "
                "callbacks.model_checkpoint_best=null to train without validation metrics"
            )
        for rank_turn in (True, False):
            if (trainer.global_rank == 0) == rank_turn:
                self.classifier = classifier_for(datamodule, self.settings, self.cache_dir, device)
            if rank_turn:
                trainer.strategy.barrier("domain_classifier")
        self.real_features = self.classifier.features(val.images, self.batch_size)
        self.real_labels = class_column(val.labels)
        if inception_enabled(self.inception, device):
            try:
                self.extractor = InceptionFeatures(self.inception_weights_path).to(device)
            except InceptionUnavailableError as err:
                if self.inception is True:
                    raise
                log.warning("val/fid_inception is off: %s", err)
                return
            chosen = class_matched_indices(
                self.real_labels,
                self.real_labels,
                datamodule.num_classes,
                self.inception_samples,
                torch.Generator().manual_seed(self.seed),
            )
            self.real_inception = self.extractor.extract(val.images[chosen])

    def metrics(self, pl_module) -> dict[str, float]:
        """This epoch's values by log name: samples of the fixed noise/label set scored against the validation split."""
        k = pl_module.num_classes
        counts = class_allocation(self.real_labels, k, k * self.samples_per_class)
        images, labels = generate_counts(pl_module, counts, torch.Generator().manual_seed(self.seed), self.batch_size)
        self.classifier.to(pl_module.device)
        features, predicted = self.classifier.classify(images, self.batch_size)
        values = {"val/fid_domain": frechet_distance(self.real_features, features)}
        if predicted is not None:
            values["val/cond_acc"] = conditional_accuracy(predicted, class_column(labels))
        if self.extractor is not None:
            chosen = class_matched_indices(class_column(labels), self.real_labels, k, self.inception_samples)
            fake = self.extractor.extract(to_uint8(images[chosen]))
            values["val/fid_inception"] = frechet_distance(self.real_inception, fake)
        return values

    @override
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        if trainer.sanity_checking or self.classifier is None:
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs and not trainer.fast_dev_run:
            return
        for name, value in self.metrics(pl_module).items():
            pl_module.log(name, value, on_epoch=True, prog_bar=name == "val/fid_domain")
