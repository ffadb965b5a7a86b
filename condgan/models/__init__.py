"""LightningModules: one shared generative interface, one adversarial base, one module per family."""

from condgan.models.adversarial import AdversarialModule
from condgan.models.base import GenerativeModule
from condgan.models.cgan import CGAN
from condgan.models.cgan_mlp import CGANMLP
from condgan.models.checkpoint import load_generative_model

__all__ = ["GenerativeModule", "AdversarialModule", "CGAN", "CGANMLP", "load_generative_model"]
