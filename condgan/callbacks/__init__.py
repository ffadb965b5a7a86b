"""Lightning callbacks that work on any condgan model through ``generate(labels, n)``."""

from condgan.callbacks.class_grid import ClassGridCallback

__all__ = ["ClassGridCallback"]
