"""The benchmark runs end to end in a tiny mode and reports consistent figures."""

from condgan.pipelines.bench import bench
from tests.conftest import compose_config


def test_tiny_benchmark_compares_condgan_with_the_plain_loop(tmp_path, data_dir):
    case = "{name: tiny cgan, model: cgan, image_size: 28, batch_size: 16, overrides: ['data.samples_per_class=24', 'data.test_samples_per_class=4']}"
    cfg = compose_config("bench", ["device=cpu", "steps=3", "warmup=1", "fid_samples=52",
                                   f"data_root={tmp_path / 'no_fashion_here'}", f"cases=[{case}]",
                                   f"output={tmp_path / 'bench.md'}"], tmp_path, data_dir)
    [row] = bench(cfg)
    assert row["data"] == "glyphs" and row["batch"] == 16 and row["fid_samples"] == 52
    assert row["condgan_img_s"] > 0 and row["plain_img_s"] > 0
    assert abs(row["ratio"] - row["condgan_img_s"] / row["plain_img_s"]) < 1e-9
    assert abs(row["condgan_step_ms"] - 1000 * 16 / row["condgan_img_s"]) < 1e-6 and row["plain_step_ms"] > 0
    assert row["epoch_s"] > 0 and row["peak_mib"] > 0 and row["fid_s"] > 0 and row["fid"] > 0
    text = (tmp_path / "bench.md").read_text()
    assert text.startswith("Device: CPU") and "| tiny cgan | glyphs | 16 |" in text


def test_the_bench_times_whole_sweeps_through_the_concurrent_launcher(tmp_path, data_dir):
    from condgan.pipelines.bench import sweep_table, time_sweep

    case = "{name: tiny cgan, model: cgan, image_size: 28, batch_size: 16, overrides: ['data.samples_per_class=24', 'data.test_samples_per_class=4']}"
    cfg = compose_config("bench", ["device=cpu", f"data_root={tmp_path / 'no_fashion_here'}", f"cases=[{case}]",
                                   "sweep.trials=2", "sweep.batches=2"], tmp_path, data_dir)
    row = time_sweep(cfg, 2)
    assert row["trials"] == 2 and row["seconds"] > 0
    assert abs(row["runs_per_hour"] - 2 * 3600 / row["seconds"]) < 1e-6
    assert "| 2 | 2 |" in sweep_table([row], cfg)
