"""Labelled pictures: every grid with a row per class carries the class names on its left."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from condgan.callbacks.class_grid import ClassGridCallback
from condgan.pipelines.train import train
from condgan.utils.images import GRID_PADDING, class_grid, drawable_label, label_font, labelled_class_grid


def strip_of(labelled: torch.Tensor, plain: torch.Tensor) -> np.ndarray:
    """The label strip of a labelled grid (what lies left of the plain grid), as a gray array."""
    assert labelled.shape[1] == plain.shape[1] and torch.equal(labelled[:, :, -plain.shape[2]:], plain)
    return labelled[0, :, : labelled.shape[2] - plain.shape[2]].numpy()


@pytest.mark.parametrize("size,per_row", [(28, 6), (64, 3)])
def test_each_row_gets_its_label_in_a_strip_left_of_the_grid(size, per_row):
    names = ["T-shirt/top", "Bag", "Ankle boot", "x"]
    images = torch.rand(len(names) * per_row, 1, size, size) * 2 - 1
    plain = class_grid(images, per_row)
    strip = strip_of(labelled_class_grid(images, per_row, names), plain)
    row = size + GRID_PADDING
    inked = [(strip[GRID_PADDING + r * row: (r + 1) * row] < 128).sum() for r in range(len(names))]
    assert all(count > 0 for count in inked), "every row has its label"
    assert inked[0] > inked[3] and inked[2] > inked[1], "longer names draw more"
    font = label_font(min(24, max(9, round(row * 0.45))))
    assert strip.shape[1] >= max(font.getlength(name) for name in names)
    assert labelled_class_grid(images, per_row, None).shape == plain.shape


def test_names_the_font_cannot_draw_become_romaji_or_code_points():
    font = label_font(12)
    assert drawable_label("あ", font) == "a" and drawable_label("を", font) == "wo"
    assert drawable_label("ゝ", font) == "U+309D" and drawable_label("Ankle boot", font) == "Ankle boot"


def test_epoch_grids_of_a_run_are_labelled_with_the_datasets_class_names(train_config):
    cfg = train_config("debug=limit", "trainer.max_epochs=1", "trainer.limit_train_batches=1")
    trainer = train(cfg)
    model, names = trainer.lightning_module, trainer.datamodule.class_names
    [path] = (Path(cfg.paths.output_dir) / "grids").glob("epoch_*.png")
    saved = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)
    callback = next(c for c in trainer.callbacks if isinstance(c, ClassGridCallback))
    assert torch.equal(saved, callback.grid(model, names))
    per_row = callback.samples_per_class
    assert saved.shape[2] > class_grid(torch.zeros(model.num_classes * per_row, 1, 28, 28), per_row).shape[2]
