"""Adversarial losses and discriminator regularisers, as plain functions of logits and networks."""

from collections.abc import Callable

import torch
import torch.nn.functional as F

from condgan.errors import ConfigError


def _bce(real: torch.Tensor, fake: torch.Tensor, real_label: float) -> torch.Tensor:
    """The mean of the two BCE means (real against ``real_label``, fake against 0), as one BCE over
    both stacked, which for batches of one size is the same number with half the kernels."""
    if real.shape != fake.shape:
        raise ValueError(f"D's outputs on real {tuple(real.shape)} and fake {tuple(fake.shape)} images differ in shape")
    logits = torch.cat([real, fake]).float()
    targets = torch.zeros_like(logits)
    targets[: len(real)].fill_(real_label)
    return F.binary_cross_entropy_with_logits(logits, targets)


def _hinge(real: torch.Tensor, fake: torch.Tensor, real_label: float) -> torch.Tensor:
    return F.relu(real_label - real).mean() + F.relu(1.0 + fake).mean()


def _wasserstein(real: torch.Tensor, fake: torch.Tensor, real_label: float) -> torch.Tensor:
    return fake.mean() - real.mean()


def _lsgan(real: torch.Tensor, fake: torch.Tensor, real_label: float) -> torch.Tensor:
    return 0.5 * ((real - real_label).pow(2).mean() + fake.pow(2).mean())


_DISCRIMINATOR: dict[str, Callable] = {"bce": _bce, "hinge": _hinge, "wasserstein": _wasserstein, "lsgan": _lsgan}
_GENERATOR: dict[str, Callable] = {
    # BCE against 1 is -log(sigmoid): the same number without a target tensor and its kernels
    "bce": lambda fake: -F.logsigmoid(fake.float()).mean(),
    "hinge": lambda fake: -fake.mean(),
    "wasserstein": lambda fake: -fake.mean(),
    "lsgan": lambda fake: 0.5 * (fake - 1.0).pow(2).mean(),
}
# the discriminator output above which an image counts as "real" (for d_acc_real / d_acc_fake)
DECISION_THRESHOLD = {"bce": 0.0, "hinge": 0.0, "wasserstein": 0.0, "lsgan": 0.5}
LOSSES = tuple(_DISCRIMINATOR)


def check_loss(name: str) -> str:
    """``name`` if it is one of :data:`LOSSES`, else a config error."""
    if name not in _DISCRIMINATOR:
        raise ConfigError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    return name


def discriminator_loss(name: str, real: torch.Tensor, fake: torch.Tensor, real_label: float = 1.0) -> torch.Tensor:
    """Loss of D on real and fake outputs; ``real_label`` < 1 is one-sided label smoothing
    (the target for real images with ``bce``/``lsgan``, the margin for real images with ``hinge``)."""
    return _DISCRIMINATOR[name](real, fake, real_label)


def generator_loss(name: str, fake: torch.Tensor) -> torch.Tensor:
    """Loss of G given D's outputs on its images (non-saturating for ``bce``)."""
    return _GENERATOR[name](fake)


def _input_gradients(
    discriminator: Callable, images: torch.Tensor, labels: torch.Tensor, loss_scale: float = 1.0
) -> torch.Tensor:
    """Gradients of D's summed output w.r.t. its input images, ``[N, pixels]``. Under fp16 mixed
    precision pass the gradient scaler's ``loss_scale``: the output is scaled before the backward
    pass (so small gradients do not underflow in fp16) and the gradients unscaled after it."""
    images = images.detach().requires_grad_(True)
    outputs = discriminator(images, labels)
    (grads,) = torch.autograd.grad(outputs.sum() * loss_scale, images, create_graph=True)
    return grads.flatten(1) / loss_scale


def gradient_penalty(
    discriminator: Callable,
    real: torch.Tensor,
    fake: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator | None = None,
    loss_scale: float = 1.0,
) -> torch.Tensor:
    """WGAN-GP: mean of (||grad_x D(x)|| - 1)^2 at random points between real and fake images."""
    alpha = torch.rand(len(real), 1, 1, 1, device=real.device, generator=generator)
    mixed = alpha * real.detach() + (1 - alpha) * fake.detach()
    return (_input_gradients(discriminator, mixed, labels, loss_scale).norm(2, dim=1) - 1).pow(2).mean()


def r1_penalty(
    discriminator: Callable, real: torch.Tensor, labels: torch.Tensor, loss_scale: float = 1.0
) -> torch.Tensor:
    """R1: mean squared gradient norm of D at real images (multiply by gamma / 2)."""
    return _input_gradients(discriminator, real, labels, loss_scale).pow(2).sum(1).mean()
