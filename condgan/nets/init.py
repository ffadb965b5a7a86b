"""Weight initialisation schemes shared by every network."""

from torch import nn

from condgan.errors import ConfigError

INIT_SCHEMES = ("default", "normal", "xavier")

_WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def init_weights(net: nn.Module, scheme: str, std: float = 0.02) -> None:
    """Initialise conv/linear/batch-norm layers of ``net`` in place.

    ``default`` keeps PyTorch's initialisation, ``normal`` is the DCGAN scheme (weights
    N(0, std), batch-norm scale N(1, std)), ``xavier`` is Glorot-normal (Keras' ``glorot_normal``).
    Embeddings keep their own initialisation.
    """
    if scheme not in INIT_SCHEMES:
        raise ConfigError(f"unknown init scheme {scheme!r}; choose one of {', '.join(INIT_SCHEMES)}")
    if scheme == "default":
        return
    for layer in net.modules():
        if isinstance(layer, _WEIGHTED):
            if scheme == "normal":
                nn.init.normal_(layer.weight, 0.0, std)
            else:
                nn.init.xavier_normal_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, _NORMS) and layer.affine:
            nn.init.normal_(layer.weight, 1.0, std)
            nn.init.zeros_(layer.bias)
