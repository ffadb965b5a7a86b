"""End to end: train on the embedded glyphs, then evaluate the checkpoint."""

import csv
import json
import math
import shutil

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import open_dict
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from condgan.errors import NonFiniteLossError
from condgan.pipelines.evaluate import evaluate
from condgan.pipelines.train import objective, train
from tests.conftest import FAST, compose_config
from tests.helpers import write_mnist_style


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
    [events_dir] = (out / "tensorboard").iterdir()
    assert events_dir.name == "defaults", "composed outside a Hydra app: no command-line overrides to name it"
    events = EventAccumulator(str(events_dir))
    events.Reload()
    start = HParamsPluginData.FromString(events.SummaryMetadata("_hparams_/session_start_info").plugin_data.content)
    assert start.session_start_info.hparams["model.optim.generator.lr"].number_value == cfg.model.optim.generator.lr
    experiment = HParamsPluginData.FromString(events.SummaryMetadata("_hparams_/experiment").plugin_data.content)
    assert [m.name.tag for m in experiment.experiment.metric_infos] == [
        "val/fid_domain",
        "val/cond_acc",
        "best/fid_domain",
    ]
    [best] = events.Scalars("best/fid_domain")
    assert best.value == pytest.approx(min(e.value for e in events.Scalars("val/fid_domain")))

    # both nets start at chance; D learns to separate (its loss falls), which raises G's loss
    d_loss = read_metric(out / "csv" / "metrics.csv", "train/d_loss")
    g_loss = read_metric(out / "csv" / "metrics.csv", "train/g_loss")
    assert len(d_loss) == trainer.global_step // 2 and all(math.isfinite(v) for v in d_loss + g_loss)
    assert abs(d_loss[0] - math.log(2)) < 0.05 and abs(g_loss[0] - math.log(2)) < 0.1
    assert np.mean(d_loss[-10:]) < d_loss[0] - 0.02 and np.mean(g_loss[-10:]) > g_loss[0] + 0.05
    assert mean_gap(trainer.lightning_module, real) < 0.5 * gap_before

    # training-time metrics: logged each epoch, and the best epoch by domain FID kept
    fid = read_metric(out / "csv" / "metrics.csv", "val/fid_domain")
    cond_acc = read_metric(out / "csv" / "metrics.csv", "val/cond_acc")
    assert len(fid) == len(cond_acc) == 4 and all(v > 0 for v in fid) and all(0 <= a <= 1 for a in cond_acc)
    best = torch.load(out / "checkpoints" / "best.ckpt", weights_only=False)
    [state] = [v for k, v in best["callbacks"].items() if "val/fid_domain" in k]
    assert math.isclose(float(state["best_model_score"]), min(fid), rel_tol=1e-5)
    # what train.py returns to a sweeper: the best domain FID; a metric never logged gives None
    assert math.isclose(objective(trainer, cfg.optimized_metric), min(fid), rel_tol=1e-5)
    assert math.isclose(objective(trainer, "val/cond_acc"), cond_acc[-1], rel_tol=1e-5)
    assert objective(trainer, "val/never_logged") is None and objective(trainer, None) is None

    eval_cfg = compose_config(
        "eval",
        [
            f"ckpt_path={out / 'checkpoints' / 'last.ckpt'}",
            "samples_per_class=3",
            "device=cpu",
            "metrics.kid_subset_size=50",
            "metrics.kid_subsets=5",
        ],
        out / "eval",
        data_dir,
    )
    report = evaluate(eval_cfg)
    assert report["global_step"] == trainer.global_step and report["model"] == "CGAN" and report["data"] == "glyphs"
    samples = np.load(out / "eval" / "samples.npz")
    assert samples["images"].shape == (78, 28, 28, 1) and samples["images"].dtype == np.uint8
    np.testing.assert_array_equal(samples["labels"], np.repeat(np.arange(26), 3))
    assert list(samples["class_names"]) == [chr(ord("A") + i) for i in range(26)]
    assert 10 < samples["images"].mean() < 245, "samples are neither blank nor saturated"
    metrics = report["metrics"]
    intensity = metrics["pixel_intensity"]
    assert intensity["kl"] > 0 and 0 < intensity["js"] < math.log(2)
    assert intensity["protocol"] == {
        "reference": "unpreprocessed glyphs test split, 104 images",
        "generated": 78,
        "bins": 256,
        "class_mix": "generated labels follow the unpreprocessed glyphs test split's class frequencies",
    }
    ink = metrics["ink"]
    assert 0 <= ink["one_piece"] <= 1 and 0 <= ink["stray_ink"] < 1
    assert ink["real_one_piece"] > 0.9, "real letters are one piece (but for the dots of some i and j)"
    assert ink["protocol"]["ink"] == "pixels above 0.3 of full intensity, 8-connected"
    domain = metrics["domain"]
    assert domain["fid"] > 0 and 0 <= domain["conditional_accuracy"] <= 1 and len(domain["per_class_fid"]) == 26
    assert 0 <= domain["precision"] <= 1 and 0 <= domain["recall"] <= 1 and "mean" in domain["kid"]
    assert domain["protocol"]["generated"] == 78 and 0 < domain["protocol"]["classifier_test_accuracy"] <= 1
    assert "enabled=auto on cpu" in metrics["inception"]["skipped"]
    assert set(report["training"]["final"]) >= {"train/d_loss", "train/g_loss", "train/d_acc_real", "val/fid_domain"}
    for name in ("class_grid", "latent_interpolation", "label_interpolation", "per_class_fid", "per_class_kid"):
        assert (out / "eval" / f"{name}.png").is_file(), name
    assert (out / "eval" / "loss_curves.png").is_file()
    saved = json.loads((out / "eval" / "report.json").read_text())
    assert saved["metrics"]["domain"]["fid"] == domain["fid"]
    markdown = (out / "eval" / "report.md").read_text()
    assert f"| {ink['one_piece']:.3f} | {ink['real_one_piece']:.3f} |" in markdown
    assert f"{domain['fid']:.3f}" in markdown and "![label_interpolation](label_interpolation.png)" in markdown
    assert list((out / "eval" / "tensorboard").glob("events.out.tfevents.*"))


def test_without_the_real_data_metrics_are_skipped_and_data_root_finds_a_moved_copy(tmp_path, data_dir):
    root = tmp_path / "mnist"
    write_mnist_style(root, n_train=60, n_test=20, num_classes=10, gzipped=True)
    cfg = compose_config(
        "train",
        [
            "data=mnist",
            f"data.root={root}",
            "data.download=false",
            "data.batch_size=16",
            "debug=limit",
            "trainer.max_epochs=1",
            "callbacks.progress_bar=null",
            "callbacks.model_summary=null",
        ],
        tmp_path,
        data_dir,
    )
    train(cfg)
    shutil.rmtree(root)
    eval_cfg = compose_config(
        "eval", [f"ckpt_path={tmp_path}", "samples_per_class=2", "device=cpu"], tmp_path / "eval", data_dir
    )
    report = evaluate(eval_cfg)
    assert list(report["metrics"]) == ["skipped"] and "dataset files not found" in report["metrics"]["skipped"]
    assert report["data"] == "MNISTDataModule" and (tmp_path / "eval" / "class_grid.png").is_file()
    assert "Metrics skipped: mnist: dataset files not found" in (tmp_path / "eval" / "report.md").read_text()

    moved = tmp_path / "elsewhere"
    write_mnist_style(moved, n_train=60, n_test=20, num_classes=10, gzipped=True)
    eval_cfg = compose_config(
        "eval",
        [
            f"ckpt_path={tmp_path}",
            "samples_per_class=2",
            "device=cpu",
            f"data_root={moved}",
            "metrics.kid_subset_size=10",
        ],
        tmp_path / "eval2",
        data_dir,
    )
    report = evaluate(eval_cfg)
    assert report["data"] == "mnist" and report["metrics"]["domain"]["protocol"]["generated"] == 20


def test_every_run_of_a_multirun_folder_is_reported_and_compared(tmp_path, data_dir):
    sweep = tmp_path / "multirun"
    for job, model in enumerate(["cgan", "cvae"]):
        cfg = compose_config(
            "train", [*FAST, f"model={model}", "debug=limit", "trainer.max_epochs=1"], sweep / str(job), data_dir
        )
        train(cfg)
    eval_cfg = compose_config(
        "eval",
        [
            f"ckpt_path={sweep}",
            "samples_per_class=4",
            "device=cpu",
            "metrics.kid_subset_size=50",
            "metrics.kid_subsets=5",
        ],
        tmp_path / "eval",
        data_dir,
    )
    comparison = evaluate(eval_cfg)
    assert [run["model"] for run in comparison["runs"]] == ["CGAN", "VAE"]
    assert [run["label"] for run in comparison["runs"]] == ["0", "1"]
    table = (tmp_path / "eval" / "report.md").read_text()
    assert "[0](0/report.md) | CGAN | glyphs" in table and "[1](1/report.md) | VAE | glyphs" in table
    for run in comparison["runs"]:
        assert f"{run['metrics']['domain']['fid']:.3f}" in table
    assert (tmp_path / "eval" / "1" / "reconstructions.png").is_file()
    assert not (tmp_path / "eval" / "0" / "reconstructions.png").exists()
    assert json.loads((tmp_path / "eval" / "report.json").read_text())["runs"][1]["model"] == "VAE"


def test_nan_loss_stops_training_and_keeps_saved_checkpoints(train_config, monkeypatch):
    cfg = train_config("trainer.max_epochs=1", "+trainer.limit_train_batches=2", "trainer.limit_val_batches=0")
    train(cfg)
    last = cfg.paths.output_dir + "/checkpoints/last.ckpt"
    saved = open(last, "rb").read()
    with open_dict(cfg):
        cfg.ckpt_path = last
        cfg.trainer.max_epochs = 2
        cfg.model.real_label = float("nan")
    # the config check refuses a NaN label; past it, the label stands in for a run that diverges
    monkeypatch.setattr("condgan.pipelines.train.check_config", lambda cfg: None)
    with pytest.raises(NonFiniteLossError) as err:
        train(cfg)
    assert "\n" not in str(err.value) and "train/d_loss=nan" in str(err.value)
    assert open(last, "rb").read() == saved


@pytest.mark.parametrize("on_device", [False, True])
def test_debug_overfit_trains_on_the_same_whole_batches_every_epoch(train_config, on_device):
    import lightning as L

    seen = []

    class Batches(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.append((trainer.current_epoch, tuple(batch[0].shape), batch[1].tolist()))

    cfg = train_config("debug=overfit", "trainer.max_epochs=2", f"data.on_device={on_device}")
    datamodule, model = instantiate(cfg.data), instantiate(cfg.model)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=2,
        overfit_batches=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Batches()],
    )
    trainer.fit(model, datamodule=datamodule)
    epochs = [[labels for epoch, _, labels in seen if epoch == e] for e in (0, 1)]
    assert len(epochs[0]) == 3 and epochs[0] == epochs[1]
    assert {shape for _, shape, _ in seen} == {(cfg.data.batch_size, 1, 28, 28)}
