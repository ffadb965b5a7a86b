"""``resgan``: a small BigGAN-style pair — residual blocks, conditional batch norm, projection D."""

from condgan.models.adversarial import TwoNetworkGAN
from condgan.nets.resgan import ResDiscriminator, ResGenerator


class ResGAN(TwoNetworkGAN):
    """Residual projection GAN; hinge loss, TTUR and the EMA generator come from its config."""

    generator_cls = ResGenerator
    discriminator_cls = ResDiscriminator
