"""Mechanisms of the shared adversarial base: losses, penalties, clipping, EMA, n_critic, schedules."""

import contextlib
import math

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.data import DataLoader, TensorDataset

from condgan.errors import ConfigError
from condgan.models import losses
from condgan.models.adversarial import batch_independent, shared_weight_casts


def fit(
    model, batches: int, epochs: int = 1, callbacks=(), batch_size: int = 8, accelerator: str = "cpu", **trainer_args
):
    trainer_args.setdefault("log_every_n_steps", 1)
    data = TensorDataset(
        torch.rand(batches * batch_size, 1, 28, 28) * 2 - 1, torch.randint(26, (batches * batch_size,))
    )
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=1,
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=list(callbacks),
        **trainer_args,
    )
    trainer.fit(model, train_dataloaders=DataLoader(data, batch_size=batch_size))
    return trainer


class StepCounter(L.Callback):
    """Records the order of generator (G) and discriminator (D) optimizer steps."""

    def on_train_start(self, trainer, pl_module):
        self.order = []
        opt_g, opt_d = trainer.optimizers
        opt_g.register_step_post_hook(lambda *_: self.order.append("G"))
        opt_d.register_step_post_hook(lambda *_: self.order.append("D"))


class LinearCritic(nn.Module):
    """D(x) = sum(w * x): its input gradient is w everywhere."""

    def __init__(self, weight):
        super().__init__()
        self.weight = weight

    def forward(self, images, labels):
        return (images * self.weight).flatten(1).sum(1)


def quadratic_critic(images, labels):
    """D(x) = 0.5 * ||x||^2: its input gradient is x."""
    return 0.5 * images.pow(2).flatten(1).sum(1)


def test_loss_values_match_their_definitions():
    real, fake = torch.tensor([2.0, -0.5]), torch.tensor([0.5, -3.0])
    assert torch.isclose(losses.discriminator_loss("hinge", real, fake), torch.tensor((0 + 1.5) / 2 + (1.5 + 0) / 2))
    assert torch.isclose(losses.discriminator_loss("wasserstein", real, fake), fake.mean() - real.mean())
    assert torch.isclose(
        losses.discriminator_loss("lsgan", real, fake), torch.tensor(0.5 * ((1.0 + 2.25) / 2 + (0.25 + 9) / 2))
    )
    assert torch.isclose(losses.generator_loss("hinge", fake), -fake.mean())
    assert torch.isclose(losses.generator_loss("lsgan", fake), torch.tensor(0.5 * (0.25 + 16) / 2))
    bce = losses.discriminator_loss("bce", torch.zeros(3), torch.zeros(3))
    assert torch.isclose(bce, torch.tensor(math.log(2)))
    with pytest.raises(ConfigError, match="unknown loss"):
        losses.check_loss("minimax")


def test_bce_losses_equal_their_two_term_definitions_in_value_and_gradient():
    """D's BCE is one BCE over real and fake stacked and G's is -log(sigmoid): the values and
    gradients of the textbook forms, with label smoothing, in float32 from bf16 outputs too."""
    torch.manual_seed(0)
    for dtype in (torch.float32, torch.bfloat16):
        real, fake = ((torch.randn(64) * 6).to(dtype).requires_grad_(True) for _ in range(2))
        got = losses.discriminator_loss("bce", real, fake, 0.9) + losses.generator_loss("bce", fake)
        got.backward()
        got_grads = real.grad.clone(), fake.grad.clone()
        real.grad = fake.grad = None
        r, f = real.float(), fake.float()
        expected = 0.5 * (
            F.binary_cross_entropy_with_logits(r, torch.full_like(r, 0.9))
            + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))
        ) + F.binary_cross_entropy_with_logits(f, torch.ones_like(f))
        expected.backward()
        assert got.dtype == torch.float32 and torch.isclose(got, expected, rtol=1e-6)
        atol = 1e-8 if dtype == torch.float32 else 2**-13  # bf16 gradients: within one rounding step here
        assert all(torch.allclose(a, b, rtol=1e-5, atol=atol) for a, b in zip(got_grads, (real.grad, fake.grad)))
    with pytest.raises(ValueError, match="differ in shape"):
        losses.discriminator_loss("bce", torch.zeros(3), torch.zeros(4))


def test_gradient_penalty_equals_its_definition():
    weight = torch.full((1, 4, 4), 0.1)
    real, fake, labels = torch.randn(6, 1, 4, 4), torch.randn(6, 1, 4, 4), torch.zeros(6, dtype=torch.long)
    # a linear critic has gradient w at every point: penalty (||w|| - 1)^2 whatever the mixing
    expected = (weight.norm() - 1) ** 2
    assert torch.isclose(losses.gradient_penalty(LinearCritic(weight), real, fake, labels), expected)
    # a quadratic critic has gradient x: the penalty depends on the random mixing points
    alpha = torch.rand(6, 1, 1, 1, generator=torch.Generator().manual_seed(7))
    mixed = alpha * real + (1 - alpha) * fake
    expected = (mixed.flatten(1).norm(dim=1) - 1).pow(2).mean()
    penalty = losses.gradient_penalty(quadratic_critic, real, fake, labels, generator=torch.Generator().manual_seed(7))
    assert torch.isclose(penalty, expected)


def test_r1_penalty_equals_its_definition():
    real, labels = torch.randn(5, 1, 3, 3), torch.zeros(5, dtype=torch.long)
    assert torch.isclose(losses.r1_penalty(quadratic_critic, real, labels), real.flatten(1).pow(2).sum(1).mean())


def deep_small_critic(scale: float) -> nn.Module:
    """Three linear layers with every weight ``scale``: input gradients of ~4096 scale^3, which
    underflow in fp16 for small ``scale``."""
    net = nn.Sequential(
        nn.Flatten(), nn.Linear(16, 64, bias=False), nn.Linear(64, 64, bias=False), nn.Linear(64, 1, bias=False)
    )
    for layer in net[1:]:
        nn.init.constant_(layer.weight, scale)
    return net


def test_r1_under_fp16_autocast_is_exact_only_with_the_loss_scale():
    net = deep_small_critic(1e-4)
    critic = lambda images, labels: net(images)[:, 0]  # noqa: E731
    real, labels = torch.ones(4, 1, 4, 4), torch.zeros(4, dtype=torch.long)
    exact = losses.r1_penalty(critic, real, labels)
    with torch.autocast("cpu", dtype=torch.float16):
        unscaled = losses.r1_penalty(critic, real, labels)
        scaled = losses.r1_penalty(critic, real, labels, loss_scale=2.0**12)
    assert math.isclose(scaled.item(), exact.item(), rel_tol=0.02)
    assert unscaled.item() < 0.5 * exact.item(), "fp16 underflow is what the scale prevents"


def fp16_plugin(init_scale: float):
    from lightning.pytorch.plugins import MixedPrecision

    return MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu", init_scale=init_scale))


@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"))],
)
def test_under_16_mixed_grad_clip_bounds_the_unscaled_gradients_and_penalties_see_the_scale(train_config, device):
    """On the CPU through Lightning's fp16 plugin with a CPU gradient scaler (Trainer refuses
    precision=16-mixed there), on a GPU as users run it."""
    model = instantiate(train_config("model.grad_clip=0.01", "model.r1_penalty=1.0").model)
    norms, scales = [], []

    class Norms(L.Callback):
        def on_train_start(self, trainer, pl_module):
            for opt in trainer.optimizers:
                opt.register_step_post_hook(
                    lambda o, *_: norms.append(
                        float(
                            torch.norm(
                                torch.stack(
                                    [p.grad.norm() for g in o.param_groups for p in g["params"] if p.grad is not None]
                                )
                            )
                        )
                    )
                )

        def on_train_batch_start(self, trainer, pl_module, *_):
            scales.append(pl_module.loss_scale())

    if device == "cpu":
        fit(model, batches=3, callbacks=[Norms()], plugins=[fp16_plugin(1024.0)])
    else:
        fit(model, batches=8, callbacks=[Norms()], accelerator="cuda", precision="16-mixed")
    assert scales[0] == (1024.0 if device == "cpu" else 65536.0) and norms, "the scaler skipped every step"
    assert all(math.isclose(n, 0.01, rel_tol=1e-3) for n in norms), norms
    assert instantiate(train_config().model).loss_scale() == 1.0


class Recorder(L.Callback):
    """Records each batch's losses and the trainer's global step (its hook-free variant)."""

    def __init__(self):
        self.rows = []

    def on_train_batch_end(self, trainer, pl_module, *_):
        metrics = trainer.callback_metrics
        self.rows.append(
            (trainer.global_step, *(float(metrics[k]) for k in ("train/d_loss", "train/g_loss") if k in metrics))
        )


class BackwardHookRecorder(Recorder):
    """The same, plus a backward hook: the steps then go through Lightning's dispatch."""

    def __init__(self):
        super().__init__()
        self.backwards = 0

    def on_after_backward(self, trainer, pl_module):
        self.backwards += 1


def test_plain_steps_train_exactly_as_lightnings_dispatch_and_keep_its_step_count(train_config):
    runs = {}
    for name, recorder in (("plain", Recorder()), ("lightning", BackwardHookRecorder())):
        L.seed_everything(0)
        model = instantiate(train_config("model.n_critic=2", "model.grad_clip=1.0").model)
        trainer = fit(model, batches=6, callbacks=[recorder])
        assert model._plain_steps == (name == "plain")
        runs[name] = (recorder.rows, trainer.global_step, [p.detach().clone() for p in model.parameters()])
    assert runs["plain"][0] == runs["lightning"][0]
    assert runs["plain"][1] == runs["lightning"][1] == 6 + 3  # D every batch, G every 2nd
    assert all(torch.equal(a, b) for a, b in zip(runs["plain"][2], runs["lightning"][2]))
    assert recorder.backwards == 6 + 3, "the hook was called for every backward"


def test_plain_steps_are_off_where_lightning_must_dispatch(train_config):
    model = instantiate(train_config().model)
    fit(model, batches=2, plugins=[fp16_plugin(1024.0)])
    assert not model._plain_steps


def test_adam_is_fused_where_the_device_has_the_kernel_unless_told_otherwise(train_config):
    model = instantiate(train_config().model)
    trainer = fit(model, batches=1)
    assert all(group["fused"] for opt in trainer.optimizers for group in opt.param_groups)
    model = instantiate(train_config("model.optim.generator.fused=false").model)
    trainer = fit(model, batches=1)
    assert [opt.param_groups[0]["fused"] for opt in trainer.optimizers] == [False, True]
    model = instantiate(train_config().model)  # fp16's scaler: Lightning clips only unfused steps
    trainer = fit(model, batches=1, plugins=[fp16_plugin(1024.0)])
    assert not any(group["fused"] for opt in trainer.optimizers for group in opt.param_groups)


def test_generator_step_computes_no_gradients_for_the_discriminator(train_config):
    model = instantiate(train_config().model)
    grads = []
    for param in model.discriminator.parameters():
        param.register_hook(lambda grad: grads.append(1))
    per_backward = sum(1 for _ in model.discriminator.parameters())
    fit(model, batches=3)
    assert len(grads) == 3 * per_backward, "D's gradients were computed in G's steps too"
    assert all(param.requires_grad for param in model.discriminator.parameters())


class WeightCasts(TorchDispatchMode):
    """Counts dtype casts (``aten._to_copy``) of the given tensors' storage."""

    def __init__(self, tensors) -> None:
        super().__init__()
        self.storage, self.count = {t.data_ptr() for t in tensors}, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._to_copy.default and args[0].data_ptr() in self.storage:
            self.count += 1
        return func(*args, **(kwargs or {}))


def test_the_discriminators_forwards_in_its_step_cast_its_weights_once_under_autocast(train_config):
    """Lightning's autocast keeps no cast cache; within D's step, D's two forwards (batch norm: real
    and fake apart) share one bf16 copy of each weight: the same outputs, and the same gradients
    to bf16 rounding."""
    model = instantiate(train_config("model=cdcgan").model)
    real, fake = torch.rand(2, 4, 1, 28, 28) * 2 - 1
    labels = torch.randint(model.num_classes, (4,))
    results = {}
    for shared in (False, True):
        torch.manual_seed(0)
        model.discriminator.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False):
            with WeightCasts(model.discriminator.parameters()) as casts:
                with shared_weight_casts("cpu") if shared else contextlib.nullcontext():
                    real_out, _, fake_out, _ = model.discriminate_pair(real, fake, labels)
            model.discriminator_loss(real_out, fake_out).backward()
        results[shared] = casts.count, real_out, fake_out, [p.grad for p in model.discriminator.parameters()]
    (separate, *values), (once, *shared_values) = results[False], results[True]
    assert once > 0 and separate == 2 * once
    assert all(torch.equal(a, b) for a, b in zip(values[:2], shared_values[:2]))
    # the two forwards' weight gradients now meet at the one bf16 copy and are summed in bf16 (as
    # under torch's default autocast), not in float32 after two casts: within a bf16 rounding
    assert all(torch.allclose(a, b, rtol=2**-7, atol=0) for a, b in zip(values[2], shared_values[2]))
    with WeightCasts(model.discriminator.parameters()) as casts, shared_weight_casts("cpu"):
        model.discriminate_pair(real, fake, labels)  # no autocast: nothing to share
    assert casts.count == 0


def test_under_autocast_the_generators_step_sees_the_discriminator_its_step_updated(train_config):
    """D's step casts D's weights once through autocast's cache (shared_weight_casts); a cached bf16
    copy that outlived D's optimiser step would score G's images with D from before that step.
    What G's step saw must be D after its step (a large lr, so that D's step shows in bf16)."""
    model = instantiate(train_config("model.optim.discriminator.lr=0.05").model)
    model.discriminator.apply(lambda m: setattr(m, "p", 0.0) if isinstance(m, nn.Dropout) else None)
    seen, discriminate = [], model.discriminate

    def recorded(images, labels):
        out = discriminate(images, labels)
        seen.append((images.detach(), labels, out[0].detach()))
        return out

    model.discriminate = recorded
    fit(model, batches=1, precision="bf16-mixed")
    images, labels, out = seen[-1]  # G's step: D's (one, joint) forward in its own step came first
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(out, model.discriminator(images, labels))


@pytest.mark.parametrize(
    "overrides,joint",
    [
        ((), True),  # conv, dropout
        (("model=cgan_mlp",), True),
        (("model=acgan",), True),  # with the class head
        (("model=cdcgan",), False),  # batch norm: statistics over the batch
        (("model=projgan",), False),  # spectral norm: a power iteration per forward
        (("model.compile={}",), False),  # a compiled D keeps one batch shape
    ],
)
def test_a_batch_independent_discriminator_sees_real_and_fake_images_in_one_forward(train_config, overrides, joint):
    """Stacked, real and fake images take one forward of D and give what two forwards give (dropout
    off to compare values); D's gradients from the loss are the same too."""
    model = instantiate(train_config(*overrides).model)
    assert model._joint_discriminator is joint
    if not joint:
        return
    model.discriminator.apply(lambda m: m.eval() if isinstance(m, nn.Dropout) else None)
    forwards = []
    model.discriminator.register_forward_pre_hook(lambda *_: forwards.append(1))  # after the survey in build
    real, fake = torch.rand(2, 6, 1, 28, 28) * 2 - 1
    labels = torch.randint(model.num_classes, (6,))
    gradients = {}
    for joint_pass in (True, False):
        model._joint_discriminator = joint_pass
        forwards.clear()
        model.discriminator.zero_grad(set_to_none=True)
        real_out, real_aux, fake_out, fake_aux = model.discriminate_pair(real, fake, labels)
        assert len(forwards) == (1 if joint_pass else 2)
        model.discriminator_loss(real_out, fake_out).backward()
        gradients[joint_pass] = [param.grad.clone() for param in model.discriminator.parameters()]
        if joint_pass:
            separate = (*model.discriminate(real, labels), *model.discriminate(fake, labels))
            for got, expected in zip((real_out, real_aux, fake_out, fake_aux), separate):
                assert (got is None) == (expected is None)
                assert got is None or torch.allclose(got, expected, atol=1e-6)
            assert (real_aux is None) == (model.aux_weight == 0)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(gradients[True], gradients[False]))


def test_discriminators_with_batch_statistics_state_or_hooks_are_not_batch_independent():
    assert batch_independent(nn.Sequential(nn.Conv2d(1, 4, 3), nn.LeakyReLU(), nn.Dropout(0.2)))
    assert not batch_independent(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)))
    assert not batch_independent(nn.Sequential(nn.utils.parametrizations.spectral_norm(nn.Linear(4, 4))))
    assert not batch_independent(nn.Sequential(nn.utils.spectral_norm(nn.Linear(4, 4))))  # the hook-based one
    hooked = nn.Linear(4, 4)
    hooked.register_forward_hook(lambda *_: None)
    assert not batch_independent(hooked)


def test_without_penalty_terms_each_step_backpropagates_the_logged_loss_itself(train_config):
    """No extra addition per step (each op costs host time in a small eager step): with no terms,
    the tensor stepped on is the logged loss; with a term, the loss plus the term."""
    stepped = []

    def record(model):
        step, batch = model._step, model.adversarial_batch

        def recorded_step(optimizer, loss, *args):
            stepped.append(loss)
            step(optimizer, loss, *args)

        def recorded_batch(*args):
            stepped.append(batch(*args))
            return stepped[-1]

        model._step, model.adversarial_batch = recorded_step, recorded_batch
        return model

    fit(record(instantiate(train_config().model)), batches=1)
    d_total, g_total, out = stepped
    assert d_total is out["train/d_loss"] and g_total is out["train/g_loss"]

    stepped.clear()
    fit(record(instantiate(train_config("model=wgan_gp", "model.n_critic=1").model)), batches=1)
    d_total, _, out = stepped
    assert torch.allclose(d_total, out["train/d_loss"] + out["train/d_gp"])


def test_gradient_penalty_trains_the_critic(train_config):
    model = instantiate(train_config("model=wgan_gp", "model.n_critic=1").model)
    seen = []

    class Penalty(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, *_):
            seen.append(float(trainer.callback_metrics["train/d_gp"]))

    fit(model, batches=3, callbacks=[Penalty()])
    assert len(seen) == 3 and all(v >= 0 for v in seen)


def test_weight_clipping_keeps_the_critic_within_the_bound(train_config):
    model = instantiate(train_config("model=wgan", "model.clip_value=0.005").model)
    fit(model, batches=3)
    weights = torch.cat([p.detach().flatten() for p in model.discriminator.parameters()])
    assert weights.abs().max() <= 0.005 + 1e-9
    assert (weights.abs() == 0.005).any(), "some weights were actually clipped"


@pytest.mark.parametrize("n_critic", [1, 3])
def test_n_critic_discriminator_steps_per_generator_step(train_config, n_critic):
    model = instantiate(train_config(f"model.n_critic={n_critic}").model)
    counter = StepCounter()
    fit(model, batches=6, callbacks=[counter])
    assert counter.order == (["D"] * n_critic + ["G"]) * (6 // n_critic)


def test_ema_generator_is_the_expected_blend(train_config):
    model = instantiate(train_config("model.ema_decay=0.9", "model.ema_start=2").model)
    ema_param = next(model.generator_ema.parameters())
    live_param = next(model.generator.parameters())
    expected = ema_param.detach().clone()
    for step in range(1, 6):
        with torch.no_grad():
            live_param.add_(torch.randn_like(live_param))
        model.update_ema(4)
        decay = 0.9 if step > 2 else 0.0
        expected = decay * expected + (1 - decay) * live_param.detach()
        assert torch.allclose(ema_param, expected, atol=1e-6)
    assert int(model.generator_steps) == 5
    # sampling uses the EMA copy
    noise_seed = torch.Generator().manual_seed(0)
    labels = torch.arange(3)
    with torch.no_grad():
        expected_images = model.generator_ema.eval()(model.latent(3, torch.Generator().manual_seed(0)), labels)
    assert torch.allclose(model.generate(labels, generator=noise_seed), expected_images)


def test_ema_copy_follows_training_and_survives_checkpoints(train_config, tmp_path):
    from condgan.models import load_generative_model

    model = instantiate(train_config("model.ema_decay=0.5").model)
    trainer = fit(model, batches=4)
    assert int(model.generator_steps) == 4
    trainer.save_checkpoint(tmp_path / "ema.ckpt")
    loaded = load_generative_model(torch.load(tmp_path / "ema.ckpt", weights_only=False))
    assert loaded.generator_ema is not None
    for a, b in zip(loaded.generator_ema.parameters(), model.generator_ema.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("schedule,expected_factor", [("linear", 0.1), ("cosine", 0.1)])
def test_lr_schedule_reaches_its_final_factor(train_config, schedule, expected_factor):
    model = instantiate(train_config(f"+model.lr_schedule={{name: {schedule}, final_factor: 0.1}}").model)
    trainer = fit(model, batches=1, epochs=3)
    for optimizer, net in zip(trainer.optimizers, ("generator", "discriminator")):
        assert math.isclose(optimizer.param_groups[0]["lr"], model.optim[net]["lr"] * expected_factor, rel_tol=1e-6)


@pytest.mark.parametrize("name,halfway", [("linear", 0.55), ("cosine", 0.55)])
def test_schedule_factors_run_from_one_to_the_final_factor(name, halfway):
    from condgan.models.adversarial import schedule_factor

    schedule = {"name": name, "final_factor": 0.1}
    assert schedule_factor(schedule, 0.0) == 1.0 and math.isclose(schedule_factor(schedule, 1.0), 0.1)
    assert math.isclose(schedule_factor(schedule, 0.5), halfway) and schedule_factor(schedule, 2.0) == schedule_factor(
        schedule, 1.0
    )


def test_lr_schedule_without_max_epochs_decays_over_the_time_budget(train_config):
    from datetime import timedelta

    from lightning.pytorch.callbacks import Timer

    class SteppedTimer(Timer):
        """A 1 s budget of which every training batch spends 0.1 s, whatever the machine's speed."""

        def __init__(self):
            super().__init__(duration=timedelta(seconds=1), interval="step")
            self.spent = 0.0

        def time_elapsed(self, stage="train"):
            return self.spent

        def on_train_batch_end(self, trainer, *args):
            self.spent += 0.1
            super().on_train_batch_end(trainer, *args)

    model = instantiate(train_config("+model.lr_schedule={name: linear, final_factor: 0.1}").model)
    lrs = []

    class Rates(L.Callback):
        def on_train_batch_end(self, trainer, *_):
            lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    fit(model, batches=4, epochs=-1, callbacks=[SteppedTimer(), Rates()])
    base = model.optim["generator"]["lr"]
    expected = [base * (1 - 0.9 * 0.1 * step) for step in range(len(lrs))]
    assert len(lrs) in (10, 11) and all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(lrs, expected)), lrs


def test_losses_are_checked_and_logged_every_log_every_n_steps_and_at_the_epochs_end(train_config):
    from condgan.errors import NonFiniteLossError

    model = instantiate(train_config().model)
    logged = []
    log_dict = model.log_dict
    model.log_dict = lambda values, **kw: logged.append(int(model.discriminator_steps)) or log_dict(values, **kw)
    fit(model, batches=7, log_every_n_steps=3)
    assert sorted(set(logged)) == [3, 6, 7], "batches 3 and 6 (Lightning's logging steps) and the last"

    broken = instantiate(train_config("model.real_label=nan").model)
    with pytest.raises(NonFiniteLossError, match="batch 2"):
        fit(broken, batches=7, log_every_n_steps=3)
    assert int(broken.discriminator_steps) == 3, "the NaN guard stops within one logging window"


def test_grad_clip_bounds_gradient_norms(train_config):
    model = instantiate(train_config("model.grad_clip=0.01").model)
    norms = []

    class Norms(L.Callback):
        def on_train_start(self, trainer, pl_module):
            for opt in trainer.optimizers:
                opt.register_step_post_hook(
                    lambda o, *_: norms.append(
                        torch.norm(
                            torch.stack(
                                [p.grad.norm() for g in o.param_groups for p in g["params"] if p.grad is not None]
                            )
                        )
                    )
                )

    fit(model, batches=2, callbacks=[Norms()])
    assert len(norms) == 4 and max(norms) <= 0.01 + 1e-6


@pytest.mark.parametrize(
    "override,message",
    [
        ("model.n_critic=0", "n_critic"),
        ("model.ema_decay=1.5", "ema_decay"),
        ("model.optim.generator._target_=torch.optim.NoSuch", "is not a torch optimizer class"),
        ("model.loss=minimax", "unknown loss"),
    ],
)
def test_bad_adversarial_settings_are_config_errors(train_config, override, message):
    from condgan.pipelines.common import user_error

    with pytest.raises(Exception) as err:
        instantiate(train_config(override).model)
    cause = user_error(err.value)
    assert isinstance(cause, ConfigError) and message in str(cause)
