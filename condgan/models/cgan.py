"""``cgan`` and its relatives: the EMNIST report's convolutional GAN, conditioned or not.

``label_mode`` of each network picks how labels enter: ``multiply`` (the report's CGAN),
``concat``, or ``none`` (the report's unconditional DCGAN and WGAN).
"""

from condgan.models.adversarial import TwoNetworkGAN
from condgan.nets.cgan import CGANDiscriminator, CGANGenerator


class CGAN(TwoNetworkGAN):
    """Convolutional GAN of the EMNIST report (also ``dcgan``, ``wgan``, ``wgan_gp``)."""

    generator_cls = CGANGenerator
    discriminator_cls = CGANDiscriminator
