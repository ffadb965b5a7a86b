"""The benchmark runs end to end in a tiny mode and reports consistent figures."""

from pathlib import Path

import pytest
import torch

from condgan.pipelines.bench import bench
from tests.conftest import compose_config


def tiny_bench_config(
    tmp_path, data_dir, model: str, *overrides: str, device: str = "cpu", case_overrides: tuple[str, ...] = ()
):
    """The bench config of one case of ``model`` on a few glyphs per class (batch 16; no
    Fashion-MNIST at ``data_root``; ``case_overrides`` for its training config), its table written
    to ``tmp_path / bench.md``, plus ``overrides``."""
    training = ("data.samples_per_class=24", "data.test_samples_per_class=4", *case_overrides)
    training = ", ".join(f"'{override}'" for override in training)
    case = f"{{name: tiny {model}, model: {model}, image_size: 28, batch_size: 16, overrides: [{training}]}}"
    paths = [f"data_root={tmp_path / 'no_fashion_here'}", f"output={tmp_path / 'bench.md'}"]
    return compose_config("bench", [f"device={device}", f"cases=[{case}]", *paths, *overrides], tmp_path, data_dir)


def test_tiny_benchmark_compares_condgan_with_the_plain_loop(tmp_path, data_dir):
    cfg = tiny_bench_config(tmp_path, data_dir, "cgan", "steps=3", "warmup=1", "fid_samples=52")
    [row] = bench(cfg)
    assert row["data"] == "glyphs" and row["batch"] == 16 and row["fid_samples"] == 52 and row["step"] == "eager"
    assert row["condgan_img_s"] > 0 and row["plain_img_s"] > 0
    assert (
        abs(row["ratio"] - row["condgan_img_s"] / row["plain_img_s"]) < 1e-9
        and row["ratio_to_plain_eager"] == row["ratio"]
    )
    assert abs(row["condgan_step_ms"] - 1000 * 16 / row["condgan_img_s"]) < 1e-6 and row["plain_step_ms"] > 0
    assert row["epoch_s"] > 0 and row["peak_mib"] > 0 and row["fid_s"] > 0 and row["fid"] > 0
    text = (tmp_path / "bench.md").read_text()
    assert text.startswith("Device: CPU") and "| tiny cgan | eager | glyphs | 16 |" in text


def test_repeated_timings_alternate_and_the_fastest_of_each_is_reported(tmp_path, data_dir, monkeypatch):
    import condgan.pipelines.bench as bench_module

    calls, condgan_rates, plain_rates = [], iter([100.0, 300.0, 200.0]), iter([50.0, 40.0, 60.0])
    real_condgan, real_plain = bench_module.time_condgan, bench_module.time_plain_loop

    def condgan(*args, **kwargs):
        calls.append("condgan")
        return (next(condgan_rates), *real_condgan(*args, **kwargs)[1:])

    def plain(*args, **kwargs):
        calls.append("plain")
        real_plain(*args, **kwargs)
        return next(plain_rates)

    monkeypatch.setattr(bench_module, "time_condgan", condgan)
    monkeypatch.setattr(bench_module, "time_plain_loop", plain)
    cfg = tiny_bench_config(tmp_path, data_dir, "cgan", "steps=2", "warmup=1", "fid_samples=26", "repeats=3")
    [row] = bench(cfg)
    assert calls == ["condgan", "plain"] * 3
    assert (row["condgan_img_s"], row["plain_img_s"], row["ratio"]) == (300.0, 60.0, 5.0)


def test_the_bench_profiles_each_cases_operators_when_asked(tmp_path, data_dir):
    cfg = tiny_bench_config(
        tmp_path, data_dir, "cdcgan", "steps=2", "warmup=1", "fid_samples=52", "profile.steps=2", "profile.rows=6"
    )
    bench(cfg)
    text = (tmp_path / "profile_tiny_cdcgan.txt").read_text()
    header, _, table = text.partition("\n\n")
    per_step = float(header.split("host time per step: ")[1].split(" ms")[0])
    assert per_step > 0 and "over 2 eager batches after 1" in header
    assert "Self CPU" in table and "aten::" in table, "torch.profiler's operator table"
    assert "convolution" in table, "the networks' convolutions are among the top operators"


def test_the_plain_loop_gets_the_cases_layout(tmp_path, data_dir):
    from condgan.pipelines.bench import case_config, plain_networks

    for layout in (torch.channels_last, torch.contiguous_format):
        cfg = tiny_bench_config(
            tmp_path, data_dir, "cdcgan", case_overrides=(f"model.channels_last={layout == torch.channels_last}",)
        )
        g, d = plain_networks(case_config(cfg, cfg.cases[0]), torch.device("cpu"))
        weights = [m.weight for net in (g, d) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
        assert weights and all(w.is_contiguous(memory_format=layout) for w in weights)


def test_a_compiled_case_is_timed_eagerly_only_on_a_gpu(tmp_path, data_dir):
    from condgan.pipelines.bench import case_config, step_modes

    gpu = torch.device("cuda")  # a device name only: nothing runs on it
    plain = tiny_bench_config(tmp_path, data_dir, "cgan")
    compiled = tiny_bench_config(tmp_path, data_dir, "cgan", case_overrides=("model.compile={}",))
    assert step_modes(plain, case_config(plain, plain.cases[0]), gpu, "plain") == [False, True]
    assert step_modes(compiled, case_config(compiled, compiled.cases[0]), gpu, "compiled") == [False]
    assert step_modes(plain, case_config(plain, plain.cases[0]), torch.device("cpu"), "plain") == [False]


def test_a_gpu_case_runs_under_trainer_gpu_with_its_cudnn_autotuning(tmp_path, data_dir, monkeypatch):
    from condgan.pipelines import common
    from condgan.pipelines.bench import case_config

    monkeypatch.setattr(common, "visible_cuda_gpus", lambda: 1)  # composed as on a GPU machine; nothing runs
    gpu = tiny_bench_config(tmp_path, data_dir, "cdcgan", device="cuda")
    cpu = tiny_bench_config(tmp_path, data_dir, "cdcgan")
    assert case_config(gpu, gpu.cases[0]).trainer.benchmark is True, "trainer=gpu's cudnn.benchmark"
    assert case_config(cpu, cpu.cases[0]).trainer.accelerator == "cpu"


def test_condgan_and_the_plain_loop_both_run_under_the_cases_cudnn_setting(tmp_path, data_dir, monkeypatch):
    import condgan.pipelines.bench as bench_module

    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    seen = {}

    def spy(name, timing):
        def timed(*args, **kwargs):
            torch.backends.cudnn.benchmark = False  # whatever ran before, this run must set it
            result = timing(*args, **kwargs)
            seen[name] = torch.backends.cudnn.benchmark
            return result

        return timed

    monkeypatch.setattr(bench_module, "time_condgan", spy("condgan", bench_module.time_condgan))
    monkeypatch.setattr(bench_module, "time_plain_loop", spy("plain", bench_module.time_plain_loop))
    cfg = tiny_bench_config(
        tmp_path, data_dir, "cgan", "steps=2", "warmup=1", "fid_samples=26", case_overrides=("+trainer.benchmark=true",)
    )
    [row] = bench(cfg)
    assert seen == {"condgan": True, "plain": True} and row["cudnn_benchmark"] is True


@pytest.mark.slow
def test_the_bench_times_whole_sweeps_through_the_concurrent_launcher(tmp_path, data_dir):
    from condgan.pipelines.bench import sweep_table, time_sweep

    cfg = tiny_bench_config(tmp_path, data_dir, "cgan", "sweep.trials=2", "sweep.epochs=2", "sweep.batches=2")
    row = time_sweep(cfg, 2)
    assert row["trials"] == 2 and row["seconds"] > 0
    for last in (Path(cfg.paths.output_dir) / "sweeps" / "n2").glob("*/checkpoints/last.ckpt"):
        assert torch.load(last, weights_only=True)["global_step"] == 2 * 2 * 2, "2 epochs of 2 batches, D and G steps"
    assert abs(row["runs_per_hour"] - 2 * 3600 / row["seconds"]) < 1e-6
    assert "| 2 | 2 |" in sweep_table([row], cfg)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (on a CPU only the eager step is timed)")
def test_on_a_gpu_the_bench_also_times_the_captured_steps(tmp_path, data_dir):
    cfg = tiny_bench_config(
        tmp_path, data_dir, "cdcgan", "steps=3", "warmup=5", "fid_samples=52", "precision=bf16-mixed", device="cuda"
    )
    eager, captured = bench(cfg)
    assert (eager["step"], captured["step"]) == ("eager", "CUDA graph")
    assert abs(captured["ratio_to_plain_eager"] - captured["condgan_img_s"] / eager["plain_img_s"]) < 1e-9
    assert "| tiny cdcgan | CUDA graph | glyphs | 16 |" in (tmp_path / "bench.md").read_text()


def test_the_batch_timer_syncs_the_device_only_at_its_start_and_end(monkeypatch):
    from types import SimpleNamespace

    import condgan.pipelines.bench as bench_module

    synced = []
    monkeypatch.setattr(bench_module, "synchronize", lambda device: synced.append(device))
    timer = bench_module.BatchTimer(warmup=2, device=torch.device("cpu"))
    trainer = SimpleNamespace(num_training_batches=6)
    for batch_idx in range(6):
        timer.on_train_batch_start(trainer, None, None, batch_idx)
        timer.on_train_batch_end(trainer, None, None, None, batch_idx)
    assert len(synced) == 2 and timer.seconds > 0
