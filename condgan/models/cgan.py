"""``cgan``: the EMNIST report's conditional GAN (label embedding multiplied into noise and image)."""

from collections.abc import Mapping

from condgan.models.adversarial import AdversarialModule
from condgan.nets.cgan import CGANDiscriminator, CGANGenerator
from condgan.nets.init import init_weights


class CGAN(AdversarialModule):
    """Conditional GAN; ``generator``/``discriminator`` hold the keyword arguments of the nets."""

    def __init__(
        self,
        num_classes: int,
        channels: int,
        image_size: int,
        noise_dim: int,
        generator: Mapping,
        discriminator: Mapping,
        optim: Mapping,
        real_label: float = 1.0,
        init: str = "normal",
        init_std: float = 0.02,
    ) -> None:
        super().__init__(num_classes, noise_dim, optim, real_label)
        self.save_hyperparameters()
        self.generator = CGANGenerator(num_classes, channels, image_size, noise_dim, **generator)
        self.discriminator = CGANDiscriminator(num_classes, channels, image_size, **discriminator)
        init_weights(self.generator, init, init_std)
        init_weights(self.discriminator, init, init_std)
