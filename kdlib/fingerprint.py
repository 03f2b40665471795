"""Dataset fingerprints: what identifies the data a run read (file sizes, label hashes), part of every run id."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from . import formats
from .data import FOLDER_DATASETS, find, info

_FINGERPRINTS: dict = {}


def fingerprint(name: str, root: str | Path | None = None) -> dict:
    """What identifies the data `load(name, root)` reads, computed cheaply and cached per process.

    {"name", "files", "labels_sha256"}: for in-memory datasets `files` maps each file read (relative path) to
    its size, a gzip file by its content (name without .gz, uncompressed size: Debian's re-headed copy and the
    official download are the same data), and labels_sha256 hashes the decoded train and test labels (never the
    images); for image-folder
    trees `files` gives, per split, the number of images and a SHA-256 of the sorted (class/path, size) list,
    and labels_sha256 hashes the (path, class) assignment. The cache is keyed by the resolved folder and the
    modification times of its files and folders down to three levels, so an edit or relabelling is seen.
    """
    folder = find(name, root)
    key = (name, str(folder.resolve()), _stamp(folder))
    if key not in _FINGERPRINTS:
        _FINGERPRINTS[key] = _fingerprint(name, folder)
    result = _FINGERPRINTS[key]
    return {**result, "files": {k: (dict(v) if isinstance(v, dict) else v) for k, v in result["files"].items()}}


def clear_caches() -> None:
    """Forget the fingerprints computed in this process."""
    _FINGERPRINTS.clear()


def _stamp(folder: Path) -> tuple:
    stamps, level = [], [folder]
    for depth in range(3):
        below = []
        for directory in level:
            for entry in sorted(os.scandir(directory), key=lambda e: e.name):
                is_dir = entry.is_dir()
                if is_dir or depth < 2:
                    st = entry.stat()
                    stamps.append((entry.path, st.st_mtime_ns, st.st_size))
                if is_dir:
                    below.append(entry.path)
        level = below
    return (folder.stat().st_mtime_ns, tuple(stamps))


def _fingerprint(name: str, folder: Path) -> dict:
    meta = info(name)
    if name in FOLDER_DATASETS or name == "tinyimagenet":
        if name == "tinyimagenet":
            classes, train, val = formats.tinyimagenet_samples(folder)
            splits = {"train": (classes, train), "val": (classes, val)}
        else:
            splits = {s: formats.scan_image_folder(folder / s) for s in FOLDER_DATASETS[name]}
        described = {s: formats.describe_samples(samples, classes, folder / s)
                     for s, (classes, samples) in splits.items()}
        labels = hashlib.sha256("".join(d.pop("labels_sha256") for d in described.values()).encode())
        return {"name": name, "files": described, "labels_sha256": labels.hexdigest()}
    if name == "fashion_mnist":
        files = formats.fashion_mnist_files(folder)
        pairs = formats.read_fashion_mnist(folder, labels_only=True)
    else:
        files = [p for paths in formats.cifar_files(folder, meta.num_classes).values() for p in paths]
        pairs = formats.read_cifar(folder, meta.num_classes)
    labels = hashlib.sha256()
    for _, y in pairs:
        labels.update(y.numpy().astype("<i8").tobytes() + b"|")
    return {"name": name, "files": dict(formats.content_size(p, folder) for p in files),
            "labels_sha256": labels.hexdigest()}
