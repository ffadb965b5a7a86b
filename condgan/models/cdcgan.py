"""``cdcgan``: the CDCGAN report's conditional DCGAN with an L1 term in the generator loss."""

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from condgan.models.adversarial import AdversarialModule
from condgan.nets.cdcgan import CDCGANDiscriminator, CDCGANGenerator
from condgan.nets.init import init_weights


class CDCGAN(AdversarialModule):
    """Conditional DCGAN; G's loss adds ``recon_weight`` x L1(real, fake) over the batch's
    same-label pairs (each fake is drawn for the label of the real image beside it)."""

    def __init__(
        self,
        num_classes: int,
        channels: int,
        image_size: int,
        noise_dim: int,
        embed_dim: int,
        generator: Mapping,
        discriminator: Mapping,
        recon_weight: float = 0.0,
        init: str = "normal",
        init_std: float = 0.02,
        **adversarial,
    ) -> None:
        super().__init__(num_classes, noise_dim, **adversarial)
        self.save_hyperparameters()
        self.recon_weight = recon_weight
        g = CDCGANGenerator(num_classes, channels, image_size, noise_dim, embed_dim, **generator)
        d = CDCGANDiscriminator(num_classes, channels, image_size, embed_dim, **discriminator)
        init_weights(g, init, init_std)
        init_weights(d, init, init_std)
        self.build(g, d)

    def generator_terms(self, real, fake, labels, fake_aux) -> dict[str, torch.Tensor]:
        if not self.recon_weight:
            return {}
        return {"l1": self.recon_weight * F.l1_loss(fake, real)}
