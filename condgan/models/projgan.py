"""``projgan``: the modern strong baseline — projection discriminator, conditional batch norm."""

from collections.abc import Mapping

from condgan.models.adversarial import AdversarialModule
from condgan.nets.init import init_weights
from condgan.nets.projgan import ProjDiscriminator, ProjGenerator


class ProjGAN(AdversarialModule):
    """Projection GAN; hinge loss and an EMA generator come from its config."""

    def __init__(
        self,
        num_classes: int,
        channels: int,
        image_size: int,
        noise_dim: int,
        generator: Mapping,
        discriminator: Mapping,
        init: str = "default",
        init_std: float = 0.02,
        **adversarial,
    ) -> None:
        super().__init__(num_classes, noise_dim, **adversarial)
        self.save_hyperparameters()
        g = ProjGenerator(num_classes, channels, image_size, noise_dim, **generator)
        d = ProjDiscriminator(num_classes, channels, image_size, **discriminator)
        init_weights(g, init, init_std)
        self.build(g, d)
