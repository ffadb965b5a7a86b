"""``pip install .`` (not editable) gives working ``condgan-train`` / ``condgan-eval`` commands from any
folder: the configs and the Optuna sweeper plugin ship with the package."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_plain_install_trains_and_evaluates_from_another_folder(tmp_path, data_dir):
    site = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    assert (site / "condgan" / "conf" / "train.yaml").is_file()
    assert (site / "condgan" / "conf" / "hydra" / "sweeper" / "optuna.yaml").is_file()
    assert (site / "hydra_plugins" / "condgan_optuna_sweeper" / "optuna_sweeper.py").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONWARNINGS": "ignore"}

    def run(command: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(site / "bin" / command), *args], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300
        )

    where = subprocess.run(
        [sys.executable, "-c", "import condgan; print(condgan.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.stdout.strip() == str(site / "condgan" / "__init__.py")
    trained = run(
        "condgan-train",
        "debug=limit",
        "trainer.max_epochs=1",
        "data.samples_per_class=24",
        "data.test_samples_per_class=4",
        f"paths.data_dir={data_dir}",
        "callbacks.progress_bar=null",
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    [run_dir] = (elsewhere / "logs" / "debug" / "runs").iterdir()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    evaluated = run(
        "condgan-eval",
        f"ckpt_path={run_dir}",
        "samples_per_class=2",
        "device=cpu",
        "metrics.kid_subset_size=10",
        f"paths.data_dir={data_dir}",
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert list((elsewhere / "logs" / "eval" / "runs").glob("*/report.md"))
