"""``make bench``: condgan's training speed against a minimal hand-written loop of the same networks.

For each case (model, image size, batch size) both run on the same device, precision, batches and
cuDNN setting (the case's ``trainer=gpu`` or ``trainer=cpu`` group, as a user of the device picks),
each step eager and, on a GPU, also replayed as a CUDA graph (condgan's ``model.cuda_graph``; the
plain loop's whole step captured: the reference nearest the hardware's limit); the table gives
images/s and milliseconds per step of each, their ratio and condgan's ratio to the eager plain
loop, seconds per epoch of the dataset, peak memory and the seconds a domain FID takes on
``fid_samples`` generated images; with ``profile.steps``, also a table of the operators of a few
eager batches of each case, by device time (where the step's time goes). With ``sweep.concurrency``
it also times whole sweeps of short runs of the first case through ``hydra/launcher=concurrent``
(runs per hour with 1, 2, 4, ... trials at once on the device).
"""

import logging
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import hydra
import lightning as L
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from typing_extensions import override

from condgan.data.base import to_signed_unit
from condgan.metrics.classifier import classifier_for
from condgan.metrics.scores import frechet_distance
from condgan.pipelines.common import (
    CONFIG_DIR,
    compose_train_config,
    device_name,
    reporting_config_errors,
    reporting_user_errors,
    resolve_device,
)
from condgan.pipelines.config_checks import check_config
from condgan.utils.sampling import generate_per_class

log = logging.getLogger(__name__)

AUTOCAST = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on a CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def case_overrides(cfg: DictConfig, case: DictConfig) -> list[str]:
    """The ``train.py`` overrides of one case: the trainer group a user of this device picks
    (``trainer=gpu``, with its cuDNN autotuning, or ``trainer=cpu``), its model, data, batch and
    image size."""
    data_root = Path(cfg.data_root)
    data = cfg.data if (data_root / "train-images-idx3-ubyte.gz").is_file() else "glyphs"
    overrides = [
        f"trainer={'gpu' if resolve_device(cfg.device).type == 'cuda' else 'cpu'}",
        f"model={case.model}",
        f"data={data}",
        f"data.batch_size={case.batch_size}",
        f"data.image_size={case.image_size}",
        f"paths.data_dir={cfg.paths.data_dir}",
    ]
    if data != "glyphs":
        overrides += [f"data.root={data_root}", "data.download=false"]
    if case.image_size != 28:
        overrides.append("data.preprocess.resize=true")
    return overrides + list(case.get("overrides", []))


def case_config(cfg: DictConfig, case: DictConfig) -> DictConfig:
    """The training config of one case, composed like ``train.py`` would."""
    composed = compose_train_config([*case_overrides(cfg, case), f"paths.output_dir={cfg.paths.output_dir}"])
    OmegaConf.resolve(composed)
    return composed


class BatchTimer(L.Callback):
    """Wall time of the training batches after the first ``warmup`` ones, up to the epoch's last
    batch. The device is synchronised only there, at the start and at the end, as in the plain
    loop: a sync after every batch would keep the host from queueing the next batch's work while
    the device runs this one."""

    def __init__(self, warmup: int, device: torch.device) -> None:
        self.warmup, self.device = warmup, device
        self.start: float | None = None
        self.seconds = 0.0

    @override
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.warmup:
            synchronize(self.device)
            self.start = time.perf_counter()

    @override
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.start is not None and batch_idx + 1 == trainer.num_training_batches:
            synchronize(self.device)
            self.seconds = time.perf_counter() - self.start


def fit_condgan(
    train_cfg: DictConfig, cfg: DictConfig, device: torch.device, batches: int, callbacks: list, captured: bool = False
):
    """``batches`` batches of condgan's own training loop (Lightning, manual optimisation, no
    loggers), with ``model.cuda_graph`` when ``captured``; returns the model and its data."""
    datamodule = hydra.utils.instantiate(train_cfg.data, on_device="auto")
    model = hydra.utils.instantiate(train_cfg.model, **({"cuda_graph": True} if captured else {}))
    trainer = L.Trainer(
        accelerator=device.type,
        devices=1,
        precision=cfg.precision,
        benchmark=train_cfg.trainer.get("benchmark"),
        max_epochs=1,
        limit_train_batches=batches,
        limit_val_batches=0,
        logger=False,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=datamodule)
    return model, datamodule


def time_condgan(train_cfg: DictConfig, cfg: DictConfig, device: torch.device, captured: bool = False):
    """images/s of condgan's training loop over ``cfg.steps`` batches after ``cfg.warmup``."""
    timer = BatchTimer(cfg.warmup, device)
    model, datamodule = fit_condgan(train_cfg, cfg, device, cfg.warmup + cfg.steps, [timer], captured)
    return cfg.steps * train_cfg.data.batch_size / timer.seconds, model, datamodule


class StepProfiler(L.Callback):
    """torch.profiler (host and, on a GPU, device activity) over the training batches from
    ``start`` to the epoch's last."""

    def __init__(self, start: int, device: torch.device) -> None:
        self.start, self.device = start, device
        activities = [torch.profiler.ProfilerActivity.CPU]
        if device.type == "cuda":
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        self.profiler = torch.profiler.profile(activities=activities)

    @override
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.start:
            synchronize(self.device)
            self.profiler.start()

    @override
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx + 1 == trainer.num_training_batches:
            synchronize(self.device)
            self.profiler.stop()


def profile_condgan(train_cfg: DictConfig, cfg: DictConfig, device: torch.device) -> str:
    """A table of the operators of ``cfg.profile.steps`` eager condgan batches (after
    ``cfg.warmup``), by their own device time on a GPU (host time on a CPU), with the total per step."""
    profiler = StepProfiler(cfg.warmup, device)
    fit_condgan(train_cfg, cfg, device, cfg.warmup + cfg.profile.steps, [profiler])
    events = profiler.profiler.key_averages()
    on_gpu = device.type == "cuda"
    per_step = sum(e.self_device_time_total if on_gpu else e.self_cpu_time_total for e in events) / cfg.profile.steps
    sort = "self_device_time_total" if on_gpu else "self_cpu_time_total"
    return (
        f"{'device' if on_gpu else 'host'} time per step: {per_step / 1000:.2f} ms "
        f"(over {cfg.profile.steps} eager batches after {cfg.warmup})\n\n"
        + events.table(sort_by=sort, row_limit=cfg.profile.rows)
    )


def plain_networks(train_cfg: DictConfig, device: torch.device) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The case's generator and discriminator on ``device``, in the layout (``model.channels_last``)
    and compiled (``model.compile``) as condgan's module sets them up for training."""
    model = hydra.utils.instantiate(train_cfg.model).to(device)
    model.configure_model()
    return model.generator, model.discriminator


def time_plain_loop(
    train_cfg: DictConfig, cfg: DictConfig, datamodule, device: torch.device, captured: bool = False
) -> float:
    """images/s of a hand-written loop: the same networks, optimisers and BCE losses, batches
    indexed from the same uint8 tensor on the device, the case's cuDNN autotuning
    (``trainer.benchmark``, as condgan's trainer sets it); with ``captured``, the whole step (batch
    draw, both networks' steps) replayed as one CUDA graph after three eager steps."""
    if train_cfg.trainer.get("benchmark") is not None:
        torch.backends.cudnn.benchmark = train_cfg.trainer.benchmark
    g, d = plain_networks(train_cfg, device)
    opt = train_cfg.model.optim
    opt_g = torch.optim.Adam(g.parameters(), lr=opt.generator.lr, betas=tuple(opt.generator.betas), capturable=captured)
    opt_d = torch.optim.Adam(
        d.parameters(), lr=opt.discriminator.lr, betas=tuple(opt.discriminator.betas), capturable=captured
    )
    real_target = train_cfg.model.real_label
    images, labels = datamodule.train_set.images.to(device), datamodule.train_set.labels.to(device)
    batch, noise_dim = train_cfg.data.batch_size, train_cfg.model.noise_dim
    autocast = torch.autocast(
        device.type, dtype=AUTOCAST.get(cfg.precision), enabled=cfg.precision in AUTOCAST, cache_enabled=not captured
    )

    def step() -> None:
        index = torch.randint(len(labels), (batch,), device=device)
        real, y = to_signed_unit(images[index]), labels[index]
        with autocast:
            fake = g(torch.randn(batch, noise_dim, device=device), y)
            real_out, fake_out = d(real, y), d(fake.detach(), y)
            d_loss = F.binary_cross_entropy_with_logits(
                real_out.float(), torch.full_like(real_out.float(), real_target)
            ) + F.binary_cross_entropy_with_logits(fake_out.float(), torch.zeros_like(fake_out.float()))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        with autocast:
            out = d(fake, y).float()
            g_loss = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()

    run = step
    if captured:
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(3):
                step()
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step()
        run = graph.replay
    start = 0.0
    for i in range(cfg.warmup + cfg.steps):
        if i == cfg.warmup:
            synchronize(device)
            start = time.perf_counter()
        run()
    synchronize(device)
    return cfg.steps * batch / (time.perf_counter() - start)


def time_domain_fid(model, datamodule, cfg: DictConfig, device: torch.device) -> tuple[float, float]:
    """Seconds to generate ``fid_samples`` images and compute their domain FID (classifier cached
    beforehand), and the FID itself."""
    settings = OmegaConf.to_container(cfg.metrics, resolve=True)
    classifier = classifier_for(datamodule, settings["classifier"], settings["classifier_cache_dir"], device)
    real = classifier.features(datamodule.reference_set("test").images)
    model.to(device)
    synchronize(device)
    start = time.perf_counter()
    per_class = max(1, cfg.fid_samples // model.num_classes)
    images, _ = generate_per_class(model, per_class, torch.Generator().manual_seed(0), batch_size=1000)
    fid = frechet_distance(real, classifier.features(images))
    synchronize(device)
    return time.perf_counter() - start, fid


def peak_memory_mib(device: torch.device) -> float:
    """Peak GPU memory allocated on a GPU, else the process's peak RSS, in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def step_modes(cfg: DictConfig, train_cfg: DictConfig, device: torch.device, name: str) -> list[bool]:
    """The ways a case's step is timed, as ``captured`` flags: eager, and on a GPU with ``cuda_graph``
    also captured, unless the case compiles its networks (``model.cuda_graph`` refuses
    ``model.compile``; said in the log)."""
    if not (cfg.cuda_graph and device.type == "cuda"):
        return [False]
    if train_cfg.model.get("compile") is not None:
        log.info("bench: %s compiles its networks, which model.cuda_graph refuses: only its eager step is timed", name)
        return [False]
    return [False, True]


def run_case(cfg: DictConfig, case: DictConfig, device: torch.device) -> list[dict]:
    """The case's rows (:func:`step_modes`): the eager step, and on a GPU with ``cuda_graph`` also
    the captured step (``model.cuda_graph=true`` against the plain loop captured as a CUDA graph),
    each the fastest of ``repeats`` alternating timings. Peak memory is
    the training's; the domain FID is timed once, on the eager run's model (generation does not
    depend on how the steps ran), and shown in both rows."""
    train_cfg = case_config(cfg, case)
    modes = step_modes(cfg, train_cfg, device, case.name)
    rows, plain_eager, fid_columns = [], None, None
    for captured in modes:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        condgan_rates, plain_rates = [], []
        for _ in range(cfg.repeats):
            L.seed_everything(0, verbose=False)
            rate, model, datamodule = time_condgan(train_cfg, cfg, device, captured)
            condgan_rates.append(rate)
            plain_rates.append(time_plain_loop(train_cfg, cfg, datamodule, device, captured))
        condgan_rate, plain_rate = max(condgan_rates), max(plain_rates)
        peak_mib = peak_memory_mib(device)
        plain_eager = plain_eager or plain_rate
        if fid_columns is None:
            fid_seconds, fid = time_domain_fid(model, datamodule, cfg, device)
            fid_columns = {
                "fid_s": fid_seconds,
                "fid": fid,
                "fid_samples": max(1, cfg.fid_samples // model.num_classes) * model.num_classes,
            }
        batch = train_cfg.data.batch_size
        rows.append(
            {
                "case": case.name,
                "step": "CUDA graph" if captured else "eager",
                "data": datamodule.name,
                "batch": batch,
                "condgan_img_s": condgan_rate,
                "plain_img_s": plain_rate,
                "ratio": condgan_rate / plain_rate,
                "ratio_to_plain_eager": condgan_rate / plain_eager,
                "condgan_step_ms": 1000 * batch / condgan_rate,
                "plain_step_ms": 1000 * batch / plain_rate,
                "epoch_s": len(datamodule.train_set) / condgan_rate,
                "peak_mib": peak_mib,
                "cudnn_benchmark": torch.backends.cudnn.benchmark,
                **fid_columns,
            }
        )
    return rows


def sweep_command(cfg: DictConfig, concurrency: int, sweep_dir: Path) -> list[str]:
    """A ``train.py -m`` sweep of ``sweep.trials`` short runs of the first case (seeds 0..trials-1;
    ``sweep.epochs`` of at most ``sweep.batches`` batches each) through ``hydra/launcher=concurrent``
    with ``concurrency`` trials at a time."""
    settings = cfg.sweep
    return [
        sys.executable,
        "-m",
        "condgan.pipelines.train",
        "-m",
        "hydra/launcher=concurrent",
        f"hydra.launcher.n_jobs={concurrency}",
        f"hydra.sweep.dir={sweep_dir}",
        *case_overrides(cfg, cfg.cases[0]),
        f"trainer.precision={cfg.precision}",
        f"trainer.max_epochs={settings.epochs}",
        f"+trainer.limit_train_batches={settings.batches}",
        "trainer.limit_val_batches=0",
        "callbacks.progress_bar=null",
        "callbacks.model_summary=null",
        "callbacks.model_checkpoint_best=null",
        "callbacks.domain_metrics=null",
        f"seed=range(0,{settings.trials})",
    ]


def time_sweep(cfg: DictConfig, concurrency: int) -> dict:
    """Runs per hour of a whole sweep (process start-up included) at this concurrency."""
    sweep_dir = Path(cfg.paths.output_dir) / "sweeps" / f"n{concurrency}"
    start = time.perf_counter()
    result = subprocess.run(sweep_command(cfg, concurrency, sweep_dir), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"the sweep with {concurrency} concurrent trials failed:\n{result.stderr[-2000:]}")
    finished = len(list(sweep_dir.glob("*/checkpoints/last.ckpt")))
    return {
        "concurrency": concurrency,
        "trials": finished,
        "seconds": seconds,
        "runs_per_hour": finished * 3600 / seconds,
    }


def sweep_table(rows: list[dict], cfg: DictConfig) -> str:
    """The sweep-throughput table (markdown), one row per concurrency."""
    lines = [
        f"Sweep throughput: {cfg.sweep.trials} runs of {cfg.sweep.epochs} x {cfg.sweep.batches} batches of "
        f"{cfg.cases[0].name} (hydra/launcher=concurrent, process start-up included)",
        "",
        "| trials at once | runs | wall s | runs per hour |",
        "|---|---|---|---|",
    ]
    return "\n".join(lines + [sweep_row(r) for r in rows]) + "\n"


def sweep_row(r: dict) -> str:
    """One row of :func:`sweep_table`."""
    return f"| {r['concurrency']} | {r['trials']} | {r['seconds']:.1f} | {r['runs_per_hour']:.0f} |"


def table(rows: list[dict], device: torch.device, precision: str) -> str:
    """The bench's table (markdown): device, precision, torch version and, on a GPU, whether cuDNN
    autotuned the convolutions, then one row per case and step."""
    memory = "peak GPU MiB" if device.type == "cuda" else "peak RSS MiB"
    settings = f"Device: {device_name(device)}; precision {precision}; torch {torch.__version__}"
    if device.type == "cuda":
        autotuned = sorted({"on" if r["cudnn_benchmark"] else "off" for r in rows}, reverse=True)
        settings += f"; cudnn.benchmark {' / '.join(autotuned)} (trainer.benchmark)"
    lines = [
        settings,
        "",
        f"| case | step | data | batch | condgan img/s | plain loop img/s | condgan / plain ms per step | ratio | "
        f"ratio to the eager plain loop | s/epoch | {memory} | domain FID time (samples) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    return "\n".join(lines + [table_row(r) for r in rows]) + "\n"


def table_row(r: dict) -> str:
    """One row of :func:`table`."""
    return (
        f"| {r['case']} | {r['step']} | {r['data']} | {r['batch']} | {r['condgan_img_s']:.0f} | "
        f"{r['plain_img_s']:.0f} | {r['condgan_step_ms']:.2f} / {r['plain_step_ms']:.2f} | {r['ratio']:.3f} | "
        f"{r['ratio_to_plain_eager']:.3f} | "
        f"{r['epoch_s']:.1f} | {r['peak_mib']:.0f} | {r['fid_s']:.1f} s ({r['fid_samples']}) |"
    )


def bench(cfg: DictConfig) -> list[dict]:
    """Run every case, print the table and write it to ``cfg.output``; returns the rows."""
    check_config(cfg)
    device, output = resolve_device(cfg.device), Path(cfg.output)
    if cfg.cuda_graph and device.type != "cuda":
        log.info("bench: cuda_graph rows need a CUDA device; on %s only the eager step is timed", device.type)
    output.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for case in cfg.cases:
        for row in run_case(cfg, case, device):
            log.info("timed: %s", table_row(row))  # before the table, which a run cut short would not print
            rows.append(row)
        if cfg.profile.steps:
            path = output.parent / f"profile_{re.sub(r'[^A-Za-z0-9]+', '_', case.name).strip('_')}.txt"
            path.write_text(profile_condgan(case_config(cfg, case), cfg, device))
            log.info("operator profile of %s: %s", case.name, path)
    text = table(rows, device, cfg.precision)
    sweeps = []
    for concurrency in cfg.sweep.concurrency:
        sweeps.append(time_sweep(cfg, concurrency))
        log.info("timed sweep: %s", sweep_row(sweeps[-1]))
    if sweeps:
        text += "\n" + sweep_table(sweeps, cfg)
    print(text)
    output.write_text(text)
    return rows


@reporting_config_errors
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="bench")
@reporting_user_errors
def main(cfg: DictConfig) -> None:
    """``make bench``: :func:`bench` with the composed config."""
    bench(cfg)


if __name__ == "__main__":
    main()
