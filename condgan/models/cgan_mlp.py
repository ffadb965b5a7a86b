"""``cgan_mlp``: the Keras MNIST report's dense conditional GAN on the shared adversarial base."""

from condgan.models.adversarial import TwoNetworkGAN
from condgan.nets.mlp import MLPDiscriminator, MLPGenerator


class CGANMLP(TwoNetworkGAN):
    """Dense conditional GAN."""

    generator_cls = MLPGenerator
    discriminator_cls = MLPDiscriminator
