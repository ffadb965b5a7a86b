"""condgan: conditional image generation with PyTorch Lightning and Hydra."""

__version__ = "0.1.0"
