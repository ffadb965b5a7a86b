"""``cgan`` and its relatives: the EMNIST report's convolutional GAN, conditioned or not.

``label_mode`` of each network picks how labels enter: ``multiply`` (the report's CGAN),
``concat``, or ``none`` (the report's unconditional DCGAN and WGAN).
"""

from collections.abc import Mapping

from condgan.models.adversarial import AdversarialModule
from condgan.nets.cgan import CGANDiscriminator, CGANGenerator
from condgan.nets.init import init_weights


class CGAN(AdversarialModule):
    """Convolutional GAN; ``generator``/``discriminator`` hold the keyword arguments of the nets,
    every other keyword goes to :class:`AdversarialModule` (loss, regularisers, EMA, ...)."""

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
        g = CGANGenerator(num_classes, channels, image_size, noise_dim, **generator)
        d = CGANDiscriminator(num_classes, channels, image_size, **discriminator)
        init_weights(g, init, init_std)
        init_weights(d, init, init_std)
        self.build(g, d)
