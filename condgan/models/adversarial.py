"""Shared training logic of every GAN: manual optimisation of a generator and a discriminator."""

import contextlib
import copy
import math
from collections.abc import Iterator, Mapping

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Timer
from lightning.pytorch.plugins.precision import DoublePrecision, HalfPrecision, MixedPrecision, Precision
from lightning.pytorch.strategies import SingleDeviceStrategy
from lightning.pytorch.utilities import rank_zero_info
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils import parametrize
from typing_extensions import override

from condgan.data.statistics import class_column
from condgan.errors import ConfigError
from condgan.models import losses
from condgan.models.base import GenerativeModule
from condgan.models.cuda_graph import GraphedBatch, portable_optimizer_state, prepare_optimizer_for_capture
from condgan.models.optimizers import optimizer_class
from condgan.nets.diffaugment import DiffAugment
from condgan.nets.init import init_weights

# Lightning's precision plugins whose manual backward and optimiser step add nothing to torch's own
# (no gradient scaler, no sharding); see plain_optimizer_steps
PLAIN_PRECISIONS = (Precision, MixedPrecision, HalfPrecision, DoublePrecision)
# hooks Lightning calls around a manual backward and optimiser step
STEP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")
SCHEDULES = ("linear", "cosine")
# logged terms computed from (fp16-scaled) input gradients
PENALTY_LOGS = ("train/d_gp", "train/d_r1")
# the losses the progress bar shows
SHOWN_LOSSES = ("train/d_loss", "train/g_loss")


def batch_independent(net: nn.Module) -> bool:
    """Whether ``net``'s output for an image depends on that image alone and a training forward
    changes nothing in the net, so that one forward over two batches stacked equals a forward over
    each: no batch norm (statistics over the batch, running averages), no parametrisation and no
    forward hook (spectral norm's power iteration runs in every training forward)."""
    return not any(
        isinstance(module, _BatchNorm)
        or parametrize.is_parametrized(module)
        or module._forward_pre_hooks
        or module._forward_hooks
        for module in net.modules()
    )


@contextlib.contextmanager
def shared_weight_casts(device_type: str) -> Iterator[None]:
    """Under autocast without its cast cache (Lightning's mixed precision keeps none: weights change
    within a manual training step), forwards inside this block that use the same weights cast them
    to the low precision once, not once per forward (their weight gradients then meet at that copy
    and are summed in it, as under torch's default autocast); the cache is dropped on leaving,
    before the weights can change. Elsewhere (no autocast, or a cache already on) it does nothing."""
    if not torch.is_autocast_enabled(device_type) or torch.is_autocast_cache_enabled():
        yield
        return
    with torch.autocast(device_type, dtype=torch.get_autocast_dtype(device_type), cache_enabled=True):
        try:
            yield
        finally:
            torch.clear_autocast_cache()


def schedule_factor(schedule: Mapping, progress: float) -> float:
    """The lr factor of a ``{name: linear|cosine, final_factor}`` schedule at ``progress`` in [0, 1]."""
    final, progress = schedule.get("final_factor", 0.0), min(max(progress, 0.0), 1.0)
    if schedule["name"] == "linear":
        return 1.0 + (final - 1.0) * progress
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


def plain_optimizer_steps(trainer, module: L.LightningModule) -> bool:
    """Whether a manual step can call torch's backward and optimiser directly, skipping Lightning's
    per-step dispatch (strategy, precision plugin, hook calls) at no loss: one device, a precision
    without a gradient scaler, and no callback (nor the module, beyond :class:`AdversarialModule`'s
    own ``on_before_optimizer_step``, which the direct step calls) using the backward or
    optimiser-step hooks."""
    precision = trainer.precision_plugin
    if type(trainer.strategy) is not SingleDeviceStrategy or type(precision) not in PLAIN_PRECISIONS:
        return False
    if getattr(precision, "scaler", None) is not None:
        return False
    if any(
        getattr(type(callback), hook) is not getattr(L.Callback, hook)
        for callback in trainer.callbacks
        for hook in STEP_HOOKS
    ):
        return False
    return all(
        getattr(type(module), hook) is getattr(AdversarialModule, hook)
        for hook in ("on_before_backward", "on_after_backward", "backward", "on_before_optimizer_step")
    )


def time_budget_timer(trainer) -> Timer | None:
    """Lightning's Timer callback when ``trainer.max_time`` is set, else None."""
    timers = [c for c in (trainer.callbacks if trainer is not None else []) if isinstance(c, Timer)]
    return timers[0] if timers and timers[0].time_remaining("train") is not None else None


def time_budget_progress(timer: Timer) -> float:
    """Fraction of the ``trainer.max_time`` budget spent fitting (restored with a checkpoint)."""
    elapsed, remaining = timer.time_elapsed("train"), timer.time_remaining("train")
    return elapsed / max(elapsed + remaining, 1e-9)


class AdversarialModule(GenerativeModule):
    """Base of the GAN families: a subclass builds its two networks and hands them to :meth:`build`.

    ``generator(noise, labels)`` returns images, ``discriminator(images, labels)`` one output per
    image. Every batch makes one discriminator step on ``fake.detach()``; every ``n_critic``-th
    batch then makes one generator step. Chosen by config:

    - ``loss``: ``bce`` (non-saturating), ``hinge``, ``wasserstein`` or ``lsgan``;
      ``real_label`` < 1 is one-sided label smoothing;
    - regularisers of D: ``gradient_penalty`` (weight of WGAN-GP's term), ``r1_penalty`` (gamma of
      R1, applied as gamma / 2; with ``r1_every`` = k only every k-th D step, weighted by k: lazy
      R1), ``clip_value`` (weight clipping bound after each D step);
    - ``aux_weight`` > 0: an auxiliary classifier (ACGAN, Odena et al. 2017): D also returns class
      logits (its net built with ``aux_classes``), and both nets add ``aux_weight`` x cross-entropy
      of the class, D on real and fake images, G on its fakes for the labels it was asked to draw;
    - ``diff_augment``: differentiable augmentation (:class:`~condgan.nets.diffaugment.DiffAugment`)
      of real and generated images before D, in D's step and in G's step;
    - families add their own loss terms by overriding :meth:`discriminate` (for auxiliary D
      outputs), :meth:`discriminator_terms` and :meth:`generator_terms`;
    - ``optim``: per network, any torch optimiser's ``_target_`` and settings (separate rates =
      TTUR; ``fused: auto``: torch's fused kernel on CUDA and CPU; :mod:`condgan.models.optimizers`);
      ``lr_schedule``: null or ``{name: linear|cosine, final_factor}``, set before every step from
      the fraction of the run done: of ``trainer.max_epochs``, or of ``trainer.max_time`` when
      ``max_epochs`` is -1;
      ``lr_warmup_steps``: both learning rates rise linearly from 0 over each net's first steps;
    - ``grad_clip``: gradient-norm clipping through ``self.clip_gradients``, of unscaled gradients
      under ``16-mixed`` (in :meth:`on_before_optimizer_step`); GP and R1 scale D's output by the
      gradient scaler's scale before their input-gradient pass and unscale after (AMP's recipe);
    - an exponential moving average of G, used for sampling and updated after each generator step:
      ``ema_decay`` per step once ``ema_start`` generator steps have passed (a plain copy before),
      or ``ema_half_life`` in images (independent of the batch size), capped at ``ema_rampup`` x the
      images seen so far when a ramp-up is set (StyleGAN2-ADA's rule). The EMA generator's
      BatchNorm statistics are its own, not the live generator's: recomputed for the EMA weights
      (:meth:`refresh_ema_statistics`) before every validation and at the end of every epoch;
    - ``cuda_graph``: on a CUDA device, each full-size batch (D step, G step, EMA blend, counters)
      is captured once as a CUDA graph and replayed (:class:`~condgan.models.cuda_graph.GraphedBatch`):
      the same arithmetic without Python or launch overhead. Every switch above keeps working;
      callbacks' backward and optimiser-step hooks are not called for replayed steps. On a CPU the
      steps run eagerly, with a notice; ``16-mixed`` precision, several devices and ``compile``
      are refused.

    Steps are plain torch calls (backward, then the bare optimiser's step, with Lightning's step
    count kept) wherever Lightning's manual-optimisation dispatch would add nothing but time
    (:func:`plain_optimizer_steps`); elsewhere (a gradient scaler, several devices, callbacks on the
    backward or optimiser-step hooks) they go through Lightning. G's step freezes D's parameters, so
    its backward computes no gradients for D.
    """

    generator: nn.Module
    discriminator: nn.Module
    # step and image counters, saved in checkpoints as buffers and mirrored on the host (no device sync per step)
    COUNTERS = ("generator_steps", "discriminator_steps", "generator_images")

    def __init__(
        self,
        num_classes: int,
        noise_dim: int,
        optim: Mapping,
        loss: str = "bce",
        real_label: float = 1.0,
        n_critic: int = 1,
        gradient_penalty: float = 0.0,
        r1_penalty: float = 0.0,
        r1_every: int = 1,
        diff_augment: Mapping | None = None,
        aux_weight: float = 0.0,
        clip_value: float | None = None,
        grad_clip: float | None = None,
        ema_decay: float | None = None,
        ema_start: int = 0,
        ema_half_life: float | None = None,
        ema_rampup: float | None = None,
        ema_stat_batches: int = 8,
        ema_stat_batch_size: int = 256,
        lr_schedule: Mapping | None = None,
        lr_warmup_steps: int = 0,
        attributes: Mapping[str, int] | None = None,
        compile: Mapping | None = None,
        channels_last: bool = False,
        cuda_graph: bool = False,
    ) -> None:
        super().__init__(num_classes, attributes, compile, channels_last)
        if cuda_graph and compile is not None:
            raise ConfigError(
                "model.cuda_graph with model.compile is unsupported (it failed the captured-step "
                "equivalence test on a GPU): set model.compile=null or model.cuda_graph=false"
            )
        if n_critic < 1:
            raise ConfigError(f"n_critic={n_critic}: the discriminator needs at least one step per generator step")
        if ema_decay is not None and not 0.0 <= ema_decay < 1.0:
            raise ConfigError(f"ema_decay={ema_decay} must lie in [0, 1)")
        if ema_half_life is not None and (ema_decay is not None or ema_half_life <= 0):
            raise ConfigError(
                f"ema_half_life={ema_half_life}: give a positive half-life in images and set model.ema_decay=null "
                "(one of the two EMA rules)"
            )
        if ema_stat_batches < 0 or ema_stat_batch_size < 2:
            raise ConfigError(
                f"ema_stat_batches={ema_stat_batches} must be >= 0 and ema_stat_batch_size={ema_stat_batch_size} >= 2"
            )
        if r1_every < 1 or lr_warmup_steps < 0:
            raise ConfigError(f"r1_every={r1_every} must be >= 1 and lr_warmup_steps={lr_warmup_steps} >= 0")
        if lr_schedule and lr_schedule.get("name") not in SCHEDULES:
            raise ConfigError(f"unknown lr_schedule {lr_schedule.get('name')!r}; choose one of {', '.join(SCHEDULES)}")
        for net in ("generator", "discriminator"):
            optimizer_class(optim[net], f"model.optim.{net}")
        self.automatic_optimization = False
        self.noise_dim = noise_dim
        self.optim = optim
        self.loss = losses.check_loss(loss)
        self.real_label = real_label
        self.n_critic = n_critic
        self.gradient_penalty = gradient_penalty
        self.r1_penalty = r1_penalty
        self.r1_every = r1_every
        self.diff_augment = DiffAugment(diff_augment)
        self.aux_weight = aux_weight
        self.clip_value = clip_value
        self.grad_clip = grad_clip
        self.ema_decay = ema_decay
        self.ema_start = ema_start
        self.ema_half_life = ema_half_life
        self.ema_rampup = ema_rampup
        self.ema_stat_batches = ema_stat_batches
        self.ema_stat_batch_size = ema_stat_batch_size
        self.lr_schedule = lr_schedule
        self.lr_warmup_steps = lr_warmup_steps
        self.generator_ema: nn.Module | None = None
        for counter in self.COUNTERS:
            self.register_buffer(counter, torch.zeros((), dtype=torch.long))
        self._host_counts: dict[str, int] | None = None
        self._budget_timer: Timer | None = None
        self._ema_statistics_at: int | None = None  # generator steps at the last standing-statistics refresh
        self.cuda_graph = cuda_graph
        self._graphed: GraphedBatch | None = None
        self._ema_weight: torch.Tensor | None = None  # the graphed EMA blend's weight, set before each replay
        self._bare_steps = False  # inside a graphed batch: optimiser steps on the bare optimisers
        self._plain_steps = False  # eager steps as plain torch calls (see plain_optimizer_steps)

    def build(self, generator: nn.Module, discriminator: nn.Module) -> None:
        """Install the networks (and the EMA copy of the generator when an EMA is configured)."""
        if self.aux_weight and getattr(discriminator, "aux_classes", 0) != self.num_classes:
            raise ConfigError(
                f"aux_weight={self.aux_weight} needs a class head on D: set model.discriminator.aux_classes="
                f"{self.num_classes} (data.num_classes)"
            )
        self.generator = generator
        self.discriminator = discriminator
        self._survey_discriminator()
        self._buffer_modules = []
        if self.ema_decay is not None or self.ema_half_life is not None:
            self.generator_ema = copy.deepcopy(generator).requires_grad_(False)
            # modules whose buffers the EMA copy takes from G each step (BatchNorm statistics it
            # computes itself); modules, not tensors, since moving to a device replaces the tensors
            self._buffer_modules = [
                (ema_module, live_module)
                for ema_module, live_module in zip(self.generator_ema.modules(), generator.modules())
                if not isinstance(ema_module, _BatchNorm) and next(ema_module.buffers(recurse=False), None) is not None
            ]

    def _survey_discriminator(self) -> None:
        """Note D's trainable parameters (frozen around G's step) and whether it takes real and fake
        images in one forward (:meth:`discriminate_pair`): where it is :func:`batch_independent` and
        not compiled (a compiled D would see a second batch shape and recompile for dynamic shapes)."""
        self._trainable_discriminator = [param for param in self.discriminator.parameters() if param.requires_grad]
        self._joint_discriminator = batch_independent(self.discriminator) and self.compile_options is None

    @override
    def latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.standard_normal(n, self.noise_dim, generator)

    @override
    def decode(self, latent: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        net = self.generator_ema if self.generator_ema is not None else self.generator
        return net(latent, labels)

    def discriminator_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        """D's adversarial loss (``model.loss``; real targets ``real_label``) of its outputs on real and fake images."""
        return losses.discriminator_loss(self.loss, real_out, fake_out, self.real_label)

    def generator_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        """G's adversarial loss (``model.loss``) of D's outputs on its images."""
        return losses.generator_loss(self.loss, fake_out)

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's adversarial output per image, and its class logits with ``aux_weight`` (else None)."""
        out = self.discriminator(images, labels)
        return (out[:, 0], out[:, 1:]) if self.aux_weight else (out, None)

    def discriminate_pair(
        self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
        """:meth:`discriminate` of real and of fake images with the same labels: (real output, real
        class logits, fake output, fake class logits). When D is :func:`batch_independent`, one
        forward over both stacked (half the kernels of two, each over twice the rows), else two."""
        if not self._joint_discriminator:
            return (*self.discriminate(real, labels), *self.discriminate(fake, labels))
        out, aux = self.discriminate(torch.cat([real, fake]), torch.cat([labels, labels]))
        n = len(real)
        real_aux, fake_aux = (None, None) if aux is None else (aux[:n], aux[n:])
        return out[:n], real_aux, out[n:], fake_aux

    def _adversarial_output(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.discriminate(images, labels)[0]

    def discriminator_terms(
        self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor, real_aux, fake_aux
    ) -> dict[str, torch.Tensor]:
        """Weighted terms added to D's loss, by log name: the configured penalties, plus whatever a
        family adds by overriding this method."""
        terms = {}
        if self.gradient_penalty:
            terms["gp"] = self.gradient_penalty * losses.gradient_penalty(
                self._adversarial_output, real, fake, labels, loss_scale=self.loss_scale()
            )
        if self.r1_penalty and self.count("discriminator_steps") % self.r1_every == 0:
            gamma = self.r1_penalty * self.r1_every
            terms["r1"] = 0.5 * gamma * losses.r1_penalty(self._adversarial_output, real, labels, self.loss_scale())
        if self.aux_weight:
            classes = class_column(labels)
            terms["class"] = (
                self.aux_weight * 0.5 * (F.cross_entropy(real_aux, classes) + F.cross_entropy(fake_aux, classes))
            )
        return terms

    def generator_terms(
        self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor, fake_aux
    ) -> dict[str, torch.Tensor]:
        """Weighted terms added to G's loss, by log name: the auxiliary class term, plus whatever a
        family adds by overriding this method."""
        if not self.aux_weight:
            return {}
        return {"class": self.aux_weight * F.cross_entropy(fake_aux, class_column(labels))}

    def loss_scale(self) -> float:
        """The fp16 gradient scaler's current scale under ``16-mixed`` precision, else 1."""
        scaler = self.gradient_scaler()
        return 1.0 if scaler is None else float(scaler.get_scale())

    def on_before_optimizer_step(self, optimizer) -> None:
        """Clip gradient norms (``grad_clip``) here: under ``16-mixed`` Lightning has unscaled the
        gradients by now, so the bound applies to the true gradients at every precision."""
        if self.grad_clip:
            self.clip_gradients(optimizer, gradient_clip_val=self.grad_clip, gradient_clip_algorithm="norm")

    def schedule_progress(self, batch_idx: int) -> float:
        """Fraction of the run done at the end of this batch: of ``trainer.max_epochs``, or of
        ``trainer.max_time`` when ``max_epochs`` is -1."""
        if self._budget_timer is not None:
            return time_budget_progress(self._budget_timer)
        trainer = self.trainer
        return (trainer.current_epoch + (batch_idx + 1) / trainer.num_training_batches) / trainer.max_epochs

    def apply_lr(self, optimizer, steps_done: int, schedule: float) -> None:
        """Set each group's lr to ``schedule`` x its configured lr, times the warm-up's ramp (in place
        when the lr is a device tensor, as under ``cuda_graph``)."""
        if not (self.lr_schedule or steps_done < self.lr_warmup_steps):
            return
        factor = schedule * min(1.0, (steps_done + 1) / max(self.lr_warmup_steps, 1))
        for group in optimizer.param_groups:
            if "base_lr" not in group:
                group["base_lr"] = group["lr"]
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(group["base_lr"] * factor)
            else:
                group["lr"] = group["base_lr"] * factor

    def _step(self, optimizer, loss: torch.Tensor, steps_done: int, schedule: float) -> None:
        """One optimiser step. In a graphed batch (warm-up or capture) on the bare optimiser, whose
        lr the host sets before each replay and whose step Lightning counts after it; eagerly as
        plain torch calls with Lightning's step count kept (``_plain_steps``), else through
        Lightning."""
        if self._bare_steps:
            optimizer.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.on_before_optimizer_step(optimizer.optimizer)
            optimizer.optimizer.step()
            return
        if self._plain_steps:
            optimizer.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.apply_lr(optimizer, steps_done, schedule)
            optimizer._on_before_step()
            self.on_before_optimizer_step(optimizer.optimizer)
            optimizer.optimizer.step()
            optimizer._on_after_step()
            return
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        self.apply_lr(optimizer, steps_done, schedule)
        optimizer.step()

    def _freeze_discriminator(self, frozen: bool) -> None:
        """Turn off (or back on) gradients for D's trainable parameters, around G's step."""
        for param in self._trainable_discriminator:
            param.requires_grad_(not frozen)

    def adversarial_batch(
        self,
        real: torch.Tensor,
        labels: torch.Tensor,
        noise: torch.Tensor,
        generator_turn: bool,
        schedule: float,
        ema_weight: float | torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """The device work of one batch: D's step on ``fake.detach()``, then on a generator turn G's
        step and the EMA blend (by ``ema_weight``), and the step counters' device copies. Returns
        the losses, D's outputs and the weighted terms, by log name. Host bookkeeping is the
        caller's, so the same code runs eagerly and under CUDA-graph capture."""
        opt_g, opt_d = self.optimizers()
        with torch.set_grad_enabled(generator_turn):
            fake = self.generator(noise, labels)

        real_seen, fake_seen = self.diff_augment(real), self.diff_augment(fake.detach())
        # D's weights cast once for all of its forwards in this step (real, fake, penalties); a
        # graphed batch keeps its own autocast settings
        casts = contextlib.nullcontext() if self._bare_steps else shared_weight_casts(real.device.type)
        with casts:
            real_out, real_aux, fake_out, fake_aux = self.discriminate_pair(real_seen, fake_seen, labels)
            d_terms = self.discriminator_terms(real_seen, fake_seen, labels, real_aux, fake_aux)
        d_loss = self.discriminator_loss(real_out, fake_out)
        self._step(opt_d, sum(d_terms.values(), d_loss), self.count("discriminator_steps"), schedule)
        self.discriminator_steps.add_(1)
        if self.clip_value is not None:
            with torch.no_grad():
                for param in self.discriminator.parameters():
                    param.clamp_(-self.clip_value, self.clip_value)
        out = {
            "train/d_loss": d_loss,
            "real_out": real_out,
            "fake_out": fake_out,
            **{f"train/d_{name}": value for name, value in d_terms.items()},
        }

        if generator_turn:
            self._freeze_discriminator(True)
            try:
                g_out, g_aux = self.discriminate(self.diff_augment(fake), labels)
                g_loss = self.generator_loss(g_out)
                g_terms = self.generator_terms(real, fake, labels, g_aux)
                self._step(opt_g, sum(g_terms.values(), g_loss), self.count("generator_steps"), schedule)
            finally:
                self._freeze_discriminator(False)
            self.generator_steps.add_(1)
            self.generator_images.add_(len(labels))
            self.blend_ema(ema_weight)
            out["train/g_loss"] = g_loss
            out.update({f"train/g_{name}": value for name, value in g_terms.items()})
        return out

    @override
    def training_step(self, batch, batch_idx: int) -> None:
        real, labels = batch
        generator_turn = (batch_idx + 1) % self.n_critic == 0
        schedule = schedule_factor(self.lr_schedule, self.schedule_progress(batch_idx)) if self.lr_schedule else 1.0
        ema_weight = (
            1.0 - self.ema_step_decay(len(labels)) if generator_turn and self.generator_ema is not None else 0.0
        )
        graphed = self._graphed is not None and self._graphed.fits(real, labels)
        if graphed:
            out = self._graphed_batch(real, labels, generator_turn, schedule, ema_weight)
        else:
            out = self.adversarial_batch(real, labels, self.latent(len(labels)), generator_turn, schedule, ema_weight)
        self._count_host("discriminator_steps")
        if generator_turn:
            self._count_host("generator_steps")
            self._count_host("generator_images", len(labels))

        if not self.logging_step(batch_idx):
            return
        # ``out`` stays as it is: a replayed graph returns the same dict of tensors every batch
        real_out, fake_out = out["real_out"], out["fake_out"]
        threshold = losses.DECISION_THRESHOLD[self.loss]
        logged = {name: value for name, value in out.items() if name.startswith("train/")}
        logged["train/d_acc_real"] = (real_out > threshold).float().mean()
        logged["train/d_acc_fake"] = (fake_out <= threshold).float().mean()
        # copied to the host before the next batch (or graph replay) can overwrite the values; under
        # fp16 an overflowing penalty gradient is the scaler's to handle (it skips the step)
        self.log_training_values(
            logged,
            batch_idx,
            SHOWN_LOSSES,
            "lower model.optim.generator.lr / model.optim.discriminator.lr or check the data",
            unchecked=PENALTY_LOGS if self.gradient_scaler() is not None else (),
        )

    def _graphed_batch(
        self, real: torch.Tensor, labels: torch.Tensor, generator_turn: bool, schedule: float, ema_weight: float
    ) -> dict[str, torch.Tensor]:
        """:meth:`adversarial_batch` replayed from its CUDA graph: the host sets the lrs and the EMA
        weight in their device tensors, and after the replay counts Lightning's optimiser steps."""
        opt_g, opt_d = self.optimizers()
        stepped = [(opt_d, self.count("discriminator_steps"))]
        if generator_turn:
            stepped.append((opt_g, self.count("generator_steps")))
            self._ema_weight.fill_(ema_weight)
        for optimizer, steps_done in stepped:
            self.apply_lr(optimizer, steps_done, schedule)
        r1_turn = bool(self.r1_penalty) and self.count("discriminator_steps") % self.r1_every == 0

        def body(static_real, static_labels, static_noise):
            self._bare_steps = True
            try:
                return self.adversarial_batch(
                    static_real, static_labels, static_noise, generator_turn, schedule, self._ema_weight
                )
            finally:
                self._bare_steps = False

        out = self._graphed(
            body,
            real,
            labels,
            self.noise_dim,
            lambda noise: torch.randn(noise.shape, device=noise.device, out=noise),
            (generator_turn, r1_turn),
        )
        for optimizer, _ in stepped:
            optimizer._on_before_step()
            optimizer._on_after_step()
        return out

    def on_train_start(self) -> None:
        """With ``cuda_graph`` on a CUDA device, make the optimisers capturable and start capturing
        batches; elsewhere say that the steps run eagerly."""
        super().on_train_start()
        self._graphed = None
        self._plain_steps = plain_optimizer_steps(self.trainer, self)
        self._survey_discriminator()
        if not self.cuda_graph:
            return
        if self.device.type != "cuda":
            rank_zero_info(f"model.cuda_graph: no CUDA device ({self.device.type}); training steps run eagerly")
            return
        if self.gradient_scaler() is not None:
            raise ConfigError(
                "model.cuda_graph cannot capture 16-mixed's gradient scaler: use trainer.precision=bf16-mixed or 32"
            )
        if self.trainer.world_size > 1:
            raise ConfigError("model.cuda_graph runs on one device: set trainer.devices=1 or model.cuda_graph=false")
        for optimizer in self.trainer.optimizers:
            prepare_optimizer_for_capture(optimizer)
        self._ema_weight = torch.zeros((), device=self.device)
        self._graphed = GraphedBatch()

    @override
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        if self._graphed is not None and "optimizer_states" in checkpoint:
            checkpoint["optimizer_states"] = [
                portable_optimizer_state(state) for state in checkpoint["optimizer_states"]
            ]

    def batches_done(self) -> int:
        """Training batches done, this one included (each batch steps D, and on its turns G)."""
        return self.count("discriminator_steps")

    def count(self, counter: str) -> int:
        """A counter's value, read from the device once and then kept on the host."""
        if self._host_counts is None:
            self._host_counts = {name: int(getattr(self, name)) for name in self.COUNTERS}
        return self._host_counts[counter]

    def _count_host(self, counter: str, by: int = 1) -> None:
        self.count(counter)
        self._host_counts[counter] += by

    def advance(self, counter: str, by: int = 1) -> None:
        """Add ``by`` to a counter, on the host and on the device."""
        self._count_host(counter, by)
        getattr(self, counter).add_(by)

    @override
    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        self._host_counts = None
        self._ema_statistics_at = None

    def ema_step_decay(self, batch_size: int) -> float:
        """Decay of the coming generator step: ``ema_decay`` once ``ema_start`` steps have passed (0
        before), or 0.5 ** (batch / half-life) with the half-life capped at ``ema_rampup`` x the
        images seen."""
        if self.ema_half_life is None:
            return self.ema_decay if self.count("generator_steps") >= self.ema_start else 0.0
        half_life = self.ema_half_life
        if self.ema_rampup is not None:
            half_life = min(half_life, self.count("generator_images") * self.ema_rampup)
        return 0.5 ** (batch_size / max(half_life, 1e-8))

    @torch.no_grad()
    def update_ema(self, batch_size: int) -> None:
        """Count a generator step of ``batch_size`` images and blend G into its EMA copy (what a
        training batch does after G's step)."""
        weight = 1.0 - self.ema_step_decay(batch_size) if self.generator_ema is not None else 0.0
        self.advance("generator_steps")
        self.advance("generator_images", batch_size)
        self.blend_ema(weight)

    @torch.no_grad()
    def blend_ema(self, weight: float | torch.Tensor) -> None:
        """Move the EMA copy's parameters ``weight`` of the way to G's and take G's other buffers
        (a 0-dim device tensor ``weight`` keeps the blend free of host values, for capture)."""
        if self.generator_ema is None:
            return
        ema_params, live_params = list(self.generator_ema.parameters()), list(self.generator.parameters())
        if isinstance(weight, torch.Tensor):
            steps = torch._foreach_sub(live_params, ema_params)
            torch._foreach_mul_(steps, weight)
            torch._foreach_add_(ema_params, steps)
        else:
            torch._foreach_lerp_(ema_params, live_params, weight)
        for ema_module, live_module in self._buffer_modules:
            for ema, live in zip(ema_module.buffers(recurse=False), live_module.buffers(recurse=False)):
                ema.copy_(live)

    @torch.no_grad()
    def refresh_ema_statistics(self) -> None:
        """Standing statistics: the EMA generator's BatchNorm running mean and variance recomputed
        for its own weights, as the equal-weight average over ``ema_stat_batches`` batches of
        ``ema_stat_batch_size`` fresh noise vectors and uniform labels drawn from a fixed seed (the
        training random state is untouched)."""
        norms = (
            [m for m in self.generator_ema.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
            if self.generator_ema is not None
            else []
        )
        if not norms or not self.ema_stat_batches:
            return
        momenta = [norm.momentum for norm in norms]
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None
        was_training, seed = self.generator_ema.training, torch.Generator().manual_seed(0)
        self.generator_ema.train()
        for _ in range(self.ema_stat_batches):
            classes = torch.randint(self.num_classes, (self.ema_stat_batch_size,), generator=seed)
            noise = self.latent(self.ema_stat_batch_size, seed)
            self.generator_ema(noise, self.with_attributes(classes.to(self.device)))
        self.generator_ema.train(was_training)
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum

    def refresh_stale_ema_statistics(self) -> None:
        """:meth:`refresh_ema_statistics` unless G has not stepped since the last refresh (a
        validation at the end of an epoch leaves them fresh for the epoch's checkpoints)."""
        steps = self.count("generator_steps")
        if self._ema_statistics_at != steps:
            self.refresh_ema_statistics()
            self._ema_statistics_at = steps

    @override
    def on_validation_epoch_start(self) -> None:
        self.refresh_stale_ema_statistics()

    @override
    def on_train_epoch_end(self) -> None:
        self.refresh_stale_ema_statistics()

    @override
    def validation_step(self, batch, batch_idx: int) -> None:
        real, labels = batch
        fake = self.sample(labels)
        real_out = self._adversarial_output(real, labels)
        fake_out = self._adversarial_output(fake, labels)
        threshold = losses.DECISION_THRESHOLD[self.loss]
        self.log_dict(
            {
                "val/d_loss": self.discriminator_loss(real_out, fake_out),
                "val/g_loss": self.generator_loss(fake_out),
                "val/d_acc_real": (real_out > threshold).float().mean(),
                "val/d_acc_fake": (fake_out <= threshold).float().mean(),
            },
            on_epoch=True,
            sync_dist=True,
        )

    @override
    def configure_optimizers(self):
        optimizers = []
        for net in ("generator", "discriminator"):
            optimizers.append(
                self.build_optimizer(self.optim[net], getattr(self, net).parameters(), f"model.optim.{net}")
            )
        self._budget_timer = None
        epochs = self.trainer.max_epochs if self.trainer is not None else -1
        if self.lr_schedule and (not epochs or epochs < 1):
            self._budget_timer = time_budget_timer(self.trainer)
            if self._budget_timer is None:
                raise ConfigError("lr_schedule needs a positive trainer.max_epochs or a trainer.max_time")
        return optimizers


class TwoNetworkGAN(AdversarialModule):
    """A GAN family given by its two network classes; ``generator``/``discriminator`` hold their
    keyword arguments, ``init`` the weight initialisation, every other keyword goes to
    :class:`AdversarialModule` (loss, regularisers, EMA, ...)."""

    generator_cls: type[nn.Module]
    discriminator_cls: type[nn.Module]

    def __init__(
        self,
        num_classes: int,
        channels: int,
        image_size: int,
        noise_dim: int,
        generator: Mapping,
        discriminator: Mapping,
        init: str = "xavier",
        init_std: float = 0.02,
        **adversarial,
    ) -> None:
        super().__init__(num_classes, noise_dim, **adversarial)
        self.save_hyperparameters()
        g = self.generator_cls(self.label_sizes, channels, image_size, noise_dim, **generator)
        d = self.discriminator_cls(self.label_sizes, channels, image_size, **discriminator)
        init_weights(g, init, init_std)
        init_weights(d, init, init_std)
        self.build(g, d)
