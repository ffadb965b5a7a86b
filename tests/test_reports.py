"""Pieces of evaluation reports: interpolation strips, soft labels, EDA statistics and plots, and
the consistency check between the best-checkpoint callback and the metrics callback."""

import json

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf

from condgan.data.statistics import (
    class_counts,
    class_mean_distances,
    distance_outliers,
    mean_intensity_per_class,
)
from condgan.errors import CheckpointError, ConfigError, LabelRangeError
from condgan.pipelines.evaluate import evaluate
from condgan.pipelines.report import find_checkpoints
from condgan.pipelines.train import train
from condgan.utils.interpolation import label_interpolation, latent_interpolation, slerp
from tests.conftest import compose_config
from tests.test_configs import image_options


@pytest.mark.parametrize("model", image_options("model"))
def test_one_hot_label_weights_decode_like_integer_labels(model, tmp_path):
    cfg = compose_config("train", [f"model={model}"], tmp_path, tmp_path)
    module = instantiate(OmegaConf.to_container(cfg.model, resolve=True)).eval()
    labels = torch.tensor([0, 3, 7])
    with torch.no_grad():
        z = module.latent(3, torch.Generator().manual_seed(0))
        hard = module.decode(z, labels)
        soft = module.decode(z, F.one_hot(labels, module.num_classes).float())
    torch.testing.assert_close(hard, soft, rtol=1e-4, atol=1e-5)


def test_interpolation_strips_start_and_end_at_their_endpoints(tmp_path):
    cfg = compose_config("train", ["model=cgan"], tmp_path, tmp_path)
    model = instantiate(OmegaConf.to_container(cfg.model, resolve=True))
    steps = 5
    strip = label_interpolation(model, [(1, 4), (2, 2)], steps, torch.Generator().manual_seed(0))
    assert strip.shape == (2 * steps, 1, 28, 28)
    z = model.latent(2, torch.Generator().manual_seed(0))
    with model.evaluating():
        torch.testing.assert_close(strip[0], model.decode(z[:1], torch.tensor([1]))[0])
        torch.testing.assert_close(strip[steps - 1], model.decode(z[:1], torch.tensor([4]))[0])
    assert (strip[1] - strip[0]).abs().max() > 1e-4, "the label moves between the endpoints"
    torch.testing.assert_close(strip[steps], strip[2 * steps - 1])
    latent = latent_interpolation(model, [0, 5], steps, torch.Generator().manual_seed(0))
    assert latent.shape == (2 * steps, 1, 28, 28) and not torch.allclose(latent[0], latent[steps - 1])
    with pytest.raises(LabelRangeError):
        label_interpolation(model, [(0, 99)], steps)


def test_slerp_keeps_the_norm_between_equal_norm_endpoints():
    a, b = torch.randn(4, 16), torch.randn(4, 16)
    b = b / b.norm(dim=1, keepdim=True) * a.norm(dim=1, keepdim=True)
    path = slerp(a, b, torch.linspace(0, 1, 7))
    torch.testing.assert_close(path[:, 0], a)
    torch.testing.assert_close(path[:, -1], b)
    torch.testing.assert_close(path.norm(dim=2), a.norm(dim=1, keepdim=True).expand(4, 7))


def test_class_statistics_and_distance_outliers():
    labels = torch.tensor([0] * 30 + [1] * 20)
    images = torch.full((50, 1, 4, 4), 100, dtype=torch.uint8)
    images[30:] = 200
    images[:30, 0, 0, 0] = torch.arange(30, dtype=torch.uint8) % 3 + 99  # small spread within class 0
    images[7] = 0  # far from its class mean
    assert class_counts(labels, 3).tolist() == [30, 20, 0]
    intensity = mean_intensity_per_class(images, labels, 3)
    assert intensity[1] == 200 and 90 < intensity[0] < 100 and torch.isnan(intensity[2])
    distances = class_mean_distances(images, labels, 3)
    assert distances.argmax() == 7 and distances[30:].abs().max() == 0
    assert torch.nonzero(distance_outliers(images, labels, 3, num_std=3.0)).flatten().tolist() == [7]


def test_eda_task_writes_the_plots_and_counts_of_a_dataset(tmp_path, data_dir):
    cfg = compose_config(
        "eval", ["task=eda", "data=glyphs", "data.samples_per_class=24", "eda.outlier_std=2.0"], tmp_path, data_dir
    )
    result = evaluate(cfg)
    assert result["dataset"] == "glyphs" and result["images_per_class"] == [24] * 26
    assert result["images"] == 624 and len(result["mean_intensity_per_class"]) == 26
    assert 0 < result["outliers"] == sum(result["outliers_per_class"]) < 624 * 0.1
    for name in ("class_counts", "class_mean_distance", "mean_intensity", "samples", "outliers"):
        assert (tmp_path / f"{name}.png").is_file(), name
    assert json.loads((tmp_path / "eda.json").read_text())["outliers"] == result["outliers"]


def test_a_best_checkpoint_by_fid_without_the_metrics_callback_is_a_config_error(train_config):
    with pytest.raises(ConfigError, match="callbacks.model_checkpoint_best=null"):
        train(train_config("debug=fdr", "callbacks.domain_metrics=null"))


def test_no_validation_split_is_refused_while_a_callback_scores_against_it(train_config, tmp_path):
    with pytest.raises(ConfigError, match=r"validation split is empty .* set data.val_fraction > 0, or also"):
        train(train_config("debug=limit", "trainer.max_epochs=1", "data.val_fraction=0"))
    assert not list(tmp_path.rglob("*.ckpt"))
    trainer = train(
        train_config(
            "debug=limit",
            "trainer.max_epochs=1",
            "data.val_fraction=0",
            "callbacks.domain_metrics=null",
            "callbacks.model_checkpoint_best=null",
        )
    )
    assert trainer.state.finished and (tmp_path / "checkpoints" / "last.ckpt").is_file()


def test_folders_report_each_runs_chosen_checkpoint_else_its_last(tmp_path, caplog):
    for run, names in {"0": ("best", "last"), "1": ("last",), "2": ()}.items():
        (tmp_path / "sweep" / run / "checkpoints").mkdir(parents=True)
        for name in names:
            (tmp_path / "sweep" / run / "checkpoints" / f"{name}.ckpt").touch()
    sweep = tmp_path / "sweep"
    assert find_checkpoints(sweep, "best") == [sweep / "0/checkpoints/best.ckpt", sweep / "1/checkpoints/last.ckpt"]
    assert "has no checkpoints/best.ckpt: using its last.ckpt" in caplog.text
    assert f"{sweep / '2'} skipped: no checkpoints/best.ckpt or last.ckpt" in caplog.text
    assert find_checkpoints(sweep / "1", "best") == [sweep / "1/checkpoints/last.ckpt"]
    with pytest.raises(CheckpointError, match="no checkpoints/best.ckpt or last.ckpt"):
        find_checkpoints(sweep / "2", "best")
    with pytest.raises(CheckpointError, match="no checkpoints/last.ckpt under"):
        find_checkpoints(sweep / "2", "last")


def test_a_report_computes_the_metric_suites_metrics_report_names_in_its_order(train_config, tmp_path, data_dir):
    train(
        train_config(
            "debug=limit",
            "trainer.max_epochs=1",
            "callbacks.domain_metrics=null",
            "callbacks.model_checkpoint_best=null",
        )
    )
    cache = tmp_path / "classifiers"
    overrides = [f"ckpt_path={tmp_path}", "samples_per_class=2", "device=cpu", f"metrics.classifier_cache_dir={cache}"]
    report = evaluate(
        compose_config("eval", [*overrides, "metrics.report=[ink,pixel_intensity]"], tmp_path / "a", data_dir)
    )
    assert list(report["metrics"]) == ["ink", "pixel_intensity"]
    assert report["metrics"]["pixel_intensity"]["js"] >= 0 and "one_piece" in report["metrics"]["ink"]
    assert not cache.exists(), "no domain suite: the domain classifier is neither trained nor loaded"
    text = (tmp_path / "a" / "report.md").read_text()
    assert "- **ink**:" in text and "**domain**" not in text and "**inception**" not in text
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| run |"))
    row = next(line for line in lines if line.startswith("| this run |"))
    cells = dict(zip(header.strip("| ").split(" | "), row.strip("| ").split(" | "), strict=True))
    assert cells["domain FID"] == cells["Inception FID"] == "-" and float(cells["JS"]) >= 0
    report = evaluate(compose_config("eval", [*overrides, "metrics.report=[]"], tmp_path / "b", data_dir))
    assert report["metrics"] == {}
