"""Datasets: one entry point, `load(name)`, for the six datasets the four papers use.

Small images (<= 64 px) are held in memory as uint8 tensors and augmented in batches on the training
device (airbench style); large ones (Birds-525, ImageNet) are ImageFolder trees read by DataLoader workers.
File formats are read by `kdlib.formats`; `python -m kdlib.obtain fashion_mnist` fetches Fashion-MNIST.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from . import formats
from .batches import TensorLoader, augment  # noqa: F401 (part of kdlib.data's API)
from .formats import DatasetNotFound, image_folder, read_idx, relayout_tinyimagenet_val  # noqa: F401 (API)

SYSTEM_ROOTS = {"fashion_mnist": [Path("/usr/share/datasets/fashion-mnist")]}
CHECKOUT_RAW = Path(__file__).resolve().parent.parent / "data" / "raw"
FOLDER_DATASETS = {"birds525": ("train", "valid", "test"), "imagenet": ("train", "val")}


@dataclass(frozen=True)
class Info:
    """What a dataset is: classes, channels, native image size and the normalisation the papers' code uses."""
    num_classes: int
    in_channels: int
    image_size: int
    mean: tuple
    std: tuple
    folder: str          # sub-folder looked for under each root
    how_to_get: str      # printed when the dataset is not found
    crop_padding: int = 4


DATASETS: dict[str, Info] = {
    "fashion_mnist": Info(10, 1, 28, (0.2860,), (0.3530,), "fashion-mnist",
                          "apt-get install dataset-fashion-mnist (Debian), or the four *-ubyte.gz files from "
                          "github.com/zalandoresearch/fashion-mnist into <root>/fashion-mnist/", crop_padding=2),
    # CIFAR statistics as in Park & No's reference code (datasets/data_utils.py).
    "cifar10": Info(10, 3, 32, (0.491, 0.482, 0.447), (0.247, 0.243, 0.262), "cifar-10-batches-py",
                    "torchvision downloads it (pass download=True / KDLIB_DOWNLOAD=1), or unpack "
                    "cifar-10-python.tar.gz from cs.toronto.edu/~kriz/cifar.html into <root>/"),
    "cifar100": Info(100, 3, 32, (0.507, 0.487, 0.441), (0.267, 0.256, 0.276), "cifar-100-python",
                     "torchvision downloads it (pass download=True / KDLIB_DOWNLOAD=1), or unpack "
                     "cifar-100-python.tar.gz from cs.toronto.edu/~kriz/cifar.html into <root>/"),
    "tinyimagenet": Info(200, 3, 64, (0.480, 0.448, 0.397), (0.276, 0.269, 0.282), "tiny-imagenet-200",
                         "download http://cs231n.stanford.edu/tiny-imagenet-200.zip and unzip it into <root>/ "
                         "(train/<wnid>/images/*.JPEG, val/images + val/val_annotations.txt; kdlib re-lays "
                         "val/ into val/<wnid>/ on first use)", crop_padding=8),
    "birds525": Info(525, 3, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "birds525",
                     "download 'BIRDS 525 SPECIES' from kaggle.com/datasets/gpiosenka/100-bird-species and "
                     "unzip it as <root>/birds525/{train,valid,test}/<SPECIES NAME>/*.jpg (525 class folders)"),
    "imagenet": Info(1000, 3, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "imagenet",
                     "obtain ILSVRC-2012 from image-net.org and lay it out as <root>/imagenet/{train,val}/"
                     "<wnid>/*.JPEG"),
}


@dataclass
class TensorSplit:
    """One split held in memory: images as uint8 (N, C, H, W), labels as int64 (N,)."""
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index: torch.Tensor) -> "TensorSplit":
        return TensorSplit(self.x[index], self.y[index])


@dataclass
class Data:
    """A dataset split into train / val / test, plus its Info. Splits are TensorSplit or torch Datasets."""
    name: str
    info: Info
    train: object
    val: object
    test: object
    root: Path | None = None
    notes: list = field(default_factory=list)


def info(name: str) -> Info:
    """The Info of a dataset, or a ValueError listing the valid names."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    return DATASETS[name]


def candidate_roots(root: str | Path | None = None) -> list[Path]:
    """Where datasets are looked for, in order: explicit root, $KDLIB_DATA, data/raw/ of the checkout."""
    roots = [Path(root)] if root is not None else []
    if os.environ.get("KDLIB_DATA"):
        roots.append(Path(os.environ["KDLIB_DATA"]))
    return roots + [CHECKOUT_RAW]


def find(name: str, root: str | Path | None = None, must_exist: Callable[[Path], bool] | None = None) -> Path:
    """The first existing folder of dataset `name`, or DatasetNotFound naming every place looked."""
    meta = info(name)
    places = [r / meta.folder for r in candidate_roots(root)] + SYSTEM_ROOTS.get(name, [])
    exists = must_exist or _EXISTS.get(name) or (lambda p: p.is_dir() and any(p.iterdir()))
    for place in places:
        if exists(place):
            return place
    looked = "\n  ".join(str(p) for p in places)
    raise DatasetNotFound(f"dataset {name!r} not found (or empty). Looked in:\n  {looked}\n"
                          f"How to get it: {meta.how_to_get}.\nSet KDLIB_DATA or pass root= to point elsewhere.")


_has_train = lambda p: (p / "train").is_dir()
_EXISTS = {"fashion_mnist": lambda p: any(p.glob("train-images-idx3-ubyte*")),
           "tinyimagenet": _has_train, "birds525": _has_train, "imagenet": _has_train}


def downloads_allowed(download: bool | None) -> bool:
    """Downloads happen only when asked for (argument, or KDLIB_DOWNLOAD=1): never hang offline."""
    return bool(download) if download is not None else os.environ.get("KDLIB_DOWNLOAD") == "1"


# ---------------------------------------------------------------- splits
def _shuffled(n: int, seed: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def split_train_val(train: TensorSplit, val_fraction: float, seed: int) -> tuple[TensorSplit, TensorSplit]:
    """Deterministic hold-out of `val_fraction` of train (never the test set) for model selection."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = _shuffled(len(train), seed)
    n_val = round(val_fraction * len(train))
    return train.subset(order[n_val:].sort().values), train.subset(order[:n_val].sort().values)


def per_class_index(y: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Sorted indices of the first n examples of each class after a seeded shuffle."""
    order = _shuffled(len(y), seed)
    return torch.cat([order[y[order] == c][:n] for c in y.unique()]).sort().values


def per_class_subset(split: TensorSplit, n: int, seed: int) -> TensorSplit:
    """A stratified subset: the first n examples of each class after a seeded shuffle."""
    return split.subset(per_class_index(split.y, n, seed))


def hold_out_per_class(y: torch.Tensor, val_per_class: int, seed: int,
                       train_per_class: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, val) indices: `val_per_class` of each class for validation, drawn from all of `y`, and the
    training indices from the rest (`train_per_class` of each class, or all): disjoint, and the validation
    set is the same whatever the training subset size."""
    counts = torch.bincount(y).tolist()
    short = [f"class {c} has {k}" for c, k in enumerate(counts) if 0 < k <= val_per_class]
    if val_per_class < 1 or short:
        raise ValueError(f"val_per_class={val_per_class} must be >= 1 and leave training examples of every "
                         f"class; {', '.join(short[:10])}")
    val = per_class_index(y, val_per_class, seed)
    rest = torch.ones(len(y), dtype=torch.bool)
    rest[val] = False
    rest = rest.nonzero().flatten()
    if train_per_class:
        rest = rest[per_class_index(y[rest], train_per_class, seed)]
    return rest, val


def train_subset(data: Data, index: torch.Tensor, *, augmented: bool = False) -> Data:
    """`data` with only the training examples at `index`. An image-folder training set is then read with the
    evaluation transforms unless `augmented` (in-memory splits are augmented by their loader's train flag)."""
    def plain(ds):
        if isinstance(ds, torch.utils.data.Subset):
            return torch.utils.data.Subset(plain(ds.dataset), ds.indices)
        ds = copy.copy(ds)  # an ImageFolder: the same samples, the evaluation transform
        ds.transform = formats.image_transform(False, data.info.image_size, data.info.mean, data.info.std)
        return ds
    if isinstance(data.train, TensorSplit):
        train = data.train.subset(index)
    else:
        train = torch.utils.data.Subset(data.train if augmented else plain(data.train), index.tolist())
    return Data(data.name, data.info, train, data.val, data.test, data.root, list(data.notes))


def class_subset(split: TensorSplit, classes: list[int]) -> TensorSplit:
    """Only the examples of `classes`, relabelled 0..len(classes)-1 (for honest transfer experiments)."""
    keep = torch.isin(split.y, torch.tensor(classes))
    relabel = torch.full((max(int(split.y.max()), max(classes)) + 1,), -1, dtype=torch.int64)
    relabel[torch.tensor(classes)] = torch.arange(len(classes))
    return TensorSplit(split.x[keep], relabel[split.y[keep]])


# ---------------------------------------------------------------- loading
def load(name: str, root: str | Path | None = None, *, val_fraction: float = 0.1, seed: int = 0,
         train_per_class: int | None = None, test_per_class: int | None = None,
         download: bool | None = None, val_per_class: int | None = None) -> Data:
    """Load dataset `name` with a seeded validation split held out of train, and optional per-class subsets.

    Validation: `val_fraction` of the (subset) training set, or with `val_per_class`, that many of each class
    drawn from the full training set before `train_per_class` picks the training subset from the rest.
    """
    meta = info(name)
    if name in FOLDER_DATASETS:
        return _load_folder_dataset(name, root, val_fraction, seed, train_per_class, test_per_class, val_per_class)
    if name in ("cifar10", "cifar100"):
        folder = _find_or_download_cifar(name, root, download)
        pairs = formats.read_cifar(folder, meta.num_classes)
    else:
        folder = find(name, root)
        pairs = (formats.read_fashion_mnist(folder) if name == "fashion_mnist"
                 else formats.read_tinyimagenet(folder, meta.image_size))
    train, test = TensorSplit(*pairs[0]), TensorSplit(*pairs[1])
    if val_per_class is not None:
        train_index, val_index = hold_out_per_class(train.y, val_per_class, seed, train_per_class)
        train, val = train.subset(train_index), train.subset(val_index)
    else:
        if train_per_class:
            train = per_class_subset(train, train_per_class, seed)
        train, val = split_train_val(train, val_fraction, seed)
    if test_per_class:
        test = per_class_subset(test, test_per_class, seed)
    return Data(name, meta, train, val, test, folder)


def _find_or_download_cifar(name: str, root, download) -> Path:
    meta = info(name)
    try:
        return find(name, root)
    except DatasetNotFound:
        if not downloads_allowed(download):
            raise
    from torchvision import datasets  # torchvision checks the archive's md5 for us
    target = candidate_roots(root)[0]
    (datasets.CIFAR10 if meta.num_classes == 10 else datasets.CIFAR100)(str(target), download=True)
    return target / meta.folder


def _load_folder_dataset(name: str, root, val_fraction: float, seed: int, train_per_class: int | None,
                         test_per_class: int | None, val_per_class: int | None) -> Data:
    """Birds-525 (its own valid/ split) and ImageNet (val/ is the test set; validation held out of train)."""
    meta, Subset = info(name), torch.utils.data.Subset
    folder = find(name, root)
    for split in FOLDER_DATASETS[name]:
        formats.check_classes(name, folder / split, meta.num_classes, meta.how_to_get)
    make = lambda sub, train: image_folder(folder / sub, train, meta.image_size, meta.mean, meta.std)
    per_class = lambda ds, n: Subset(ds, per_class_index(torch.tensor(ds.targets), n, seed).tolist()) if n else ds
    test = per_class(make(FOLDER_DATASETS[name][-1], False), test_per_class)
    if name == "birds525":
        return Data(name, meta, per_class(make("train", True), train_per_class),
                    per_class(make("valid", False), val_per_class), test, folder)
    full, plain = make("train", True), make("train", False)
    if val_per_class is not None:
        train_index, val_index = hold_out_per_class(torch.tensor(full.targets), val_per_class, seed, train_per_class)
        return Data(name, meta, Subset(full, train_index.tolist()), Subset(plain, val_index.tolist()), test, folder)
    if train_per_class:  # a stratified subset first, then val_fraction of it (as for in-memory datasets)
        keep = per_class_index(torch.tensor(full.targets), train_per_class, seed)
        full, plain = Subset(full, keep.tolist()), Subset(plain, keep.tolist())
    order = _shuffled(len(full), seed)
    n_val = round(val_fraction * len(full))
    return Data(name, meta, Subset(full, order[n_val:].tolist()), Subset(plain, order[:n_val].tolist()), test, folder)


def loader(data: Data, split: str, batch_size: int, *, train: bool | None = None,
           device: str | torch.device = "cpu", seed: int = 0, workers: int | None = None,
           image_size: int | None = None):
    """An iterable of (x, y) batches for `split` in {'train', 'val', 'test'}; augmented only for train."""
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    part, train = getattr(data, split), (split == "train") if train is None else train
    if isinstance(part, TensorSplit):
        return TensorLoader(part, data.info, batch_size, train=train, device=device, seed=seed,
                            image_size=image_size)
    workers = min(8, os.cpu_count() or 1) if workers is None else workers
    gen = torch.Generator().manual_seed(seed)
    # a last partial batch is dropped in training, unless it is the only one (as TensorLoader does)
    return torch.utils.data.DataLoader(part, batch_size=batch_size, shuffle=train, drop_last=train and len(part) > batch_size,
                                       num_workers=workers, generator=gen, pin_memory=torch.cuda.is_available(),
                                       persistent_workers=workers > 0)
