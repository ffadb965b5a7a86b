"""Nothing lost on preemption: last.ckpt kept current and written atomically, SIGTERM handled,
``ckpt_path=auto``, an exact resume, and time limits that stop within one batch."""

import csv
import logging
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import fsspec.implementations.local
import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Timer
from omegaconf import open_dict

from condgan.callbacks import LastCheckpoint
from condgan.errors import ConfigError
from condgan.pipelines.train import resume_path, train
from tests.conftest import FAST, REPO
from tests.test_seq2seq import config as seq2seq_config

EXACT = (
    "model=cgan",
    "model.n_critic=2",
    "model.ema_decay=0.9",
    "trainer.max_epochs=3",
    "logger=csv",
    "trainer.log_every_n_steps=2",
    "+trainer.limit_train_batches=6",
    "trainer.limit_val_batches=2",
)


def last_checkpoint(cfg) -> Path:
    return Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"


def read(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


class Sigterm(L.Callback):
    """Sends this process SIGTERM (as a scheduler does on preemption) at the end of epoch ``epoch``,
    or after its batch ``batch``."""

    def __init__(self, epoch: int, batch: int | None = None) -> None:
        self.epoch, self.batch = epoch, batch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), signal.SIGTERM)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch and self.batch is None:
            os.kill(os.getpid(), signal.SIGTERM)


def train_until_sigterm(cfg, epoch: int, batch: int | None) -> None:
    """``train(cfg)`` stopped by SIGTERM after batch ``batch`` of epoch ``epoch`` (at its end when
    None); ``cfg`` is left as it was, ready to resume."""
    with open_dict(cfg):
        cfg.callbacks.sigterm = {"_target_": f"{__name__}.Sigterm", "epoch": epoch, "batch": batch}
    try:
        train(cfg)
    finally:
        with open_dict(cfg):
            del cfg.callbacks.sigterm


def resumed_with_warnings(cfg) -> tuple[L.Trainer, list[str]]:
    """``train(cfg)`` and the messages of every warning it raised."""
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        trainer = train(cfg)
    return trainer, [str(w.message) for w in warned]


def logged_losses(cfg) -> list[tuple]:
    rows = csv.DictReader(open(Path(cfg.paths.output_dir) / "csv" / "metrics.csv"))
    return [(r["step"], r["train/d_loss"], r.get("train/g_loss")) for r in rows if r.get("train/d_loss")]


class CtrlC(L.Callback):
    """Raises KeyboardInterrupt (what Ctrl+C does) after training batch ``batch`` of epoch 0."""

    def __init__(self, batch: int) -> None:
        self.batch = batch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx == self.batch:
            raise KeyboardInterrupt


class LastCheckpointSpy(L.Callback):
    """Records, at each epoch's start, how many epochs the run folder's last.ckpt holds."""

    def __init__(self, path: str) -> None:
        self.path, self.seen = Path(path), []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.seen.append(
            read(self.path)["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"]
            if self.path.is_file()
            else None
        )


class BatchClock(L.Callback):
    """Records the fit time Lightning's Timer has counted at each batch's end."""

    def __init__(self) -> None:
        self.ends = []

    def on_train_batch_end(self, trainer, pl_module, *_) -> None:
        timer = next(c for c in trainer.callbacks if isinstance(c, Timer))
        self.ends.append(timer.time_elapsed("train"))


def callback_of(trainer, cls):
    return next(c for c in trainer.callbacks if isinstance(c, cls))


def test_last_ckpt_is_written_at_every_epoch_end(train_config):
    cfg = train_config("trainer.max_epochs=3", "+trainer.limit_train_batches=2", "trainer.limit_val_batches=0")
    with open_dict(cfg):
        cfg.callbacks.spy = {"_target_": f"{__name__}.LastCheckpointSpy", "path": str(last_checkpoint(cfg))}
    trainer = train(cfg)
    assert callback_of(trainer, LastCheckpointSpy).seen == [None, 1, 2], "each epoch starts with the previous one's"
    assert read(last_checkpoint(cfg))["global_step"] == 3 * 2 * 2


# the mid-epoch case (the harder one) runs in `make test`; both in `make test-all`
@pytest.mark.parametrize(
    "batch,steps_done",
    [pytest.param(None, 2 * 9, marks=pytest.mark.slow), (2, 9 + 4)],
    ids=["at-an-epoch-end", "mid-epoch"],
)
def test_an_exact_resume_after_sigterm_gives_the_uninterrupted_runs_weights_and_losses(
    train_config, tmp_path, caplog, batch, steps_done
):
    whole = train_config(*EXACT)
    trainer = train(whole)
    weights = {k: v.clone() for k, v in trainer.lightning_module.state_dict().items()}

    interrupted = train_config(*EXACT)
    with open_dict(interrupted):
        interrupted.paths.output_dir = str(tmp_path / "interrupted")
        interrupted.ckpt_path = "auto"  # nothing to resume yet: a fresh start
    with caplog.at_level(logging.INFO):
        train_until_sigterm(interrupted, 1, batch)
    # 6 batches an epoch, n_critic=2: 9 optimiser steps; batches 0-2 of epoch 1: 1 + 2 + 1
    assert read(last_checkpoint(interrupted))["global_step"] == steps_done
    assert any("ckpt_path=auto" in r.getMessage() and "stopped by SIGTERM" in r.getMessage() for r in caplog.records)

    caplog.clear()
    with caplog.at_level(logging.INFO):
        resumed, warned = resumed_with_warnings(interrupted)
    assert not [w for w in warned if "ended before the epoch ended" in w], "the resume is exact"
    assert not [w for w in warned if "exists and is not empty" in w], "it holds what the run resumes"
    resuming = [r.getMessage() for r in caplog.records if r.getMessage().startswith("resuming epoch")]
    assert resuming == (
        [] if batch is None else ["resuming epoch 1 after its first 3 training batches, in the interrupted run's order"]
    )
    assert resumed.global_step == trainer.global_step == 3 * (6 + 3)
    for name, value in resumed.lightning_module.state_dict().items():
        assert torch.allclose(value.float(), weights[name].float(), atol=1e-6), name
    assert logged_losses(interrupted) == logged_losses(whole)


@pytest.mark.parametrize("model", ["seq2seq_text", "seq2seq_text_to_image"])
def test_a_sequence_model_resumed_mid_epoch_gives_the_uninterrupted_runs_weights(tmp_path, data_dir, model, caplog):
    exact = ("trainer.max_epochs=2", "trainer.limit_val_batches=1", "callbacks.model_checkpoint_best=null")
    whole = train(seq2seq_config(tmp_path / "whole", data_dir, model, *exact))
    interrupted = seq2seq_config(tmp_path / "interrupted", data_dir, model, *exact, "ckpt_path=auto")
    train_until_sigterm(interrupted, 1, 1)
    with caplog.at_level(logging.INFO):
        resumed, warned = resumed_with_warnings(interrupted)
    assert not [w for w in warned if "ended before the epoch ended" in w]
    assert any(r.getMessage().startswith("resuming epoch 1 after its first 2 training batches") for r in caplog.records)
    assert resumed.global_step == whole.global_step
    weights = whole.lightning_module.state_dict()
    for name, value in resumed.lightning_module.state_dict().items():
        assert torch.equal(value, weights[name]), name


def test_ctrl_c_saves_the_step_in_progress_and_says_how_to_resume(train_config, tmp_path, caplog):
    cfg = train_config(*EXACT)
    with open_dict(cfg):
        cfg.callbacks.ctrl_c = {"_target_": f"{__name__}.CtrlC", "batch": 2}
    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as stopped, caplog.at_level(logging.INFO):
            train(cfg)
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores further Ctrl+C while it shuts down
    assert stopped.value.code == 1
    assert read(last_checkpoint(cfg))["global_step"] == 1 + 2 + 1, "batches 0-2 with n_critic=2"
    [hint] = [r.getMessage() for r in caplog.records if "stopped by" in r.getMessage()]
    assert hint.startswith("stopped by Ctrl+C at epoch 0: ") and f"ckpt_path=auto hydra.run.dir={tmp_path}" in hint


def test_ckpt_path_auto_needs_the_last_checkpoint_callback(train_config):
    cfg = train_config("ckpt_path=auto", "callbacks.model_checkpoint=null", "trainer.max_epochs=1")
    with pytest.raises(ConfigError, match="ckpt_path=auto resumes from checkpoints/last.ckpt"):
        train(cfg)


def test_ckpt_path_auto_takes_the_newest_of_last_and_slurm_checkpoints(tmp_path):
    last = LastCheckpoint(tmp_path / "checkpoints")
    assert resume_path("auto", last, str(tmp_path)) is None, "nothing saved yet: a fresh start"
    assert (
        resume_path("some.ckpt", last, str(tmp_path)) == "some.ckpt" and resume_path(None, last, str(tmp_path)) is None
    )
    last.path.parent.mkdir()
    last.path.write_bytes(b"last")
    assert resume_path("auto", last, str(tmp_path)) == str(last.path)
    hpc = tmp_path / "hpc_ckpt_1.ckpt"
    hpc.write_bytes(b"requeue")
    os.utime(last.path, (1, 1))
    assert resume_path("auto", last, str(tmp_path)) == str(hpc)
    os.utime(hpc, (0, 0))
    assert resume_path("auto", last, str(tmp_path)) == str(last.path)


def test_a_crash_leaves_the_last_good_checkpoint_and_steps_save_in_between(tmp_path):
    callback = LastCheckpoint(tmp_path, every_n_steps=4)
    saved = []

    class FakeTrainer:
        fast_dev_run = sanity_checking = False
        global_step = current_epoch = 0

        def save_checkpoint(self, path):
            saved.append(self.global_step)

    trainer = FakeTrainer()
    for _ in range(5):  # a GAN batch: two optimiser steps
        trainer.global_step += 2
        callback.on_train_batch_end(trainer, None, None, None, 0)
    assert saved == [4, 8]
    callback.on_exception(trainer, None, RuntimeError("nan"))
    assert saved == [4, 8], "a crash does not overwrite the last good checkpoint"
    callback.on_exception(trainer, None, KeyboardInterrupt())
    assert saved == [4, 8, 10]
    with pytest.raises(ConfigError, match="every_n_steps=0"):
        LastCheckpoint(tmp_path, every_n_steps=0)


def test_a_kill_during_the_write_keeps_the_previous_last_ckpt(train_config, monkeypatch):
    cfg = train_config("trainer.max_epochs=1", "+trainer.limit_train_batches=2", "trainer.limit_val_batches=0")
    trainer = train(cfg)
    path = last_checkpoint(cfg)
    before = path.read_bytes()
    write = fsspec.implementations.local.LocalFileOpener.write

    def killed_halfway(self, data):
        write(self, bytes(data)[: len(data) // 2])
        raise KeyboardInterrupt("killed during the write")

    monkeypatch.setattr(fsspec.implementations.local.LocalFileOpener, "write", killed_halfway)
    with pytest.raises(KeyboardInterrupt):
        trainer.save_checkpoint(path)
    assert path.read_bytes() == before and read(path)["global_step"] == 4
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"], "no partial file left behind"


@pytest.mark.slow
def test_max_time_stops_within_one_batch_and_saves(train_config, caplog):
    cfg = train_config(
        "trainer.max_epochs=-1",
        "trainer.max_time=00:00:00:02",
        "trainer.limit_val_batches=1",
        "data.samples_per_class=600",
    )
    with open_dict(cfg):
        cfg.callbacks.clock = {"_target_": f"{__name__}.BatchClock"}
    with caplog.at_level(logging.INFO):
        trainer = train(cfg)
    ends = callback_of(trainer, BatchClock).ends
    assert len(ends) < trainer.num_training_batches, "stopped inside the first epoch"
    assert all(elapsed < 2 for elapsed in ends[:-1]) and ends[-1] >= 1.9, "no batch starts after the limit"
    assert sum("Time limit reached" in r.getMessage() for r in caplog.records) == 1
    assert read(last_checkpoint(cfg))["global_step"] == 2 * len(ends)


@pytest.mark.slow
def test_sigterm_to_a_training_process_leaves_a_loadable_last_ckpt_and_a_resume_line(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    command = [
        sys.executable,
        str(REPO / "train.py"),
        *FAST,
        "model=cgan",
        "data.samples_per_class=600",
        "trainer.max_epochs=50",
        "trainer.limit_val_batches=1",
        f"hydra.run.dir={run_dir}",
        f"paths.data_dir={data_dir}",
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 240
    while not last.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    one_epoch = read(last)["global_step"]
    time.sleep(1.0)  # into the second epoch
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output[-3000:]
    assert one_epoch < read(last)["global_step"] < 2 * one_epoch, "saved mid-epoch, after the step in progress"
    resume_lines = [line for line in output.splitlines() if "stopped by SIGTERM" in line]
    assert len(resume_lines) == 1 and f"ckpt_path=auto hydra.run.dir={run_dir}" in resume_lines[0]
