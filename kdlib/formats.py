"""On-disk dataset formats: IDX (Fashion-MNIST), CIFAR's python batches, image-folder trees.

Readers return plain (images uint8 (N, C, H, W), labels int64 (N,)) tensor pairs; `kdlib.data` wraps them.
Every error names the file it is about. This module never imports `kdlib.data`.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import warnings
import zlib
from pathlib import Path

import numpy as np
import torch

Pair = tuple[torch.Tensor, torch.Tensor]
STANDIN_MARKER = ".kdlib-standin"  # in a dataset folder written by kdlib.standins (the dry run's data)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")  # ImageFolder's


class DatasetNotFound(FileNotFoundError):
    """Raised with every place looked in and how to obtain the dataset."""


# ---------------------------------------------------------------- IDX (Fashion-MNIST)
FASHION_MNIST = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                 "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path: str | Path) -> np.ndarray:
    """An unsigned-byte IDX file (MNIST format), gzipped or not; a corrupt file is a ValueError naming it."""
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: corrupt or truncated gzip file ({type(e).__name__}: {e}); "
                             f"delete it and obtain the dataset again") from None
    if len(raw) < 4 or raw[0] or raw[1] or raw[2] != 0x08 or not 1 <= raw[3] <= 4:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {raw[:4].hex() or 'missing'}, "
                         f"expected 0x000008 then the number of dimensions)")
    header = 4 + 4 * raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(raw[3]))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise ValueError(f"{path}: the IDX header says shape {shape} ({expected:,} bytes) but the file holds "
                         f"{len(raw):,} bytes: truncated or corrupt")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def content_size(path: Path, folder: Path) -> tuple[str, int]:
    """(relative path, size) of a file's content: a .gz file as its name without .gz and uncompressed size."""
    rel = path.relative_to(folder).as_posix()
    if path.suffix != ".gz":
        return rel, path.stat().st_size
    with open(path, "rb") as f:
        f.seek(-4, os.SEEK_END)  # the gzip trailer's ISIZE
        return rel[:-3], int.from_bytes(f.read(4), "little")


def idx_file(folder: Path, stem: str) -> Path:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.exists():
            return candidate
    raise DatasetNotFound(f"{folder} has no {stem}[.gz]")


def fashion_mnist_files(folder: Path) -> list[Path]:
    """The four IDX files the Fashion-MNIST reader reads."""
    return [idx_file(folder, stem) for pair in FASHION_MNIST.values() for stem in pair]


def read_fashion_mnist(folder: Path, labels_only: bool = False) -> tuple[Pair, Pair]:
    """(train, test) from the four IDX files; with labels_only, images are left as None (cheap)."""
    out = []
    for images_stem, labels_stem in FASHION_MNIST.values():
        images, labels = idx_file(folder, images_stem), idx_file(folder, labels_stem)
        y = read_idx(labels)
        if y.ndim != 1:
            raise ValueError(f"{labels}: expected a 1-d label array, found shape {y.shape}")
        if y.size and y.max() > 9:
            raise ValueError(f"{labels}: label {int(y.max())} outside 0..9")
        x = None
        if not labels_only:
            x = read_idx(images)
            if x.ndim != 3:
                raise ValueError(f"{images}: expected images (N, rows, cols), found shape {x.shape}")
            if len(x) != len(y):
                raise ValueError(f"{labels} has {len(y):,} labels for {len(x):,} images in {images}")
            x = torch.from_numpy(x.copy()).unsqueeze(1)
        out.append((x, torch.from_numpy(y.astype(np.int64))))
    return out[0], out[1]


# ---------------------------------------------------------------- CIFAR python batches
CIFAR = {10: ({"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}, "labels"),
         100: ({"train": ["train"], "test": ["test"]}, "fine_labels")}


def _cifar_globals() -> dict:
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    # What the official batches (pickled by Python 2's cPickle, protocol 2) reference, under both numpy
    # spellings; dicts, lists, strings and ints are pickle opcodes and need no global at all.
    return {("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
            ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}


class CifarUnpickler(pickle.Unpickler):
    """Unpickles CIFAR python batches and nothing else: the only globals it resolves are numpy's array
    reconstruction, ndarray and dtype. Anything else (os.system, eval, ...) is refused before it is looked up."""

    def __init__(self, file, path: Path):
        super().__init__(file, encoding="bytes")
        self.path, self.allowed = path, _cifar_globals()

    def find_class(self, module: str, name: str):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            allowed = ", ".join(f"{m}.{n}" for m, n in self.allowed)
            raise pickle.UnpicklingError(
                f"{self.path}: refused to unpickle the global {module}.{name}; a CIFAR python batch needs only "
                f"{allowed}. This is not an official CIFAR batch: delete it and obtain the dataset again") from None


def read_cifar_batch(path: Path) -> dict:
    """One CIFAR python batch as a dict with str keys, through CifarUnpickler (never plain pickle.load)."""
    with open(path, "rb") as f:
        try:
            batch = CifarUnpickler(f, path).load()
        except pickle.UnpicklingError:
            raise
        except Exception as e:  # truncated or garbage: name the file
            raise ValueError(f"{path}: not a readable CIFAR python batch ({type(e).__name__}: {e})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: a CIFAR batch is a dict, found {type(batch).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}


def cifar_files(folder: Path, num_classes: int) -> dict[str, list[Path]]:
    names = CIFAR[num_classes][0]
    files = {split: [folder / n for n in names[split]] for split in names}
    for path in (p for paths in files.values() for p in paths):
        if not path.is_file():
            raise DatasetNotFound(f"{folder} has no {path.name} (expected the unpacked python tarball: "
                                  f"{', '.join(p.name for ps in files.values() for p in ps)})")
    return files


def read_cifar(folder: Path, num_classes: int) -> tuple[Pair, Pair]:
    """CIFAR-10/100 (train, test) from the python batches (the official tarball layout)."""
    key, out = CIFAR[num_classes][1], []
    for paths in cifar_files(folder, num_classes).values():
        xs, ys = [], []
        for path in paths:
            batch = read_cifar_batch(path)
            if "data" not in batch or key not in batch:
                raise ValueError(f"{path}: no 'data' or {key!r} entry (keys: {', '.join(map(str, batch))})")
            x, y = np.asarray(batch["data"]), np.asarray(batch[key], dtype=np.int64)
            if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
                raise ValueError(f"{path}: 'data' is {x.dtype} {x.shape}; CIFAR holds uint8 (N, 3072)")
            if len(y) != len(x) or (y.size and not 0 <= y.min() <= y.max() < num_classes):
                found = f" in {y.min()}..{y.max()}" if y.size else ""
                raise ValueError(f"{path}: {len(x):,} labels in 0..{num_classes - 1} expected for {len(x):,} "
                                 f"images, found {len(y):,}{found}")
            xs.append(x.reshape(-1, 3, 32, 32))
            ys.append(y)
        out.append((torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))))
    return out[0], out[1]


# ---------------------------------------------------------------- image-folder trees
Samples = list[tuple[Path, int]]


def scan_image_folder(folder: Path, classes: list[str] | None = None) -> tuple[list[str], Samples]:
    """Classes (sorted sub-folders unless given) and (path, class index) samples, listed as ImageFolder does."""
    if classes is None:
        classes = sorted(e.name for e in os.scandir(folder) if e.is_dir())
    samples = []
    for index, cls in enumerate(classes):
        for dirpath, _, files in sorted(os.walk(folder / cls, followlinks=True)):
            samples += [(Path(dirpath) / f, index) for f in sorted(files) if f.lower().endswith(IMAGE_EXTENSIONS)]
    return classes, samples


def relayout_tinyimagenet_val(folder: Path) -> bool:
    """Move TinyImageNet's val/images/* into val/<wnid>/ using val_annotations.txt (idempotent).

    Skipped, returning False, where val/ is not writable: the reader then labels val/ from the annotations."""
    val = folder / "val"
    images = val / "images"
    if not images.is_dir():
        return True
    if not (val / "val_annotations.txt").exists() or not (os.access(val, os.W_OK) and os.access(images, os.W_OK)):
        return False
    for image, wnid in _val_annotations(folder).items():
        if (images / image).exists():
            (val / wnid).mkdir(exist_ok=True)
            (images / image).rename(val / wnid / image)
    if not any(images.iterdir()):
        images.rmdir()
    return True


def _val_annotations(folder: Path) -> dict[str, str]:
    path = folder / "val" / "val_annotations.txt"
    out = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.strip().split("\t")
        if line.strip() and len(fields) < 2:
            raise ValueError(f"{path}:{number}: expected 'file<TAB>wnid<TAB>x0<TAB>y0<TAB>x1<TAB>y1', got {line!r}")
        if line.strip():
            out[fields[0]] = fields[1]
    return out


def tinyimagenet_samples(folder: Path) -> tuple[list[str], Samples, Samples]:
    """Classes, train samples and val samples (labelled by val_annotations.txt, before or after re-layout)."""
    classes, train = scan_image_folder(folder / "train")
    if not (folder / "val" / "val_annotations.txt").exists():
        return classes, train, scan_image_folder(folder / "val", classes)[1]
    index, val = {c: i for i, c in enumerate(classes)}, []
    for image, wnid in sorted(_val_annotations(folder).items(), key=lambda item: (item[1], item[0])):  # as ImageFolder
        if wnid not in index:
            raise ValueError(f"{folder / 'val' / 'val_annotations.txt'}: {image} has class {wnid}, "
                             f"which has no folder in {folder / 'train'}")
        path = folder / "val" / "images" / image
        val.append((path if path.exists() else folder / "val" / wnid / image, index[wnid]))
    return classes, train, val


def describe_samples(samples: Samples, classes: list[str], split_dir: Path) -> dict:
    """{images, sha256 of the sorted (class/relative path, size) list, labels_sha256}, invariant under re-layout."""
    rows = []
    for path, label in samples:
        cls = classes[label]
        try:
            rel = path.relative_to(split_dir / cls).as_posix()
        except ValueError:
            rel = path.name
        rows.append((f"{cls}/{rel}", path.stat().st_size))
    rows.sort()
    digest = lambda lines: hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return {"images": len(rows), "sha256": digest(f"{p}\t{s}" for p, s in rows),
            "labels_sha256": digest(p for p, _ in rows)}


def user_cache_dir() -> Path:
    base = os.environ.get("KDLIB_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kdlib"
    return Path(base)


def cache_path(split_dir: Path, size: int) -> Path:
    """Beside the data when writable (`.kdlib-<split>-<size>px.pt`), else in the user cache (read-only data)."""
    name = f".kdlib-{split_dir.name}-{size}px.pt"
    if os.access(split_dir.parent, os.W_OK):
        return split_dir.parent / name
    tag = hashlib.sha256(str(split_dir.resolve()).encode()).hexdigest()[:16]
    return user_cache_dir() / f"{tag}{name}"


def images_to_tensors(samples: Samples, size: int, cache: Path | None = None, listing: str = "") -> Pair:
    """Decode images once into uint8 (N, 3, size, size); cached as .pt, rebuilt when `listing` changes."""
    if cache is not None and cache.exists():
        blob = torch.load(cache, weights_only=True)
        if blob.get("listing") == listing:
            return blob["x"], blob["y"]
    from PIL import Image
    x = torch.empty(len(samples), 3, size, size, dtype=torch.uint8)
    for i, (path, _) in enumerate(samples):
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
                image = image if image.size == (size, size) else image.resize((size, size))
                x[i] = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: cannot decode the image ({e})") from None
    y = torch.tensor([label for _, label in samples], dtype=torch.int64)
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(cache.name + f".{os.getpid()}.tmp")
            torch.save({"x": x, "y": y, "listing": listing}, tmp)
            os.replace(tmp, cache)
        except OSError as e:
            warnings.warn(f"could not cache decoded images at {cache} ({e}); they will be decoded again next time")
    return x, y


def folder_to_tensors(folder: Path, size: int, classes: list[str] | None = None) -> Pair:
    """An ImageFolder tree decoded into uint8 tensors, cached (see cache_path); for <= 64 px datasets."""
    classes, samples = scan_image_folder(folder, classes)
    listing = describe_samples(samples, classes, folder)["sha256"]
    return images_to_tensors(samples, size, cache_path(folder, size), listing)


def read_tinyimagenet(folder: Path, size: int = 64) -> tuple[Pair, Pair]:
    """TinyImageNet (train, val-as-test): val/ re-laid where writable, labelled from its annotations."""
    relayout_tinyimagenet_val(folder)
    classes, train, val = tinyimagenet_samples(folder)
    out = []
    for split, samples in (("train", train), ("val", val)):
        listing = describe_samples(samples, classes, folder / split)["sha256"]
        out.append(images_to_tensors(samples, size, cache_path(folder / split, size), listing))
    return out[0], out[1]


def image_transform(train: bool, size: int, mean: tuple, std: tuple):
    """The standard ImageNet-style transforms: random resized crops and flips, or resize and centre crop."""
    from torchvision import transforms as T
    if train:
        return T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(mean, std)])
    return T.Compose([T.Resize(int(size * 256 / 224)), T.CenterCrop(size), T.ToTensor(), T.Normalize(mean, std)])


def image_folder(folder: Path, train: bool, size: int, mean: tuple, std: tuple):
    """An ImageFolder with the standard ImageNet-style transforms (224 crops). An empty class folder is an error,
    except in a stand-in (kdlib.standins), whose 224 px sets hold images in only some of their class folders."""
    from torchvision import datasets
    standin = (Path(folder).parent / STANDIN_MARKER).exists()
    return datasets.ImageFolder(str(folder), transform=image_transform(train, size, mean, std), allow_empty=standin)


def check_classes(name: str, folder: Path, expected: int, how_to_get: str) -> None:
    found = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if len(found) != expected:
        hint = " (an older Kaggle version of Birds has 175/250/400/450/500/515)" if name == "birds525" else ""
        raise ValueError(f"{folder} has {len(found)} class folders; {name} needs {expected}{hint}. "
                         f"How to get it: {how_to_get}")
