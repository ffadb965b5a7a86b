"""LightningModules: one shared generative interface, one adversarial base, one module per family, and
the arithmetic sequence models."""

from condgan.models.adversarial import AdversarialModule
from condgan.models.autoencoder import AutoencoderModule
from condgan.models.base import GenerativeModule
from condgan.models.cdcgan import CDCGAN
from condgan.models.cgan import CGAN
from condgan.models.cgan_mlp import CGANMLP
from condgan.models.checkpoint import load_generative_model
from condgan.models.projgan import ProjGAN
from condgan.models.resgan import ResGAN
from condgan.models.seq2seq import Seq2SeqImageToText, Seq2SeqText, Seq2SeqTextToImage
from condgan.models.sequence import SequenceModule
from condgan.models.vae import VAE

__all__ = [
    "AutoencoderModule",
    "VAE",
    "CDCGAN",
    "GenerativeModule",
    "AdversarialModule",
    "CGAN",
    "CGANMLP",
    "ProjGAN",
    "ResGAN",
    "load_generative_model",
    "SequenceModule",
    "Seq2SeqText",
    "Seq2SeqImageToText",
    "Seq2SeqTextToImage",
]
