"""End to end: train on the embedded glyphs, then evaluate the checkpoint."""

import csv
import math

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import open_dict

from condgan.errors import NonFiniteLossError
from condgan.pipelines.evaluate import evaluate
from condgan.pipelines.train import train
from tests.conftest import compose_config


def test_fast_dev_run_on_glyphs(train_config):
    trainer = train(train_config("debug=fdr"))
    assert trainer.state.finished
    assert trainer.global_step == 2, "one discriminator and one generator step"


def read_metric(path, key):
    with open(path) as f:
        return [float(row[key]) for row in csv.DictReader(f) if row.get(key)]


def mean_gap(model, real):
    """Distance between the mean pixel of generated and of real images, for fixed noise."""
    fake = model.generate(range(model.num_classes), 8, generator=torch.Generator().manual_seed(0))
    return (fake.mean() - real.mean()).abs().item()


@pytest.mark.slow
def test_short_run_learns_then_evaluate_exports_samples(train_config, tmp_path, data_dir):
    cfg = train_config(
        "trainer.max_epochs=4", "trainer.log_every_n_steps=1", "logger=many_loggers", "data.samples_per_class=40"
    )
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup()
    real = datamodule.train_set.images.float() / 127.5 - 1
    untrained = instantiate(cfg.model)
    gap_before = mean_gap(untrained, real)

    trainer = train(cfg)
    out = tmp_path
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert sorted(p.name for p in (out / "grids").iterdir()) == [f"epoch_{e:03d}.png" for e in range(4)]
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))

    # both nets start at chance; D learns to separate (its loss falls), which raises G's loss
    d_loss = read_metric(out / "csv" / "metrics.csv", "train/d_loss")
    g_loss = read_metric(out / "csv" / "metrics.csv", "train/g_loss")
    assert len(d_loss) == trainer.global_step // 2 and all(math.isfinite(v) for v in d_loss + g_loss)
    assert abs(d_loss[0] - math.log(2)) < 0.05 and abs(g_loss[0] - math.log(2)) < 0.1
    assert np.mean(d_loss[-10:]) < d_loss[0] - 0.02 and np.mean(g_loss[-10:]) > g_loss[0] + 0.05
    assert mean_gap(trainer.lightning_module, real) < 0.5 * gap_before

    eval_cfg = compose_config(
        "eval",
        [f"ckpt_path={out / 'checkpoints' / 'last.ckpt'}", "samples_per_class=3", "device=cpu"],
        out / "eval",
        data_dir,
    )
    summary = evaluate(eval_cfg)
    assert summary["global_step"] == trainer.global_step and summary["model"] == "CGAN"
    samples = np.load(out / "eval" / "samples.npz")
    assert samples["images"].shape == (78, 28, 28, 1) and samples["images"].dtype == np.uint8
    np.testing.assert_array_equal(samples["labels"], np.repeat(np.arange(26), 3))
    assert list(samples["class_names"]) == [chr(ord("A") + i) for i in range(26)]
    assert (out / "eval" / "class_grid.png").is_file()
    assert 10 < samples["images"].mean() < 245, "samples are neither blank nor saturated"
    intensity = summary["metrics"]["pixel_intensity"]
    assert intensity["kl"] > 0 and 0 < intensity["js"] < math.log(2)
    assert intensity["protocol"] == {"real": "test split, 104 images", "generated": 78, "bins": 256}


def test_metrics_are_skipped_with_a_reason_when_the_real_data_is_missing(tmp_path):
    from condgan.pipelines.evaluate import metrics_of

    checkpoint = {
        "condgan": {"model_class": "condgan.models.CGAN",
                    "datamodule_class": "condgan.data.idx_datasets.FashionMNISTDataModule"},
        "datamodule_hyper_parameters": {"root": str(tmp_path / "gone"), "num_classes": 10, "channels": 1,
                                        "image_size": 28, "download": False},
    }
    result = metrics_of(checkpoint, torch.zeros(4, 1, 28, 28), bins=256)
    assert list(result) == ["skipped"] and "dataset files not found" in result["skipped"]


def test_nan_loss_stops_training_and_keeps_saved_checkpoints(train_config):
    cfg = train_config("trainer.max_epochs=1", "+trainer.limit_train_batches=2", "trainer.limit_val_batches=0")
    train(cfg)
    last = cfg.paths.output_dir + "/checkpoints/last.ckpt"
    saved = open(last, "rb").read()
    with open_dict(cfg):
        cfg.ckpt_path = last
        cfg.trainer.max_epochs = 2
        cfg.model.real_label = float("nan")
    with pytest.raises(NonFiniteLossError) as err:
        train(cfg)
    assert "\n" not in str(err.value) and "train/d_loss=nan" in str(err.value)
    assert open(last, "rb").read() == saved
