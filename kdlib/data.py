"""Datasets: one entry point, `load(name)`, for the six datasets the four papers use.

Small images (<= 64 px) are held in memory as uint8 tensors and augmented in batches on the training
device (airbench style); large ones (Birds-525, ImageNet) are ImageFolder trees read by DataLoader workers.
"""
from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

SYSTEM_ROOTS = {"fashion_mnist": [Path("/usr/share/datasets/fashion-mnist")]}


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


class DatasetNotFound(FileNotFoundError):
    """Raised with every place looked in and how to obtain the dataset."""


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
    roots.append(Path(__file__).resolve().parent.parent / "data" / "raw")
    return roots


def find(name: str, root: str | Path | None = None, must_exist: Callable[[Path], bool] | None = None) -> Path:
    """The first existing folder of dataset `name`, or DatasetNotFound naming every place looked."""
    meta = info(name)
    places = [r / meta.folder for r in candidate_roots(root)] + SYSTEM_ROOTS.get(name, [])
    exists = must_exist or (lambda p: p.is_dir() and any(p.iterdir()))
    for place in places:
        if exists(place):
            return place
    looked = "\n  ".join(str(p) for p in places)
    raise DatasetNotFound(f"dataset {name!r} not found (or empty). Looked in:\n  {looked}\n"
                          f"How to get it: {meta.how_to_get}.\nSet KDLIB_DATA or pass root= to point elsewhere.")


def downloads_allowed(download: bool | None) -> bool:
    """Downloads happen only when asked for (argument, or KDLIB_DOWNLOAD=1): never hang offline."""
    return bool(download) if download is not None else os.environ.get("KDLIB_DOWNLOAD") == "1"


# ---------------------------------------------------------------- on-disk formats
def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (MNIST / Fashion-MNIST format), gzipped or not."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = raw[0] * 256 + raw[1], raw[2], raw[3]
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _idx_file(folder: Path, stem: str) -> Path:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.exists():
            return candidate
    raise DatasetNotFound(f"{folder} has no {stem}[.gz]")


def load_fashion_mnist(folder: Path) -> tuple[TensorSplit, TensorSplit]:
    """Fashion-MNIST train/test from the four IDX files."""
    def split(prefix: str) -> TensorSplit:
        x = read_idx(_idx_file(folder, f"{prefix}-images-idx3-ubyte"))
        y = read_idx(_idx_file(folder, f"{prefix}-labels-idx1-ubyte"))
        return TensorSplit(torch.from_numpy(x.copy()).unsqueeze(1), torch.from_numpy(y.astype(np.int64)))
    return split("train"), split("t10k")


def load_cifar(folder: Path, num_classes: int) -> tuple[TensorSplit, TensorSplit]:
    """CIFAR-10/100 train/test from the python pickle batches (the official tarball layout)."""
    if num_classes == 10:
        files = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
        key = b"labels"
    else:
        files, key = {"train": ["train"], "test": ["test"]}, b"fine_labels"
    out = []
    for split in ("train", "test"):
        xs, ys = [], []
        for name in files[split]:
            with open(folder / name, "rb") as f:
                batch = pickle.load(f, encoding="bytes")
            xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch[key], dtype=np.int64))
        out.append(TensorSplit(torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))))
    return out[0], out[1]


def relayout_tinyimagenet_val(folder: Path) -> None:
    """Move TinyImageNet's val/images/* into val/<wnid>/ using val_annotations.txt (idempotent)."""
    val = folder / "val"
    annotations = val / "val_annotations.txt"
    if not annotations.exists() or not (val / "images").is_dir():
        return
    for line in annotations.read_text().splitlines():
        image, wnid = line.split("\t")[:2]
        src = val / "images" / image
        if src.exists():
            (val / wnid).mkdir(exist_ok=True)
            src.rename(val / wnid / image)
    if not any((val / "images").iterdir()):
        (val / "images").rmdir()


def folder_to_tensors(folder: Path, size: int) -> TensorSplit:
    """Decode an ImageFolder tree once into uint8 tensors (for 64 px datasets), cached beside it as .pt."""
    from torchvision.datasets import ImageFolder
    cache = folder.parent / f".kdlib-{folder.name}-{size}px.pt"
    if cache.exists():
        blob = torch.load(cache, weights_only=True)
        return TensorSplit(blob["x"], blob["y"])
    dataset = ImageFolder(str(folder))
    x = torch.empty(len(dataset), 3, size, size, dtype=torch.uint8)
    for i, (path, _) in enumerate(dataset.samples):
        image = dataset.loader(path).resize((size, size))
        x[i] = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)
    y = torch.tensor(dataset.targets, dtype=torch.int64)
    tmp = cache.with_suffix(".tmp")
    torch.save({"x": x, "y": y}, tmp)
    os.replace(tmp, cache)
    return TensorSplit(x, y)


def image_folder(folder: Path, train: bool, size: int, mean: tuple, std: tuple):
    """An ImageFolder with the standard ImageNet-style transforms (224 crops)."""
    from torchvision import datasets, transforms as T
    if train:
        tf = T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(mean, std)])
    else:
        tf = T.Compose([T.Resize(int(size * 256 / 224)), T.CenterCrop(size), T.ToTensor(), T.Normalize(mean, std)])
    return datasets.ImageFolder(str(folder), transform=tf)


def _check_classes(name: str, folder: Path, expected: int) -> None:
    found = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if len(found) != expected:
        raise ValueError(f"{folder} has {len(found)} class folders; {name} needs {expected} "
                         f"(an older Kaggle version of Birds has 175/250/400/450/500/515). How to get it: "
                         f"{info(name).how_to_get}")


# ---------------------------------------------------------------- splits
def split_train_val(train: TensorSplit, val_fraction: float, seed: int) -> tuple[TensorSplit, TensorSplit]:
    """Deterministic hold-out of `val_fraction` of train (never the test set) for model selection."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    n_val = round(val_fraction * len(train))
    return train.subset(order[n_val:].sort().values), train.subset(order[:n_val].sort().values)


def per_class_subset(split: TensorSplit, n: int, seed: int) -> TensorSplit:
    """A stratified subset: the first n examples of each class after a seeded shuffle."""
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    keep = torch.cat([order[split.y[order] == c][:n] for c in split.y.unique()])
    return split.subset(keep.sort().values)


def class_subset(split: TensorSplit, classes: list[int]) -> TensorSplit:
    """Only the examples of `classes`, relabelled 0..len(classes)-1 (for honest transfer experiments)."""
    keep = torch.isin(split.y, torch.tensor(classes))
    relabel = torch.full((int(split.y.max()) + 1,), -1, dtype=torch.int64)
    relabel[torch.tensor(classes)] = torch.arange(len(classes))
    return TensorSplit(split.x[keep], relabel[split.y[keep]])


def load(name: str, root: str | Path | None = None, *, val_fraction: float = 0.1, seed: int = 0,
         train_per_class: int | None = None, test_per_class: int | None = None,
         download: bool | None = None) -> Data:
    """Load dataset `name` with a held-out validation split (10% of train, seeded) and optional subsets."""
    meta = info(name)
    if name == "fashion_mnist":
        folder = find(name, root, lambda p: any(p.glob("train-images-idx3-ubyte*")))
        train, test = load_fashion_mnist(folder)
    elif name in ("cifar10", "cifar100"):
        folder = _find_or_download_cifar(name, root, download)
        train, test = load_cifar(folder, meta.num_classes)
    elif name == "tinyimagenet":
        folder = find(name, root, lambda p: (p / "train").is_dir())
        relayout_tinyimagenet_val(folder)
        train, test = folder_to_tensors(folder / "train", 64), folder_to_tensors(folder / "val", 64)
    else:
        return _load_folder_dataset(name, root, val_fraction, seed)
    if train_per_class:
        train = per_class_subset(train, train_per_class, seed)
    if test_per_class:
        test = per_class_subset(test, test_per_class, seed)
    train, val = split_train_val(train, val_fraction, seed)
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


def _load_folder_dataset(name: str, root, val_fraction: float, seed: int) -> Data:
    """Birds-525 (its own valid/ split) and ImageNet (val/ is the test set; validation held out of train)."""
    meta = info(name)
    folder = find(name, root, lambda p: (p / "train").is_dir())
    train_dir = folder / "train"
    _check_classes(name, train_dir, meta.num_classes)
    make = lambda sub, train: image_folder(folder / sub, train, meta.image_size, meta.mean, meta.std)
    if name == "birds525":
        return Data(name, meta, make("train", True), make("valid", False), make("test", False), folder)
    full = make("train", True)
    order = torch.randperm(len(full), generator=torch.Generator().manual_seed(seed))
    n_val = round(val_fraction * len(full))
    plain = make("train", False)
    return Data(name, meta, torch.utils.data.Subset(full, order[n_val:].tolist()),
                torch.utils.data.Subset(plain, order[:n_val].tolist()), make("val", False), folder)


# ---------------------------------------------------------------- batches
class TensorLoader:
    """Batches of an in-memory split on `device`: normalised, and augmented in the batch when train=True.

    Shuffling and augmentation draw from a generator seeded by (seed, epoch), so a run resumed at an epoch
    boundary sees exactly the batches the uninterrupted run saw.
    """

    def __init__(self, split: TensorSplit, info: Info, batch_size: int, *, train: bool = False,
                 device: str | torch.device = "cpu", seed: int = 0, drop_last: bool | None = None,
                 image_size: int | None = None):
        self.split, self.info, self.batch_size, self.train = split, info, batch_size, train
        self.device, self.seed, self.epoch = torch.device(device), seed, 0
        # drop the ragged last batch while training, unless that would leave no batch at all
        self.drop_last = (train and len(split) > batch_size) if drop_last is None else drop_last
        self.image_size = image_size
        self.x = split.x.to(self.device)
        self.y = split.y.to(self.device)
        self.mean = torch.tensor(info.mean, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(info.std, device=self.device).view(1, -1, 1, 1)

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        gen = torch.Generator(device="cpu").manual_seed(self.seed * 100_003 + self.epoch)
        n = len(self.y)
        order = torch.randperm(n, generator=gen).to(self.device) if self.train else torch.arange(n, device=self.device)
        for i in range(len(self)):
            index = order[i * self.batch_size:(i + 1) * self.batch_size]
            x = self.x[index].float().div_(255)
            if self.train:
                x = augment(x, self.info.crop_padding, gen)
            if self.image_size and self.image_size != x.shape[-1]:
                x = F.interpolate(x, size=self.image_size, mode="bilinear", align_corners=False)
            yield (x - self.mean) / self.std, self.y[index]
        self.epoch += 1


def augment(x: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding and random horizontal flip, for a whole batch at once."""
    b, c, h, w = x.shape
    if padding:
        padded = F.pad(x, (padding,) * 4)
        dy = torch.randint(0, 2 * padding + 1, (b,), generator=gen).to(x.device)
        dx = torch.randint(0, 2 * padding + 1, (b,), generator=gen).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        x = padded[torch.arange(b, device=x.device)[:, None, None, None],
                   torch.arange(c, device=x.device)[None, :, None, None], rows, cols]
    flip = (torch.rand(b, generator=gen) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


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
    return torch.utils.data.DataLoader(part, batch_size=batch_size, shuffle=train, drop_last=train,
                                       num_workers=workers, generator=gen, pin_memory=torch.cuda.is_available(),
                                       persistent_workers=workers > 0)
