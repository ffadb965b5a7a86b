"""``evaluate.py task=leaderboard``: entries trained for a fixed time in their own processes, a table
with the real-vs-real floor, the pictures, and failed entries recorded while the others complete."""

import json
import math

import pytest
from omegaconf import OmegaConf

from condgan.errors import ConfigError
from condgan.pipelines.evaluate import evaluate
from condgan.pipelines.leaderboard import FLOOR, Entry, entries_of, error_line, max_time, training_command
from tests.conftest import FAST, compose_config

TINY = [*FAST, "data=glyphs", "+trainer.limit_train_batches=3", "trainer.limit_val_batches=2"]


def hydra_list(items: list[str]) -> str:
    """A list of override strings as the command line passes it (items quoted: they hold '=')."""
    return "[" + ",".join(f'"{item}"' for item in items) + "]"


@pytest.mark.slow
def test_a_tiny_leaderboard_ranks_entries_against_the_floor_and_records_failures(tmp_path, data_dir):
    entries = [
        {"name": "cgan", "overrides": ["model=cgan"]},
        {"name": "cvae", "overrides": ["model=cvae"]},
        # a bad setting is a one-line error in the table, not a hang
        {"name": "broken", "overrides": ["model=cgan", "model.n_critic=0"]},
    ]
    entries_override = (
        "[" + ",".join(f"{{name:{e['name']},overrides:{hydra_list(e['overrides'])}}}" for e in entries) + "]"
    )
    cfg = compose_config(
        "eval",
        [
            "task=leaderboard",
            "leaderboard.budget_s=2",
            f"leaderboard.overrides={hydra_list(TINY)}",
            f"leaderboard.entries={entries_override}",
            "device=cpu",
            "metrics.inception.enabled=false",
            "samples_per_class=2",
            "grid_samples_per_class=3",
            "interpolation.steps=3",
            "interpolation.rows=2",
        ],
        tmp_path,
        data_dir,
    )

    board = evaluate(cfg)

    rows = {row["name"]: row for row in board["entries"]}
    assert [row["name"] for row in board["entries"]] == ["cgan", "cvae", "broken"]
    assert rows["broken"]["status"] == "failed" and rows["broken"]["returncode"] == 2
    assert "model.n_critic=0: use a whole number >= 1" in rows["broken"]["error"]
    floor = board["floor"]["summary"]["fid"]
    assert math.isfinite(floor)
    for name in ("cgan", "cvae"):
        row = rows[name]
        assert row["status"] == "ok", row.get("error")
        assert row["wall_time_s"] >= 2 and row["epochs"]["last"] >= row["epochs"]["best"] >= 1
        assert row["summary"]["fid"] > floor, (name, row["summary"]["fid"], floor)
        assert (tmp_path / name / "report.md").is_file() and (tmp_path / name / "class_grid.png").is_file()
        assert (tmp_path / "runs" / name / "checkpoints" / "best.ckpt").is_file()
    table = (tmp_path / "leaderboard.md").read_text()
    print(table)
    table_rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(table_rows) == 4 and FLOOR in table_rows[0]
    assert {"cgan", "cvae", "broken"} == {row.split(" | ")[1].split("]")[0].lstrip("[") for row in table_rows[1:]}
    assert "failed: model.n_critic=0: use a whole number >= 1" in table
    assert "torch " in table and "cores" in table and "precision 32-true" in table and "2 s of training" in table
    assert json.loads((tmp_path / "leaderboard.json").read_text())["floor"]["summary"]["fid"] == floor
    assert (tmp_path / "domain_fid.png").is_file() and (tmp_path / "grids.png").is_file()


def test_training_commands_put_the_budget_before_the_entry_and_the_run_folder_last(tmp_path):
    settings = OmegaConf.create({"budget_s": 90061.5, "max_epochs": -1})
    command = training_command(
        Entry("a", ["model=cvae", "trainer.max_epochs=40"]),
        ["data=glyphs"],
        settings,
        tmp_path / "runs" / "a",
        tmp_path / "data",
    )
    assert command[1:4] == ["-m", "condgan.pipelines.train", "data=glyphs"]
    assert (
        command.index("trainer.max_time='01:01:01:02'")
        < command.index("trainer.max_epochs=-1")
        < command.index("trainer.min_epochs=1")
        < command.index("trainer.max_epochs=40")
    )
    assert f"hydra.run.dir='{tmp_path / 'runs' / 'a'}'" in command
    assert max_time(600) == "00:00:10:00" and max_time(0.2) == "00:00:00:01"


def test_entries_need_distinct_folder_names():
    def settings(*entries) -> OmegaConf:
        return OmegaConf.create({"budget_s": 10, "entries": list(entries)})

    assert entries_of(settings({"name": "a", "overrides": ["model=cgan"]}))[0] == Entry("a", ["model=cgan"])
    for bad in ([{"name": "a b"}], [{"name": "runs"}], [{"name": "a"}, {"name": "a"}], []):
        with pytest.raises(ConfigError, match="leaderboard.entries"):
            entries_of(settings(*bad))


def test_a_leaderboard_without_the_domain_suite_is_refused_before_training(tmp_path):
    cfg = compose_config("eval", ["task=leaderboard", "metrics.report=[ink,inception]"], tmp_path, tmp_path)
    with pytest.raises(ConfigError, match=r"keep domain in metrics.report \(now \['ink', 'inception'\]\)$"):
        evaluate(cfg)
    assert not any(tmp_path.iterdir()), "nothing trained or written"


@pytest.mark.parametrize(
    "output,expected",
    [
        (
            "[log] training\ncondgan: error: n_critic=0: the discriminator needs\n",
            "n_critic=0: the discriminator needs",
        ),
        (
            "Key 'x' is not in struct\n    full_key: trainer.x\n\n"
            "Set the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace.\n",
            "Key 'x' is not in struct",
        ),
        (
            "In 'train': Could not find 'experiment/nope'\n\nAvailable options in 'experiment':\n\tk49_cgan\n",
            "In 'train': Could not find 'experiment/nope'",
        ),
        (
            'Traceback (most recent call last):\n  File "x.py", line 1\nRuntimeError: CUDA out of memory\n',
            "RuntimeError: CUDA out of memory",
        ),
    ],
)
def test_the_error_line_of_a_failed_run(output, expected):
    assert error_line(output) == expected


@pytest.mark.slow
def test_reuse_runs_reports_finished_entries_again_without_retraining(tmp_path, data_dir):
    entries = '[{name:cvae,overrides:["model=cvae"]}]'
    overrides = [
        "task=leaderboard",
        "leaderboard.budget_s=1",
        f"leaderboard.overrides={hydra_list(TINY)}",
        f"leaderboard.entries={entries}",
        "device=cpu",
        "metrics.inception.enabled=false",
        "samples_per_class=2",
        "grid_samples_per_class=2",
        "interpolation.steps=2",
        "interpolation.rows=1",
    ]
    first = evaluate(compose_config("eval", overrides, tmp_path, data_dir))["entries"][0]
    ckpt = tmp_path / "runs" / "cvae" / "checkpoints" / "last.ckpt"
    trained_at = ckpt.stat().st_mtime_ns
    (tmp_path / "cvae" / "report.md").unlink()
    again = evaluate(compose_config("eval", [*overrides, "leaderboard.reuse_runs=true"], tmp_path, data_dir))[
        "entries"
    ][0]
    assert again["status"] == "ok" and ckpt.stat().st_mtime_ns == trained_at, "not retrained"
    assert again["wall_time_s"] == first["wall_time_s"] and (tmp_path / "cvae" / "report.md").is_file()
    changed = evaluate(
        compose_config(
            "eval", [*overrides, "leaderboard.reuse_runs=true", "leaderboard.budget_s=2"], tmp_path, data_dir
        )
    )["entries"][0]
    assert changed["status"] == "ok" and ckpt.stat().st_mtime_ns != trained_at, "another budget: trained again"
    kept = list((tmp_path / "runs").glob("cvae.before-*/checkpoints/last.ckpt"))
    assert len(kept) == 1 and kept[0].stat().st_mtime_ns == trained_at, "the earlier run is set aside, not lost"
