"""Cache files written so that a reader never sees half of one, even while several processes (the
trials of a concurrent sweep) write the same file at once."""

import os
import tempfile
from pathlib import Path

import torch


def save_atomically(obj, path: str | Path) -> Path:
    """``torch.save(obj)`` to ``path`` through a temporary file of this process's own in the same
    folder, renamed over ``path`` when complete (the last writer's copy stays; each is whole)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        torch.save(obj, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
