"""The command lines a user types: run folders, --cfg job, and one-line errors."""

import contextlib
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig

from condgan.utils.gpu_probe import hide_absent_gpus
from tests.conftest import QUIET

REPO = Path(__file__).resolve().parents[1]


def run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python <script> <args>`` in a fresh process, as a user runs it."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, str(REPO / script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def run_here(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The same command line through the same entry point (``train.py``'s ``run``, ``evaluate.py``'s
    or ``make bench``'s ``main``) in this process: no interpreter start-up and imports, for commands that stop early
    (one-line errors, ``--cfg``). The exit code is SystemExit's; Hydra's logging, global state and
    run config are put back afterwards."""
    from condgan.pipelines.bench import main as bench_main
    from condgan.pipelines.evaluate import main as evaluate_main
    from condgan.pipelines.train import run as train_run

    entry = {"train.py": train_run, "evaluate.py": evaluate_main, "condgan/pipelines/bench.py": bench_main}[script]
    root = logging.getLogger()
    handlers, level, argv, cwd_before = root.handlers[:], root.level, sys.argv, os.getcwd()
    chosen = os.environ.pop("HYDRA_FULL_ERROR", None)
    out, err, code = io.StringIO(), io.StringIO(), 0
    try:
        sys.argv = [script, *args]
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            entry()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = argv
        os.chdir(cwd_before)
        if chosen is not None:
            os.environ["HYDRA_FULL_ERROR"] = chosen
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None  # later compositions are outside a Hydra app again
    return subprocess.CompletedProcess([script, *args], code, out.getvalue(), err.getvalue())


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("condgan: error:")]


def test_cfg_job_prints_the_composed_config(tmp_path):
    result = run_here("train.py", "model=cgan", "data=emnist", "--cfg", "job", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "_target_: condgan.models.CGAN" in result.stdout
    assert "_target_: condgan.data.EMNISTDataModule" in result.stdout
    assert "num_classes: ${data.num_classes}" in result.stdout


@pytest.mark.parametrize("group,known", [("model", "cgan"), ("data", "glyphs")])
def test_unknown_names_list_the_available_options(tmp_path, group, known):
    result = run_here("train.py", f"{group}=nope", cwd=tmp_path)
    assert result.returncode == 2
    [line] = error_lines(result)
    assert f"{group}=nope is not a config in {group}/: choose one of" in line and known in line
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").rglob("*.ckpt"))


def test_missing_dataset_offline_is_one_line(tmp_path):
    result = run_here(
        "train.py",
        "data=fashion_mnist",
        f"data.root={tmp_path / 'nothing'}",
        "data.download=false",
        *QUIET,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    [line] = error_lines(result)
    assert "fashion_mnist: dataset files not found" in line and "data.root" in line
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("content,expected", [(None, "not found"), (b"not a checkpoint", "cannot be read")])
def test_bad_checkpoints_are_one_line(tmp_path, content, expected):
    path = tmp_path / "model.ckpt"
    if content is not None:
        path.write_bytes(content)
    result = run_here("evaluate.py", f"ckpt_path={path}", cwd=tmp_path)
    assert result.returncode == 2
    [line] = error_lines(result)
    assert expected in line and "Traceback" not in result.stderr


@pytest.mark.slow
def test_train_cli_writes_a_run_folder(tmp_path, data_dir):
    result = run(
        "train.py",
        "debug=limit",
        "trainer.max_epochs=1",
        "data.samples_per_class=24",
        "data.test_samples_per_class=4",
        f"paths.data_dir={data_dir}",
        *QUIET,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [run_dir] = (tmp_path / "logs" / "debug" / "runs").iterdir()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "grids" / "epoch_000.png").is_file()
    [events] = (run_dir / "tensorboard").glob("*/events.out.tfevents.*")
    assert events.parent.name.startswith("debug=limit,trainer.max_epochs=1,data.samples_per_class=24"), (
        "TensorBoard lists the run by its overrides"
    )
    assert (run_dir / ".hydra" / "config.yaml").is_file() and (run_dir / "debug.log").is_file()
    assert "epoch 0 done in" in (run_dir / "debug.log").read_text()
    output = result.stdout + result.stderr
    for chatter in (
        "💡 Tip",
        "LeafSpec",
        "FLOPs",
        "`weights_only` was not set",
        "already configured with model summary",
    ):
        assert chatter not in output


@pytest.mark.slow
def test_a_smoke_run_leaves_logs_alone_names_its_folder_and_summarises_the_model_in_one_line(
    tmp_path, data_dir, monkeypatch
):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    result = run(
        "train.py",
        "debug=fdr",
        "model=cdcgan",
        "data.samples_per_class=24",
        "data.test_samples_per_class=4",
        f"paths.data_dir={data_dir}",
        "callbacks.progress_bar=null",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert not (tmp_path / "logs").exists()
    [run_dir] = (tmp_path / "tmp" / "condgan-fdr").iterdir()
    assert f"a smoke run; its files are in {run_dir}" in output
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    [line] = [line for line in output.splitlines() if "model: generator" in line]
    assert "generator (CDCGANGenerator, " in line and "discriminator (CDCGANDiscriminator, " in line
    assert "parameters" in line and "FLOPs" not in output


@pytest.mark.slow
@pytest.mark.parametrize("model,on_device", [("cgan", "false"), ("cvae", "true")])
def test_ddp_on_two_cpu_processes_yields_one_checkpoint(tmp_path, data_dir, model, on_device):
    result = run(
        "train.py",
        "trainer=ddp",
        "debug=limit",
        "trainer.max_epochs=1",
        "data.samples_per_class=24",
        "data.test_samples_per_class=4",
        f"model={model}",
        f"data.on_device={on_device}",
        f"paths.data_dir={data_dir}",
        *QUIET,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [run_dir] = (tmp_path / "logs" / "debug" / "runs").iterdir()
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert [p.name for p in (run_dir / "grids").iterdir()] == ["epoch_000.png"]


def test_user_errors_become_one_line_and_bugs_keep_their_traceback(capsys):
    from hydra.errors import InstantiationException

    from condgan.errors import DatasetNotFoundError
    from condgan.pipelines.common import reporting_user_errors

    @reporting_user_errors
    def wrapped_user_error():
        try:
            raise DatasetNotFoundError("files missing:\n  a.gz\n  b.gz")
        except DatasetNotFoundError as err:
            raise InstantiationException("Error in call to target") from err

    with pytest.raises(SystemExit) as exit_info:
        wrapped_user_error()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "condgan: error: files missing: a.gz b.gz\n"

    @reporting_user_errors
    def bug():
        raise KeyError("internal")

    with pytest.raises(KeyError):
        bug()


def test_slurm_launcher_config_sends_ddp_sweeps_to_a_cluster(tmp_path):
    result = run_here(
        "train.py", "hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4", "--cfg", "hydra", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "_target_: hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher" in result.stdout
    assert (
        "gpus_per_node: ${trainer.devices}" in result.stdout and "tasks_per_node: ${trainer.devices}" in result.stdout
    )


def log_span(path: Path) -> tuple[str, str]:
    """Timestamps of a run log's first and last lines ("[2026-01-01 12:00:00,123]")."""
    lines = path.read_text().splitlines()
    return lines[0][1:24], lines[-1][1:24]


@pytest.mark.slow
def test_the_concurrent_launcher_runs_trials_of_a_sweep_at_the_same_time(tmp_path, data_dir):
    result = run(
        "train.py",
        "-m",
        "hydra/launcher=concurrent",
        "hydra.launcher.n_jobs=2",
        "model=cgan,cvae",
        "debug=limit",
        "trainer.max_epochs=1",
        "data.samples_per_class=24",
        "data.test_samples_per_class=4",
        f"paths.data_dir={data_dir}",
        *QUIET,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [sweep] = (tmp_path / "logs" / "debug" / "multiruns").iterdir()
    assert all((sweep / trial / "checkpoints" / "last.ckpt").is_file() for trial in ("0", "1"))
    (start_a, end_a), (start_b, end_b) = log_span(sweep / "0" / "debug.log"), log_span(sweep / "1" / "debug.log")
    assert start_a < end_b and start_b < end_a, "the two trials overlapped in time"


def test_without_a_gpu_the_entry_points_keep_torchs_gpu_check_from_loading_nvml_each_time(monkeypatch):
    """Under Lightning's PYTORCH_NVML_BASED_CUDA_CHECK=1 a GPU-less CUDA build of torch loads NVML on
    every availability check (each Adam step makes one); with CUDA_VISIBLE_DEVICES empty it does
    not. A user's own CUDA_VISIBLE_DEVICES is kept."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    if not torch.backends.cuda.is_built() or torch.cuda.is_available():
        pytest.skip("needs a CUDA build of torch on a machine without a GPU")
    loads = []
    monkeypatch.setattr(torch.cuda, "_raw_device_count_nvml", lambda: loads.append(1) or -1)
    torch.cuda.is_available()
    assert loads, "each check loads NVML"
    assert hide_absent_gpus() and os.environ["CUDA_VISIBLE_DEVICES"] == ""
    loads.clear()
    assert not any(torch.cuda.is_available() for _ in range(3)) and not loads
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert not hide_absent_gpus() and os.environ["CUDA_VISIBLE_DEVICES"] == "0"
