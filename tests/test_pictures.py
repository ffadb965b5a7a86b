"""Labelled pictures: every grid with a row per class carries the class names on its left."""

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from PIL import Image

from condgan.callbacks.class_grid import ClassGridCallback
from condgan.errors import ConfigError
from condgan.pipelines.train import train
from condgan.utils.images import GRID_PADDING, class_grid, drawable_label, label_font, labelled_class_grid
from condgan.utils.sampling import grid_samples


def strip_of(labelled: torch.Tensor, plain: torch.Tensor) -> np.ndarray:
    """The label strip of a labelled grid (what lies left of the plain grid), as a gray array."""
    assert labelled.shape[1] == plain.shape[1] and torch.equal(labelled[:, :, -plain.shape[2] :], plain)
    return labelled[0, :, : labelled.shape[2] - plain.shape[2]].numpy()


@pytest.mark.parametrize("size,per_row", [(28, 6), (64, 3)])
def test_each_row_gets_its_label_in_a_strip_left_of_the_grid(size, per_row):
    names = ["T-shirt/top", "Bag", "Ankle boot", "x"]
    images = torch.rand(len(names) * per_row, 1, size, size) * 2 - 1
    plain = class_grid(images, per_row)
    strip = strip_of(labelled_class_grid(images, per_row, names), plain)
    row = size + GRID_PADDING
    inked = [(strip[GRID_PADDING + r * row : (r + 1) * row] < 128).sum() for r in range(len(names))]
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


def test_truncated_noise_redraws_only_the_components_beyond_the_threshold(train_config):
    model = instantiate(train_config().model)
    noise = model.latent(400, torch.Generator().manual_seed(0))
    truncated = model.truncate(noise, 1.0, torch.Generator().manual_seed(1))
    inside = noise.abs() <= 1.0
    assert truncated.abs().max() <= 1.0 and torch.equal(truncated[inside], noise[inside])
    assert 0.25 < (~inside).float().mean() < 0.4 and not torch.equal(truncated, noise)
    seeded = [model.generate([3, 7], 4, torch.Generator().manual_seed(2), truncation=0.5) for _ in range(2)]
    assert torch.equal(*seeded) and not torch.equal(
        seeded[0], model.generate([3, 7], 4, torch.Generator().manual_seed(2))
    )
    for bad in (0, -1.0, "one"):
        with pytest.raises(ConfigError, match="truncation must be a positive number"):
            model.truncate(noise, bad)


def test_a_truncated_class_grid_decodes_the_truncated_noise(train_config):
    model = instantiate(train_config().model)
    images, per_row = grid_samples(model, 3, torch.Generator().manual_seed(0), truncation=1.0)
    generator = torch.Generator().manual_seed(0)
    with model.evaluating():
        noise = model.truncate(model.latent(model.num_classes * 3, generator), 1.0, generator)
        expected = model.decode(noise, model.check_labels(torch.arange(model.num_classes).repeat_interleave(3)))
    assert per_row == 3 and torch.equal(images, expected)
    callback = ClassGridCallback("unused", samples_per_class=3, truncation=1.0)
    assert not torch.equal(callback.grid(model), ClassGridCallback("unused", samples_per_class=3).grid(model))
    with pytest.raises(ConfigError, match="truncation must be a positive number"):
        ClassGridCallback("unused", truncation=0)


def test_the_default_demo_draws_its_grid_from_truncated_noise(train_config):
    cfg = train_config("experiment=glyphs_best")
    assert cfg.callbacks.class_grid.truncation == 1.0 and train_config().callbacks.class_grid.truncation is None
