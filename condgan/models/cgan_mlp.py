"""``cgan_mlp``: the Keras MNIST report's dense conditional GAN on the shared adversarial base."""

from collections.abc import Mapping

from condgan.models.adversarial import AdversarialModule
from condgan.nets.init import init_weights
from condgan.nets.mlp import MLPDiscriminator, MLPGenerator


class CGANMLP(AdversarialModule):
    """Dense conditional GAN; ``generator``/``discriminator`` hold the keyword arguments of the nets,
    every other keyword goes to :class:`AdversarialModule`."""

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
        g = MLPGenerator(num_classes, channels, image_size, noise_dim, **generator)
        d = MLPDiscriminator(num_classes, channels, image_size, **discriminator)
        init_weights(g, init, init_std)
        init_weights(d, init, init_std)
        self.build(g, d)
