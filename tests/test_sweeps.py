"""Optuna sweeps (hydra/sweeper=optuna): search spaces from Hydra's sweep syntax, a study stored in
SQLite that a second invocation continues, failed trials recorded, and the ranking in evaluate.py."""

import json
import sqlite3

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from condgan.errors import ConfigError
from condgan.pipelines.evaluate import evaluate
from hydra_plugins.condgan_optuna_sweeper.search_space import override_text, search_space
from tests.conftest import QUIET, compose_config
from tests.test_cli import error_lines, log_span, run, run_here

TINY = [
    "debug=limit",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "data.samples_per_class=24",
    "data.test_samples_per_class=4",
    "callbacks.domain_metrics.samples_per_class=4",
    *QUIET,
]


def test_sweep_syntax_becomes_optuna_distributions():
    space, fixed = search_space(
        [
            "data.batch_size=16,32",
            "model.noise_dim=range(8,33,8)",
            "model.optim.generator.lr=tag(log,interval(1e-5,1e-3))",
            "model.ema_half_life=int(interval(100,900))",
            "seed=7",
            "model.ema_decay=0.9",
        ],
        {"model.noise_dim": "choice(4,5)", "seed": "range(0,3)", "model.real_label": "interval(0.8, 1.0)"},
    )
    assert fixed == ["seed=7", "model.ema_decay=0.9"]
    assert space == {
        "model.real_label": FloatDistribution(0.8, 1.0),
        "data.batch_size": CategoricalDistribution([16, 32]),
        "model.noise_dim": IntDistribution(8, 32, step=8),
        "model.optim.generator.lr": FloatDistribution(1e-5, 1e-3, log=True),
        "model.ema_half_life": IntDistribution(100, 900),
    }
    with pytest.raises(ConfigError, match="tag\\(log, ...\\) applies to range\\(\\) and interval\\(\\)"):
        search_space(["x=tag(log,choice(1,2))"], None)


@pytest.mark.parametrize("value", [3, 2.5e-4, True, None, "bf16-mixed", "a b,c", [0.5, 0.999], {"style": 2}])
def test_sampled_values_go_back_through_hydras_parser_unchanged(value):
    [parsed] = OverridesParser.create().parse_overrides([f"key={override_text(value)}"])
    assert parsed.value() == value


def trials_of(study_dir):
    return json.loads((study_dir / "optuna_trials.json").read_text())["trials"]


@pytest.mark.slow
def test_a_study_of_tiny_trials_is_stored_in_sqlite_and_a_second_invocation_continues_it(tmp_path, data_dir):
    study_dir = tmp_path / "study"
    sweep = [
        "train.py",
        "-m",
        "hydra/sweeper=optuna",
        f"hydra.sweep.dir={study_dir}",
        "hydra.sweeper.study_name=tiny",
        "model=cgan",
        "model.optim.generator.lr=tag(log,interval(1e-4,1e-3))",
        "data.batch_size=8,16",
        f"paths.data_dir={data_dir}",
        *TINY,
    ]
    first = run(*sweep, "hydra.sweeper.n_trials=2", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    trials = trials_of(study_dir)
    assert sorted(t["number"] for t in trials) == [0, 1] and all(t["state"] == "COMPLETE" for t in trials)
    assert trials[0]["value"] <= trials[1]["value"]
    for trial in trials:
        assert 1e-4 <= trial["params"]["model.optim.generator.lr"] <= 1e-3
        run_dir = study_dir / str(trial["number"])
        assert (run_dir / "checkpoints" / "best.ckpt").is_file() and trial["folder"] == str(run_dir)
        overrides = (run_dir / ".hydra" / "overrides.yaml").read_text()
        assert f"data.batch_size={trial['params']['data.batch_size']}" in overrides
    first_checkpoint = (study_dir / "0" / "checkpoints" / "best.ckpt").stat().st_mtime_ns

    second = run(*sweep, "hydra.sweeper.n_trials=3", cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "2 of 3 trials finished" in second.stderr + second.stdout
    assert sorted(t["number"] for t in trials_of(study_dir)) == [0, 1, 2]
    assert (study_dir / "2" / "checkpoints" / "best.ckpt").is_file()
    assert (study_dir / "0" / "checkpoints" / "best.ckpt").stat().st_mtime_ns == first_checkpoint
    with sqlite3.connect(study_dir / "optuna.db") as db:
        assert db.execute("SELECT study_name FROM studies").fetchall() == [("tiny",)]
        assert db.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone() == (3,)

    report = evaluate(
        compose_config(
            "eval",
            [f"ckpt_path={study_dir}", "samples_per_class=2", "device=cpu", "metrics.kid_subset_size=10"],
            tmp_path / "eval",
            data_dir,
        )
    )
    study = report["optuna_study"]
    assert [t["number"] for t in study["trials"]] == [t["number"] for t in trials_of(study_dir)]
    text = (tmp_path / "eval" / "report.md").read_text()
    best = study["trials"][0]
    assert f"| 1 | [{best['number']}]({best['number']}/report.md) | {best['value']:.4f} | COMPLETE |" in text
    assert (tmp_path / "eval" / "objective_by_trial.png").stat().st_size > 1000


def test_a_trial_with_a_bad_value_is_recorded_as_failed_and_ends_the_sweep_with_one_line(tmp_path, data_dir):
    study_dir = tmp_path / "study"
    result = run_here(
        "train.py",
        "-m",
        "hydra/sweeper=optuna",
        f"hydra.sweep.dir={study_dir}",
        "hydra.sweeper.n_trials=3",
        "model=cgan",
        "model.noise_dim=choice(0)",
        f"paths.data_dir={data_dir}",
        *TINY,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert error_lines(result) == ["condgan: error: model.noise_dim=0: use a whole number >= 1"]
    with sqlite3.connect(study_dir / "optuna.db") as db:
        assert db.execute("SELECT state FROM trials").fetchall() == [("FAIL",)]


def test_an_optuna_sweep_without_a_search_space_says_how_to_give_one(tmp_path):
    result = run_here(
        "train.py", "-m", "hydra/sweeper=optuna", f"hydra.sweep.dir={tmp_path / 'study'}", "model=cgan", cwd=tmp_path
    )
    assert result.returncode == 2
    [line] = error_lines(result)
    assert "hydra/sweeper=optuna needs a search space: hparams_search=<name>" in line


@pytest.mark.slow
def test_trials_asked_together_train_side_by_side_on_the_concurrent_launcher(tmp_path, data_dir):
    study_dir = tmp_path / "study"
    result = run(
        "train.py",
        "-m",
        "hydra/sweeper=optuna",
        "hydra/launcher=concurrent",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=2",
        f"hydra.sweep.dir={study_dir}",
        "model=cgan",
        "model.optim.generator.lr=tag(log,interval(1e-4,1e-3))",
        f"paths.data_dir={data_dir}",
        *TINY,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(t["state"] for t in trials_of(study_dir)) == ["COMPLETE", "COMPLETE"]
    (start_a, end_a), (start_b, end_b) = (
        log_span(study_dir / "0" / "debug.log"),
        log_span(study_dir / "1" / "debug.log"),
    )
    assert start_a < end_b and start_b < end_a, "the two trials overlapped in time"
