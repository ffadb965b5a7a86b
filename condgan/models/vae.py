"""``cvae``, ``cvae_conv``, ``vae``, ``cae``: autoencoders with MLP or convolutional nets."""

from collections.abc import Mapping

from condgan.errors import ConfigError
from condgan.models.autoencoder import AutoencoderModule
from condgan.nets.vae import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder

ARCHITECTURES = {"mlp": (MLPEncoder, MLPDecoder), "conv": (ConvEncoder, ConvDecoder)}


class VAE(AutoencoderModule):
    """An autoencoder whose ``arch`` (mlp | conv), ``conditional`` and ``variational`` flags select
    the Kuzushiji report's CVAE, its convolutional variant, or the Cryptopunks report's VAE / CAE;
    ``nets`` holds the keyword arguments of both networks (``hidden`` for mlp, ``width`` for conv)."""

    def __init__(
        self,
        num_classes: int,
        channels: int,
        image_size: int,
        latent_dim: int,
        arch: str,
        conditional: bool,
        nets: Mapping,
        **autoencoder,
    ) -> None:
        super().__init__(num_classes, latent_dim, **autoencoder)
        self.save_hyperparameters()
        if arch not in ARCHITECTURES:
            raise ConfigError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
        encoder_cls, decoder_cls = ARCHITECTURES[arch]
        shape = (self.label_sizes, channels, image_size, latent_dim)
        self.build(
            encoder_cls(*shape, conditional=conditional, **nets), decoder_cls(*shape, conditional=conditional, **nets)
        )
