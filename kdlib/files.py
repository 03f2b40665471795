"""Files written so that a crash, a full disk or a second process never leaves a half-written one: the one
atomic write of the project, and the one checksum."""
from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from typing import Callable


def temporary_name(path: Path) -> Path:
    """A sibling name no other process (on this or another host sharing the disk) uses at the same time."""
    return path.with_name(f".{path.name}.tmp-{socket.gethostname()}-{os.getpid()}")


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` on a temporary sibling, then rename it over `path` (atomic on one filesystem).

    On any error, KeyboardInterrupt included, the temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def save_torch(obj, path: str | Path) -> Path:
    """torch.save `obj` to `path` atomically (tensors and plain containers only: loaded with weights_only)."""
    import torch
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
