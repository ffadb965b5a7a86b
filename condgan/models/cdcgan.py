"""``cdcgan``: the CDCGAN report's conditional DCGAN with an L1 term in the generator loss."""

import torch
import torch.nn.functional as F
from typing_extensions import override

from condgan.models.adversarial import TwoNetworkGAN
from condgan.nets.cdcgan import CDCGANDiscriminator, CDCGANGenerator


class CDCGAN(TwoNetworkGAN):
    """Conditional DCGAN; G's loss adds ``recon_weight`` x L1(real, fake) over the batch's
    same-label pairs (each fake is drawn for the label of the real image beside it)."""

    generator_cls = CDCGANGenerator
    discriminator_cls = CDCGANDiscriminator

    def __init__(self, *args, recon_weight: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.recon_weight = recon_weight

    @override
    def generator_terms(self, real, fake, labels, fake_aux) -> dict[str, torch.Tensor]:
        terms = super().generator_terms(real, fake, labels, fake_aux)
        if self.recon_weight:
            terms["l1"] = self.recon_weight * F.l1_loss(fake, real)
        return terms
