"""Reader for the IDX file format of MNIST, Fashion-MNIST and EMNIST, plain or gzipped."""

import gzip
from pathlib import Path

import numpy as np

from condgan.errors import CorruptDatasetError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Decode one IDX file (gzip is detected from the content, not the name)."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as err:
        raise CorruptDatasetError(f"{path} cannot be read ({err}); delete it and download it again") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise CorruptDatasetError(f"{path} is not an IDX file (bad magic number); delete it and download it again")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise CorruptDatasetError(
            f"{path} is truncated or corrupt ({len(raw)} bytes, header promises {expected}); "
            "delete it and download it again"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
