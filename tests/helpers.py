"""Writers of the real on-disk dataset formats, for tests that must not download anything."""

import gzip
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8) in the IDX format of MNIST: magic 0x0000 0x08 ndim, big-endian dims, data."""
    assert array.dtype == np.uint8
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray, gzipped: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    if gzipped:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def pattern_images(labels: np.ndarray, size: int = 28) -> np.ndarray:
    """Distinct, orientation-revealing images: a bright bar in the top rows whose length encodes
    the label, and a pixel at the top-left corner."""
    images = np.zeros((len(labels), size, size), dtype=np.uint8)
    for i, label in enumerate(labels):
        images[i, 1:3, 1 : 2 + int(label)] = 255
        images[i, 0, 0] = 200
    return images


def write_mnist_style(
    folder: Path,
    n_train: int,
    n_test: int,
    num_classes: int,
    gzipped: bool,
    prefix: str = "",
    label_offset: int = 0,
    seed: int = 0,
) -> dict:
    """Write the four IDX files of an MNIST-style dataset; returns the arrays written."""
    rng = np.random.default_rng(seed)
    written = {}
    for split, n, tag in (("train", n_train, "train"), ("test", n_test, "t10k" if not prefix else "test")):
        labels = (np.arange(n) % num_classes).astype(np.uint8)
        rng.shuffle(labels)
        images = pattern_images(labels)
        stored_labels = (labels + label_offset).astype(np.uint8)
        write_idx(folder / f"{prefix}{tag}-images-idx3-ubyte", images, gzipped)
        write_idx(folder / f"{prefix}{tag}-labels-idx1-ubyte", stored_labels, gzipped)
        written[split] = (images, labels)
    return written


def write_k49(folder: Path, n_train: int, n_test: int, num_classes: int = 49, seed: int = 0) -> dict:
    """Kuzushiji-49's four official ``.npz`` files (``arr_0``: uint8 ``[N, 28, 28]`` images, uint8 labels)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = (np.arange(n) % num_classes).astype(np.uint8)
        rng.shuffle(labels)
        images = pattern_images(labels)
        images[:, 10:20, 10:20] = rng.integers(0, 256, (n, 10, 10), dtype=np.uint8)
        np.savez_compressed(folder / f"k49-{split}-imgs.npz", images)
        np.savez_compressed(folder / f"k49-{split}-labels.npz", labels)
        written[split] = (images, labels)
    return written


def write_image_folder(
    folder: Path, counts: dict[str, int], size: tuple[int, int] = (48, 40), suffix: str = ".png", seed: int = 0
) -> dict[str, list[Path]]:
    """``counts[name]`` RGB images in ``folder/name/`` (``name=""``: ``folder`` itself), each a
    solid colour that encodes its folder, so decoded classes can be checked by colour."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    written = {}
    for index, (name, count) in enumerate(counts.items()):
        target = folder / name if name else folder
        target.mkdir(parents=True, exist_ok=True)
        written[name] = []
        for i in range(count):
            pixels = np.zeros((size[1], size[0], 3), dtype=np.uint8)
            pixels[..., index % 3] = 200
            pixels[..., 2 - index % 3] += rng.integers(0, 40, dtype=np.uint8)
            path = target / f"img_{i:04d}{suffix}"
            Image.fromarray(pixels).save(path)
            written[name].append(path)
    return written
