"""``model.cuda_graph``: a replayed batch trains exactly as the eager one; off a GPU the steps run
eagerly with a notice; refused combinations; checkpoints of a captured run load anywhere.

The capture itself needs a CUDA GPU: those tests are skipped on a CPU (the fallback test runs there)."""

import logging

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from condgan.errors import ConfigError, NonFiniteLossError
from condgan.models.cuda_graph import portable_optimizer_state, prepare_optimizer_for_capture
from condgan.pipelines.common import user_error
from tests.test_adversarial import fit

needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU: on a CPU the capture is skipped"
)


class LossRecorder(L.Callback):
    """Every batch's logged training values (``log_every_n_steps=1``)."""

    def __init__(self):
        self.values = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.values.append({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")})


def train_twice(train_config, overrides, accelerator, batches=9):
    """The same seeded run eagerly and with ``model.cuda_graph=true``: (recorded values, parameters,
    trainer, model) for each."""
    runs = {}
    for graphed in (False, True):
        torch.manual_seed(0)
        model = instantiate(train_config(*overrides, f"model.cuda_graph={graphed}").model)
        recorder = LossRecorder()
        trainer = fit(model, batches=batches, callbacks=[recorder], accelerator=accelerator)
        params = torch.cat([p.detach().flatten().float().cpu() for p in model.parameters()])
        runs[graphed] = (recorder.values, params, trainer, model)
    return runs


@needs_cuda
@pytest.mark.parametrize(
    "overrides",
    [
        ("model=cdcgan", "model.n_critic=2", "model.ema_decay=0.9", "model.real_label=0.9"),
        ("model=cdcgan", "model.loss=wasserstein", "model.gradient_penalty=10", "model.clip_value=0.5"),
        (
            "model=cdcgan",
            "model.r1_penalty=1",
            "model.r1_every=2",
            "model.ema_half_life=500",
            "model.ema_rampup=0.5",
            "model.lr_schedule={name: linear, final_factor: 0.1}",
            "model.lr_warmup_steps=3",
            "model.grad_clip=1.0",
        ),
        ("model=acgan_ema", "trainer.precision=bf16-mixed"),
        ("model=cdcgan", "model.n_critic=2", "model.channels_last=true", "trainer.precision=bf16-mixed"),
    ],
    ids=[
        "n_critic-ema-smoothing",
        "gp-clip",
        "lazy_r1-half_life-schedule-warmup-grad_clip",
        "acgan-bf16",
        "n_critic-channels_last-bf16",
    ],
)
def test_replayed_batches_train_as_the_eager_ones(train_config, overrides, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    runs = train_twice(train_config, overrides, "gpu")
    (eager_values, eager_params, eager_trainer, _), (graph_values, graph_params, graph_trainer, model) = (
        runs[False],
        runs[True],
    )
    assert model._graphed is not None and model._graphed.graphs, "batches were captured and replayed"
    assert graph_trainer.global_step == eager_trainer.global_step, "Lightning counts the replayed optimiser steps"
    assert [sorted(v) for v in graph_values] == [sorted(v) for v in eager_values]
    # D's first losses come before any step; later values differ by rounding only (capturable Adam
    # computes its bias corrections on the device) and the differences grow over the steps; the
    # accuracies of 8 images move in steps of 1/8, so a logit next to the threshold can flip one
    for name in [n for n in eager_values[0] if n.startswith("train/d_") and "acc" not in n]:
        assert graph_values[0][name] == pytest.approx(eager_values[0][name], rel=1e-5, abs=1e-5), name
    tolerance = 2e-2 if "trainer.precision=bf16-mixed" in overrides else 1e-2
    for eager, graphed in zip(eager_values, graph_values):
        for name in eager:
            assert graphed[name] == pytest.approx(
                eager[name], rel=tolerance, abs=0.13 if "acc" in name else tolerance
            ), name
    assert torch.allclose(graph_params, eager_params, rtol=tolerance, atol=tolerance)
    for counter in ("generator_steps", "discriminator_steps", "generator_images"):
        assert int(getattr(model, counter)) == model.count(counter) == int(getattr(runs[False][3], counter))


class SyncForbidden(L.Callback):
    """Makes any host-device sync an error from the start of batch ``start`` to the start of batch
    ``stop`` (the batch-end work Lightning does after each of those batches included)."""

    def __init__(self, start: int, stop: int):
        self.start, self.stop = start, stop

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == self.start:
            torch.cuda.set_sync_debug_mode("error")
        elif batch_idx == self.stop:
            torch.cuda.set_sync_debug_mode(0)


@needs_cuda
@pytest.mark.parametrize(
    "graphed, autotuned", [(False, False), (True, False), (True, True)], ids=["eager", "captured", "captured-autotuned"]
)
def test_batches_between_logging_steps_never_wait_for_the_gpu(train_config, graphed, autotuned, monkeypatch):
    """``autotuned``: cuDNN times its kernels on each new shape (``trainer=gpu``'s ``benchmark``) in
    the eager warm-up batches, not in the capture or the replays."""
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)  # restored after
    model = instantiate(train_config("model=cdcgan", "model.ema_half_life=500", f"model.cuda_graph={graphed}").model)
    images, labels = torch.rand(96, 1, 28, 28, device="cuda") * 2 - 1, torch.randint(26, (96,), device="cuda")
    trainer = L.Trainer(
        accelerator="gpu",
        devices=1,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=5,
        benchmark=autotuned,
        callbacks=[SyncForbidden(start=5, stop=9)],
    )
    try:  # batch 4 logs (5 steps done) and batch 9 logs: batches 5-8 run, and end, without a sync
        trainer.fit(
            model,
            train_dataloaders=torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=8),
        )
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert trainer.global_step == 2 * 12 and trainer.progress_bar_metrics["train/d_loss"] > 0


def test_logging_leaves_the_batch_outputs_as_they_are(train_config, monkeypatch):
    """A replayed graph hands ``training_step`` the same dict of output tensors every batch: logging
    reads it and must not change it (on a CPU, each eager batch's dict stands in for it)."""
    model = instantiate(train_config("model=cdcgan").model)
    recorded, eager_batch = [], model.adversarial_batch

    def recording(*args, **kwargs):
        out = eager_batch(*args, **kwargs)
        recorded.append((out, dict(out)))
        return out

    monkeypatch.setattr(model, "adversarial_batch", recording)
    fit(model, batches=3)
    assert len(recorded) == 3 and all(out == before for out, before in recorded)
    assert {"real_out", "fake_out", "train/d_loss", "train/g_loss"} <= set(recorded[0][0])


@needs_cuda
def test_the_nan_guard_stops_a_replayed_run(train_config):
    broken = instantiate(train_config("model=cdcgan", "model.real_label=nan", "model.cuda_graph=true").model)
    with pytest.raises(NonFiniteLossError, match="batch 5"):
        fit(broken, batches=9, log_every_n_steps=6, accelerator="gpu")
    assert broken._graphed.graphs and int(broken.discriminator_steps) == 6


@needs_cuda
def test_a_captured_runs_optimizer_state_saves_as_an_eager_one():
    net = torch.nn.Linear(3, 2).cuda()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(4, 3, device="cuda")).sum().backward()
    optimizer.step()
    prepare_optimizer_for_capture(optimizer)
    group = optimizer.param_groups[0]
    assert group["capturable"] and group["lr"].is_cuda and group["base_lr"] == 1e-3
    assert optimizer.state[net.weight]["step"].is_cuda
    saved = portable_optimizer_state(optimizer.state_dict())
    assert saved["param_groups"][0]["lr"] == pytest.approx(1e-3) and not saved["param_groups"][0]["capturable"]
    assert saved["state"][0]["step"].device.type == "cpu"
    assert group["lr"].is_cuda and optimizer.state[net.weight]["step"].is_cuda, "the live optimiser is untouched"
    eager = torch.optim.Adam(torch.nn.Linear(3, 2).parameters(), lr=5.0)
    eager.load_state_dict(saved)
    assert eager.param_groups[0]["lr"] == pytest.approx(1e-3)


def test_portable_optimizer_state_turns_device_lrs_into_floats():
    param = torch.nn.Parameter(torch.zeros(2))
    state = {
        "param_groups": [{"lr": torch.tensor(0.25), "capturable": True, "params": [0]}],
        "state": {0: {"step": torch.tensor(7.0, dtype=torch.float64), "exp_avg": torch.ones(2)}},
    }
    saved = portable_optimizer_state(state)
    assert saved["param_groups"][0] == {"lr": 0.25, "capturable": False, "params": [0]}
    assert saved["state"][0]["step"].dtype == torch.float32 and torch.equal(saved["state"][0]["exp_avg"], torch.ones(2))
    assert isinstance(state["param_groups"][0]["lr"], torch.Tensor) and state["param_groups"][0]["capturable"]
    assert param.grad is None


def test_without_a_gpu_the_steps_run_eagerly_and_say_so(train_config, caplog):
    with caplog.at_level(logging.INFO):
        runs = train_twice(train_config, ("model.ema_decay=0.9", "model.n_critic=2"), "cpu", batches=4)
    assert any(
        "model.cuda_graph: no CUDA device (cpu); training steps run eagerly" in r.getMessage() for r in caplog.records
    )
    assert runs[True][3]._graphed is None
    assert torch.equal(runs[True][1], runs[False][1]), "the same training as without the switch"
    assert runs[True][0] == runs[False][0]


def test_apply_lr_sets_a_device_lr_in_place(train_config):
    model = instantiate(train_config("model.lr_warmup_steps=4").model)
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.2)
    prepare_optimizer_for_capture(optimizer)
    lr = optimizer.param_groups[0]["lr"]
    model.apply_lr(optimizer, steps_done=1, schedule=1.0)
    assert optimizer.param_groups[0]["lr"] is lr and float(lr) == pytest.approx(0.2 * 2 / 4)


def test_cuda_graph_with_compile_is_a_config_error(train_config):
    with pytest.raises(Exception) as err:
        instantiate(train_config("model.cuda_graph=true", "model.compile={}").model)
    cause = user_error(err.value)
    assert isinstance(cause, ConfigError) and "set model.compile=null or model.cuda_graph=false" in str(cause)
