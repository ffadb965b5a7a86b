"""Shared training logic of the autoencoder family (CVAE, VAE, CAE)."""

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn
from typing_extensions import override

from condgan.errors import ConfigError
from condgan.models.base import GenerativeModule
from condgan.models.optimizers import optimizer_class

RECON_LOSSES = ("bce", "mse")


class AutoencoderModule(GenerativeModule):
    """Base of the autoencoders: a subclass builds an encoder and a decoder and calls :meth:`build`.

    ``encoder(images, labels)`` returns ``(mu, logvar)``; ``decoder(z, labels)`` returns logits
    whose image is ``tanh(logits / 2)`` (i.e. ``2 * sigmoid - 1``). Variational models sample
    ``z = mu + sigma * eps`` and add ``kl_weight`` x KL(q(z|x) || N(0, I)); a plain autoencoder
    uses ``z = mu``. The reconstruction loss is ``bce`` (on pixels scaled to [0, 1], as in the
    Kuzushiji report) or ``mse``, summed over pixels and averaged over the batch.
    ``generate`` decodes draws from the prior N(0, I).
    """

    encoder: nn.Module
    decoder: nn.Module

    def __init__(
        self,
        num_classes: int,
        latent_dim: int,
        optim: Mapping,
        variational: bool = True,
        kl_weight: float = 1.0,
        recon_loss: str = "bce",
        attributes: Mapping[str, int] | None = None,
        compile: Mapping | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__(num_classes, attributes, compile, channels_last)
        if recon_loss not in RECON_LOSSES:
            raise ConfigError(f"unknown recon_loss {recon_loss!r}; choose one of {', '.join(RECON_LOSSES)}")
        self.latent_dim = latent_dim
        optimizer_class(optim, "model.optim")
        self.optim = optim
        self.variational = variational
        self.kl_weight = kl_weight
        self.recon_loss = recon_loss

    def build(self, encoder: nn.Module, decoder: nn.Module) -> None:
        """Attach the family's encoder and decoder networks."""
        self.encoder = encoder
        self.decoder = decoder

    def encode(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z, mu, logvar)``: z is drawn around mu in training when variational, else it is mu."""
        mu, logvar = self.encoder(images, labels)
        if self.variational and self.training:
            return mu + torch.randn_like(mu) * (0.5 * logvar).exp(), mu, logvar
        return mu, mu, logvar

    @override
    def latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.standard_normal(n, self.latent_dim, generator)

    @override
    def decode(self, latent: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.decoder(latent, labels) / 2)

    def reconstruct(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] passed through the encoder's mean and the decoder, in eval mode."""
        labels = self.check_labels(labels)
        with self.evaluating():
            z, _, _ = self.encode(images.to(self.device), labels)
            return self.decode(z, labels)

    def losses(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """The batch's loss terms per image, by name: ``recon_loss`` (BCE or MSE), ``kl`` (variational
        only) and ``loss``, their sum with the KL term weighted by ``kl_weight``."""
        z, mu, logvar = self.encode(images, labels)
        logits = self.decoder(z, labels)
        if self.recon_loss == "bce":
            recon = F.binary_cross_entropy_with_logits(logits, (images + 1) / 2, reduction="sum")
        else:
            recon = F.mse_loss(torch.tanh(logits / 2), images, reduction="sum")
        terms = {"recon_loss": recon / len(images)}
        if self.variational:
            terms["kl"] = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(images)
        terms["loss"] = terms["recon_loss"] + self.kl_weight * terms.get("kl", 0.0)
        return terms

    @override
    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        terms = self.losses(*batch)
        self.log_loss_terms(terms, batch_idx, "lower model.optim.lr or check the data")
        return terms["loss"]

    @override
    def validation_step(self, batch, batch_idx: int) -> None:
        self.log_dict({f"val/{k}": v for k, v in self.losses(*batch).items()}, on_epoch=True, sync_dist=True)

    @override
    def configure_optimizers(self):
        return self.build_optimizer(self.optim, self.parameters(), "model.optim")
