"""``evaluate.py task=eda data=<name>``: the EMNIST report's exploratory plots for any dataset.

Writes ``class_counts.png`` (images per class), ``class_mean_distance.png`` (each image's RMS
distance from its class's mean image, with the outlier threshold), ``outliers.png`` (the images
that threshold would drop, farthest first), ``mean_intensity.png`` (average pixel value per
class), ``samples.png`` (a few real images per class) and ``eda.json`` with the numbers.
"""

import json
import logging
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig

from condgan.data.base import TensorImageDataModule, to_signed_unit
from condgan.data.statistics import (
    class_counts,
    class_mean_distances,
    mean_intensity_per_class,
    outlier_thresholds,
)
from condgan.errors import ConfigError
from condgan.utils.images import class_grid, real_class_grid, save_png
from condgan.utils.plots import bar_chart, per_class_distributions

log = logging.getLogger(__name__)


def explore(cfg: DictConfig) -> dict:
    """Plots and numbers of the configured dataset's training split (before the val split)."""
    if cfg.get("data") is None:
        raise ConfigError(
            "task=eda needs a dataset: python evaluate.py task=eda data=<glyphs|mnist|fashion_mnist|emnist|...>"
        )
    datamodule = hydra.utils.instantiate(cfg.data)
    if not isinstance(datamodule, TensorImageDataModule):
        raise ConfigError(
            f"task=eda explores labelled image sets, not data={datamodule.name}; explore its digits with "
            "data=glyph_digits or data=mnist"
        )
    datamodule.prepare_data()
    images, labels = datamodule.load_split(train=True)
    k, names, out = datamodule.num_classes, datamodule.class_names, Path(cfg.paths.output_dir)
    counts = class_counts(labels, k)
    distances = class_mean_distances(images, labels, k)
    thresholds = outlier_thresholds(distances, labels, k, cfg.eda.outlier_std)
    outliers = torch.nonzero(distances > thresholds[labels]).flatten()
    outliers = outliers[distances[outliers].argsort(descending=True)]
    intensity = mean_intensity_per_class(images, labels, k)
    pictures = {
        "class_counts": bar_chart(
            counts.tolist(), names, f"{datamodule.name}: images per class", "images", out / "class_counts.png"
        ),
        "class_mean_distance": per_class_distributions(
            [distances[labels == c].numpy() for c in range(k)],
            names,
            f"{datamodule.name}: RMS distance from the class mean image",
            "distance (0..255)",
            out / "class_mean_distance.png",
            thresholds.tolist(),
        ),
        "mean_intensity": bar_chart(
            intensity.tolist(),
            names,
            f"{datamodule.name}: average pixel intensity per class",
            "mean pixel (0..255)",
            out / "mean_intensity.png",
        ),
    }
    pictures["samples"] = save_png(
        real_class_grid(images, labels, names, cfg.eda.samples_per_class), out / "samples.png"
    )
    if len(outliers):
        worst = outliers[: cfg.eda.outliers_shown]
        pictures["outliers"] = save_png(class_grid(to_signed_unit(images[worst]), 16), out / "outliers.png")
    result = {
        "dataset": datamodule.name,
        "split": "train (before the validation split)",
        "images": len(labels),
        "class_names": names,
        "images_per_class": counts.tolist(),
        "mean_intensity_per_class": intensity.tolist(),
        "outlier_rule": f"RMS distance from the class mean image > class mean + {cfg.eda.outlier_std} std",
        "outlier_thresholds": thresholds.tolist(),
        "outliers": len(outliers),
        "outliers_per_class": class_counts(labels[outliers], k).tolist(),
        "pictures": {name: str(path) for name, path in pictures.items()},
    }
    (out / "eda.json").write_text(json.dumps(result, indent=2))
    log.info("EDA of %s (%d images, %d outliers): %s", datamodule.name, len(labels), len(outliers), out)
    return result
