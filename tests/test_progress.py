"""Progress output for people and for logs: a bounded number of plain lines where the console is not a
terminal, and one summary line per epoch."""

import logging

from lightning.pytorch.callbacks import RichProgressBar

from condgan.callbacks import LineProgressBar, progress_bar
from condgan.pipelines.train import train
from tests.test_preemption import train_until_sigterm


def test_the_bar_is_rich_in_a_terminal_and_plain_lines_elsewhere():
    assert isinstance(progress_bar(interactive=True), RichProgressBar)
    plain = progress_bar(every_n_batches=7, interactive=False)
    assert isinstance(plain, LineProgressBar) and plain.every_n_batches == 7


def test_a_log_gets_a_line_every_n_batches_and_one_summary_per_epoch(train_config, caplog):
    cfg = train_config(
        "++callbacks.progress_bar={_target_: condgan.callbacks.progress_bar, every_n_batches: 2, interactive: false}",
        "trainer.max_epochs=2",
        "+trainer.limit_train_batches=5",
        "trainer.limit_val_batches=1",
        "trainer.log_every_n_steps=1",
    )
    with caplog.at_level(logging.INFO, logger="condgan.callbacks.progress"):
        train(cfg)
    lines = [r.getMessage() for r in caplog.records if r.name == "condgan.callbacks.progress"]
    batches = [line for line in lines if ": batch " in line]
    assert [line.split(",")[0] for line in batches] == [f"epoch {e}: batch {b}/5" for e in (0, 1) for b in (2, 4)]
    assert all("train/d_loss" in line and "train/g_loss" in line for line in batches)
    summaries = [line for line in lines if " done in " in line]
    assert [line.split(" done")[0] for line in summaries] == ["epoch 0", "epoch 1"]
    assert all("val/fid_domain" in line and "val/cond_acc" in line and "train/d_loss" in line for line in summaries)


def test_an_epoch_resumed_midway_is_timed_from_the_resume(train_config, caplog):
    cfg = train_config(
        "++callbacks.progress_bar={_target_: condgan.callbacks.progress_bar, every_n_batches: 2, interactive: false}",
        "trainer.max_epochs=2",
        "+trainer.limit_train_batches=5",
        "trainer.limit_val_batches=1",
        "ckpt_path=auto",
    )
    train_until_sigterm(cfg, 1, 1)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="condgan.callbacks.progress"):
        train(cfg)
    lines = [r.getMessage() for r in caplog.records if r.name == "condgan.callbacks.progress"]
    # epoch 1 resumed after its batches 0 and 1: the line of batch 4 and the summary, both since the resume
    assert [line.split(" s since the resume")[0].rsplit(" ", 1)[0] for line in lines] == [
        "epoch 1: batch 4/5,",
        "epoch 1 done in",
    ]
    assert all(0 <= float(line.split(" s since the resume")[0].rsplit(" ", 1)[1]) < 600 for line in lines)
