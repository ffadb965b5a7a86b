"""Conditioning on several attributes: the class plus the thick/thin style, for every family."""

import pytest
import torch

from condgan.errors import LabelRangeError
from condgan.pipelines.train import train
from condgan.utils.sampling import generate_per_class, grid_samples
from tests.test_configs import image_options

STYLE = "data.attributes={style:2}"


@pytest.mark.parametrize("model", image_options("model"))
def test_every_family_trains_and_generates_on_class_and_style(train_config, model):
    trainer = train(train_config(f"model={model}", STYLE, "debug=fdr"))
    module = trainer.lightning_module
    assert module.label_sizes == [26, 2] and module.attributes == {"style": 2}
    images = module.generate([[3, 1], [0, 0]], 2)
    assert images.shape == (4, 1, 28, 28) and images.abs().max() <= 1
    with pytest.raises(LabelRangeError, match=r"labels=\[\[<class>, <style>\], \.\.\.\]"):
        module.generate([3, 0])
    with pytest.raises(LabelRangeError, match="style label 2 is outside 0..1"):
        module.generate([[3, 2]])
    with pytest.raises(LabelRangeError, match="label 26 is outside 0..25"):
        module.generate([[26, 0]])


def test_style_changes_the_image_and_grids_show_each_style_with_the_same_noise(train_config):
    trainer = train(train_config("model=cgan", STYLE, "debug=fdr"))
    model = trainer.lightning_module
    images, per_row = grid_samples(model, 3, torch.Generator().manual_seed(0))
    assert per_row == 6 and images.shape == (26 * 6, 1, 28, 28)
    with model.evaluating():
        z = model.latent(26 * 3, torch.Generator().manual_seed(0))[:3]
        thin = model.decode(z, torch.tensor([[0, 0]] * 3))
        thick = model.decode(z, torch.tensor([[0, 1]] * 3))
    torch.testing.assert_close(images[:3], thin)
    torch.testing.assert_close(images[3:6], thick)
    assert (thin - thick).abs().max() > 1e-4
    _, labels = generate_per_class(model, 4)
    assert labels.shape == (26 * 4, 2) and labels[:4].tolist() == [[0, 0], [0, 1], [0, 0], [0, 1]]


@pytest.mark.slow
def test_a_style_conditioned_gan_draws_thicker_strokes_for_the_thick_style(train_config):
    cfg = train_config(
        "model=cgan",
        STYLE,
        "trainer.max_epochs=6",
        "data.samples_per_class=60",
        "callbacks.domain_metrics=null",
        "callbacks.model_checkpoint_best=null",
    )
    model = train(cfg).lightning_module
    classes = torch.arange(26).repeat_interleave(20)
    with model.evaluating():
        z = model.latent(len(classes), torch.Generator().manual_seed(0))
        ink = [
            (model.decode(z, torch.stack([classes, torch.full_like(classes, style)], 1)) > 0).float().mean().item()
            for style in (0, 1)
        ]
    assert ink[1] > ink[0] * 1.1, f"thick ink {ink[1]:.3f} vs thin {ink[0]:.3f}"


def test_a_style_conditioned_checkpoint_gets_a_full_report(train_config, tmp_path, data_dir):
    import numpy as np

    from condgan.pipelines.evaluate import evaluate
    from tests.conftest import compose_config

    train(train_config("model=cvae", STYLE, "debug=limit", "trainer.max_epochs=1"))
    cfg = compose_config(
        "eval",
        [
            f"ckpt_path={tmp_path}",
            "samples_per_class=4",
            "device=cpu",
            "metrics.kid_subset_size=20",
            "metrics.kid_subsets=2",
        ],
        tmp_path / "eval",
        data_dir,
    )
    report = evaluate(cfg)
    assert report["attributes"] == {"style": 2} and len(report["metrics"]["domain"]["per_class_fid"]) == 26
    samples = np.load(tmp_path / "eval" / "samples.npz")
    assert samples["labels"].shape == (104, 2) and list(samples["label_columns"]) == ["class", "style"]
    for name in ("class_grid", "latent_interpolation", "label_interpolation", "reconstructions"):
        assert (tmp_path / "eval" / f"{name}.png").is_file(), name
