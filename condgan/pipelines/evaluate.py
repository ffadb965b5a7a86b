"""Evaluation of one checkpoint: a class grid PNG, an ``.npz`` of samples per class, metrics.

``samples.npz`` holds ``images`` (uint8 ``[N, H, W, C]``), ``labels`` (int64 ``[N]``) and
``class_names``, readable by numpy alone. Metrics compare the samples with the test split of the
training data, rebuilt from the checkpoint; when that data is not on this machine they are
skipped, with the reason in ``summary.json``.
"""

import json
import logging
from pathlib import Path

import hydra
import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig

from condgan.errors import CondganError
from condgan.metrics import intensity_divergences
from condgan.models import load_generative_model
from condgan.models.base import CHECKPOINT_KEY
from condgan.models.checkpoint import import_class, read_checkpoint
from condgan.pipelines.common import CONFIG_DIR, reporting_user_errors
from condgan.utils.images import class_grid, save_png, to_uint8
from condgan.utils.sampling import generate_per_class

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def class_names_of(checkpoint: dict, num_classes: int) -> list[str]:
    """Class names the training data declared (saved with the DataModule's hyperparameters)."""
    names = (checkpoint.get("datamodule_hyper_parameters") or {}).get("class_names")
    return list(names) if names else [str(i) for i in range(num_classes)]


def export_samples(images: torch.Tensor, labels: torch.Tensor, path: Path, class_names: list[str]) -> Path:
    np.savez_compressed(
        path,
        images=to_uint8(images).permute(0, 2, 3, 1).numpy(),
        labels=labels.numpy(),
        class_names=np.array(class_names),
    )
    return path


def real_test_images(checkpoint: dict) -> torch.Tensor:
    """The uint8 test split of the data the checkpoint was trained on."""
    path = checkpoint[CHECKPOINT_KEY].get("datamodule_class")
    if path is None:
        raise CondganError("the checkpoint does not record its DataModule")
    datamodule = import_class(path, L.LightningDataModule)(**checkpoint["datamodule_hyper_parameters"])
    datamodule.prepare_data()
    datamodule.setup("test")
    return datamodule.test_set.images


def metrics_of(checkpoint: dict, generated: torch.Tensor, bins: int) -> dict:
    """Every metric with its protocol, or ``{"skipped": reason}`` when the real data is unavailable."""
    try:
        real = real_test_images(checkpoint)
    except CondganError as err:
        log.warning("metrics skipped: %s", err)
        return {"skipped": " ".join(str(err).split())}
    return {
        "pixel_intensity": {
            **intensity_divergences(real, generated, bins),
            "protocol": {"real": f"test split, {len(real)} images", "generated": len(generated), "bins": bins},
        }
    }


def evaluate(cfg: DictConfig) -> dict:
    """Write ``class_grid.png``, ``samples.npz`` and ``summary.json`` (with metrics) to the run folder."""
    checkpoint = read_checkpoint(cfg.ckpt_path)
    model = load_generative_model(checkpoint, resolve_device(cfg.device))
    out = Path(cfg.paths.output_dir)
    names = class_names_of(checkpoint, model.num_classes)
    generator = torch.Generator().manual_seed(cfg.seed)
    grid = class_grid(
        model.generate(range(model.num_classes), cfg.grid_samples_per_class, generator=generator),
        cfg.grid_samples_per_class,
    )
    images, labels = generate_per_class(
        model, cfg.samples_per_class, torch.Generator().manual_seed(cfg.seed), cfg.batch_size
    )
    summary = {
        "checkpoint": str(Path(cfg.ckpt_path).resolve()),
        "model": type(model).__name__,
        "epochs_trained": checkpoint.get("epoch"),
        "global_step": checkpoint.get("global_step"),
        "class_names": names,
        "class_grid": str(save_png(grid, out / "class_grid.png")),
        "samples": str(export_samples(images, labels, out / "samples.npz", names)),
        "samples_per_class": cfg.samples_per_class,
        "metrics": metrics_of(checkpoint, images, cfg.intensity_bins),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    log.info("wrote %s and %s", summary["class_grid"], summary["samples"])
    return summary


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
@reporting_user_errors
def main(cfg: DictConfig) -> None:
    evaluate(cfg)
