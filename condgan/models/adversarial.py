"""Shared training logic of every GAN: manual optimisation of a generator and a discriminator."""

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from condgan.errors import NonFiniteLossError
from condgan.models.base import GenerativeModule


class AdversarialModule(GenerativeModule):
    """Base of the GAN families: subclasses set ``self.generator`` and ``self.discriminator``.

    ``generator(noise, labels)`` returns images, ``discriminator(images, labels)`` one logit per
    image. Each batch makes one discriminator step on ``fake.detach()`` and then one generator
    step, with binary cross-entropy on logits and one-sided label smoothing (``real_label``).
    ``optim`` holds Adam's ``lr`` and ``betas`` for ``generator`` and ``discriminator``.
    """

    generator: nn.Module
    discriminator: nn.Module

    def __init__(self, num_classes: int, noise_dim: int, optim: Mapping, real_label: float = 1.0) -> None:
        super().__init__(num_classes)
        self.automatic_optimization = False
        self.noise_dim = noise_dim
        self.optim = optim
        self.real_label = real_label

    def sample_noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if generator is None:
            return torch.randn(n, self.noise_dim, device=self.device)
        return torch.randn(n, self.noise_dim, generator=generator, device=generator.device).to(self.device)

    def sample(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.generator(self.sample_noise(len(labels), generator), labels)

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, self.real_label))
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return 0.5 * (real + fake)

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))

    def training_step(self, batch, batch_idx: int) -> None:
        real, labels = batch
        opt_g, opt_d = self.optimizers()
        fake = self.generator(self.sample_noise(len(labels)), labels)

        self.toggle_optimizer(opt_d)
        real_logits = self.discriminator(real, labels)
        fake_logits = self.discriminator(fake.detach(), labels)
        d_loss = self.discriminator_loss(real_logits, fake_logits)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        opt_d.step()
        self.untoggle_optimizer(opt_d)

        self.toggle_optimizer(opt_g)
        g_loss = self.generator_loss(self.discriminator(fake, labels))
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        opt_g.step()
        self.untoggle_optimizer(opt_g)

        self._check_finite(d_loss, g_loss, batch_idx)
        self.log_dict({"train/d_loss": d_loss, "train/g_loss": g_loss}, prog_bar=True)
        self.log_dict(
            {
                "train/d_acc_real": (real_logits > 0).float().mean(),
                "train/d_acc_fake": (fake_logits < 0).float().mean(),
            }
        )

    def validation_step(self, batch, batch_idx: int) -> None:
        real, labels = batch
        fake = self.sample(labels)
        real_logits = self.discriminator(real, labels)
        fake_logits = self.discriminator(fake, labels)
        self.log_dict(
            {
                "val/d_loss": self.discriminator_loss(real_logits, fake_logits),
                "val/g_loss": self.generator_loss(fake_logits),
                "val/d_acc_real": (real_logits > 0).float().mean(),
                "val/d_acc_fake": (fake_logits < 0).float().mean(),
            },
            on_epoch=True,
        )

    def _check_finite(self, d_loss: torch.Tensor, g_loss: torch.Tensor, batch_idx: int) -> None:
        if not torch.isfinite(d_loss.detach() + g_loss.detach()):
            raise NonFiniteLossError(
                f"train/d_loss={d_loss.item():.4g}, train/g_loss={g_loss.item():.4g} at epoch "
                f"{self.current_epoch}, batch {batch_idx}: training stopped, checkpoints already saved "
                "are kept; lower model.optim.generator.lr / model.optim.discriminator.lr or check the data"
            )

    def configure_optimizers(self):
        def adam(net: nn.Module, key: str) -> torch.optim.Optimizer:
            return torch.optim.Adam(net.parameters(), lr=self.optim[key]["lr"], betas=tuple(self.optim[key]["betas"]))

        return [adam(self.generator, "generator"), adam(self.discriminator, "discriminator")]
