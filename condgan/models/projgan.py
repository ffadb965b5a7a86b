"""``projgan``: the modern strong baseline — projection discriminator, conditional batch norm."""

from condgan.models.adversarial import TwoNetworkGAN
from condgan.nets.projgan import ProjDiscriminator, ProjGenerator


class ProjGAN(TwoNetworkGAN):
    """Projection GAN; hinge loss and an EMA generator come from its config."""

    generator_cls = ProjGenerator
    discriminator_cls = ProjDiscriminator
