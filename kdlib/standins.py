"""Paper-shaped stand-in datasets: small random data in the real on-disk formats `kdlib.data.load` reads.

For a dry run of the `paper` profile on a machine without the papers' datasets: every class of CIFAR-10/100,
TinyImageNet, Birds-525 and ImageNet exists (with a few images each; in the 224 px sets only POPULATED classes hold
images, the other class folders stay empty; TinyImageNet's val/ covers POPULATED classes), laid out as the official downloads unpack,
so class counts, image sizes, the TinyImageNet val re-layout and the Birds class check all run for real.
Each image carries its class as colours (a background tint and a centre square), so a few training steps
are not pure noise. `python -m kdlib.standins <root>` writes all five.
"""
from __future__ import annotations

import argparse
import shutil
import struct
import sys
import time
from pathlib import Path

import numpy as np

from .formats import STANDIN_MARKER as MARKER  # only folders carrying it are ever replaced

VERSION = 2  # bumped when what the writers produce changes; reproduce rewrites older stand-ins
DEFAULTS = {"cifar10": 20, "cifar100": 10, "tinyimagenet": 4, "birds525": 2, "imagenet": 2}  # train per class
# The 224 px sets: every class folder exists in every split (the class check, the 525/1000-way head and the class
# indices are real), but only this many classes, spread over the index range, hold images. Evaluating 525 + 525
# Birds or 2 x 1000 ImageNet images at 224 px took most of the dry run (a ResNet-50 pass: about a minute on 2 cores).
# TinyImageNet's val/ (the test set) likewise: annotations for only this many classes (a 64 px ResNet18DBL pass over
# 400 images took half a minute).
POPULATED = {"birds525": 21, "imagenet": 20, "tinyimagenet": 20}
FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python", "tinyimagenet": "tiny-imagenet-200",
           "birds525": "birds525", "imagenet": "imagenet"}
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write(root: str | Path, names: list[str] | None = None, *, images_per_class: int | None = None,
          seed: int = 0) -> dict[str, Path]:
    """Write the stand-ins `names` (default: all five) under `root`; {name: dataset folder}.

    `images_per_class` is the number of training images per class (default: DEFAULTS, tens for CIFAR and
    1-4 for the 200-1000-class sets); validation/test splits get about half as many, at least one.
    An existing folder is replaced only if it is itself a stand-in (it carries MARKER).
    """
    root = Path(root)
    names = list(DEFAULTS) if names is None else list(names)
    unknown = sorted(set(names) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"no stand-in for {', '.join(unknown)}; valid: {', '.join(DEFAULTS)}")
    out = {}
    for name in names:
        folder = root / FOLDERS[name]
        if folder.exists() and not (folder / MARKER).exists():
            raise FileExistsError(f"{folder} exists and is not a kdlib stand-in; refusing to replace it")
        tmp = root / f".{FOLDERS[name]}.writing"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        n = images_per_class or DEFAULTS[name]
        rng = np.random.default_rng([seed, list(DEFAULTS).index(name)])
        WRITERS[name](tmp, n, max(1, n // 2), rng)
        (tmp / MARKER).write_text(marker_text(name, n, seed))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
        out[name] = folder
    return out


def marker_text(name: str, n: int | None = None, seed: int = 0) -> str:
    n = n or DEFAULTS[name]
    populated = f", images in {POPULATED[name]} of its class folders" if name in POPULATED else ""
    return f"kdlib stand-in v{VERSION}: {name}, {n} training images per class{populated}, seed {seed}\n"


def is_current(folder: str | Path, name: str) -> bool:
    """True if `folder` is a stand-in of `name` written by this version with the default sizes."""
    path = Path(folder) / MARKER
    return path.exists() and path.read_text() == marker_text(name)


def populated_classes(name: str, classes: int) -> list[int]:
    """The classes that hold images: all, or POPULATED[name] of them spread from the first to the last."""
    k = POPULATED.get(name, classes)
    return np.linspace(0, classes - 1, k).round().astype(int).tolist()


# ---------------------------------------------------------------- images with a class signal
def _palette(classes: int, seed: int = 12345) -> np.ndarray:
    """Two distinct colours per class (background, square), fixed for every dataset and seed."""
    return np.random.default_rng(seed).integers(30, 226, (classes, 2, 3))


def _images(labels: np.ndarray, size: tuple[int, int], palette: np.ndarray, rng) -> np.ndarray:
    """uint8 (N, H, W, 3): class-coloured background and centre square, plus blocky noise."""
    h, w = size
    x = np.empty((len(labels), h, w, 3), np.int16)
    x[:] = palette[labels, 0][:, None, None, :]
    x[:, h // 4: 3 * h // 4, w // 4: 3 * w // 4] = palette[labels, 1][:, None, None, :]
    block = max(1, min(h, w) // 32)  # noise drawn at a lower resolution: cheap, and every image unique
    noise = rng.integers(-25, 26, (len(labels), -(-h // block), -(-w // block), 3), dtype=np.int16)
    x += noise.repeat(block, 1).repeat(block, 2)[:, :h, :w]
    return x.clip(0, 255).astype(np.uint8)


def _save_jpegs(paths: list[Path], labels: np.ndarray, size: tuple[int, int], palette: np.ndarray, rng) -> None:
    from PIL import Image
    for start in range(0, len(paths), 256):  # bounded memory for the 224 px sets
        chunk = _images(labels[start:start + 256], size, palette, rng)
        for path, image in zip(paths[start:start + 256], chunk):
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(path, quality=85)


# ---------------------------------------------------------------- CIFAR: Python 2 cPickle, protocol 2
def _py2_pickle(obj) -> bytes:
    """`obj` pickled as the official CIFAR batches are (Python 2 cPickle, protocol 2): str as 8-bit strings,
    numpy arrays through numpy.core.multiarray._reconstruct. Handles dict, list, str, bytes, int, uint8 arrays."""
    def string(b: bytes) -> bytes:
        return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<I", len(b)) + b

    def dump(o) -> bytes:
        if isinstance(o, dict):
            return b"}(" + b"".join(dump(k) + dump(v) for k, v in o.items()) + b"u"
        if isinstance(o, list):
            return b"](" + b"".join(dump(v) for v in o) + b"e"
        if isinstance(o, (str, bytes)):
            return string(o.encode("latin1") if isinstance(o, str) else o)
        if isinstance(o, (int, np.integer)) and not isinstance(o, bool):
            o = int(o)
            return b"K" + bytes([o]) if 0 <= o < 256 else (b"M" + struct.pack("<H", o) if 0 <= o < 65536
                                                          else b"J" + struct.pack("<i", o))
        if isinstance(o, np.ndarray) and o.dtype == np.uint8:
            shape = b"".join(dump(d) for d in o.shape) + {1: b"\x85", 2: b"\x86", 3: b"\x87"}[o.ndim]
            dtype = (b"cnumpy\ndtype\n" + string(b"u1") + b"K\x00K\x01\x87R"
                     + b"(K\x03" + string(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
            return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + string(b"b") + b"\x87R"
                    + b"(K\x01" + shape + dtype + b"\x89" + string(np.ascontiguousarray(o).tobytes()) + b"tb")
        raise TypeError(f"cannot write {type(o).__name__} in a CIFAR batch")
    return b"\x80\x02" + dump(obj) + b"."


def _cifar_images(labels: np.ndarray, classes: int, rng) -> np.ndarray:
    """(N, 3072) rows, channel-major as CIFAR stores them."""
    return _images(labels, (32, 32), _palette(classes), rng).transpose(0, 3, 1, 2).reshape(len(labels), -1)


def _labels(classes: int, per_class: int, rng) -> np.ndarray:
    return rng.permutation(np.repeat(np.arange(classes), per_class))


def _write_cifar10(folder: Path, n: int, n_test: int, rng) -> None:
    train = _labels(10, n, rng)
    for i, part in enumerate(np.array_split(train, 5), 1):
        _cifar_batch(folder / f"data_batch_{i}", f"training batch {i} of 5", "labels", part, rng)
    _cifar_batch(folder / "test_batch", "testing batch 1 of 1", "labels", _labels(10, n_test, rng), rng)
    (folder / "batches.meta").write_bytes(_py2_pickle({"num_cases_per_batch": len(train) // 5,
                                                       "label_names": CIFAR10_NAMES, "num_vis": 3072}))
    (folder / "readme.html").write_text("<p>kdlib stand-in for CIFAR-10 (random images)</p>\n")


def _write_cifar100(folder: Path, n: int, n_test: int, rng) -> None:
    for split, per_class in (("train", n), ("test", n_test)):
        fine = _labels(100, per_class, rng)
        _cifar_batch(folder / split, f"{'training' if split == 'train' else 'testing'} batch 1 of 1",
                     "fine_labels", fine, rng, coarse=fine // 5)
    (folder / "meta").write_bytes(_py2_pickle({"fine_label_names": [f"fine_{i:02d}" for i in range(100)],
                                               "coarse_label_names": [f"coarse_{i:02d}" for i in range(20)]}))


def _cifar_batch(path: Path, label: str, key: str, labels: np.ndarray, rng, coarse=None) -> None:
    names = [f"standin_s_{int(rng.integers(1_000_000)):06d}.png" for _ in labels]
    data = _cifar_images(labels, 10 if coarse is None else 100, rng)
    batch = {"batch_label": label, key: labels.tolist(), "data": data, "filenames": names}
    if coarse is not None:  # the CIFAR-100 key order: filenames, batch_label, fine, coarse, data
        batch = {"filenames": names, "batch_label": label, key: labels.tolist(),
                 "coarse_labels": coarse.tolist(), "data": data}
    path.write_bytes(_py2_pickle(batch))


# ---------------------------------------------------------------- image trees
def wnids(count: int = 1000) -> list[str]:
    """`count` ImageNet-style WordNet ids ('n01440764' ... 'n15075141'), sorted, the same on every call."""
    numbers = np.random.default_rng(2012).choice(np.arange(1440765, 15075141), count - 2, replace=False)
    return [f"n{v:08d}" for v in sorted([1440764, 15075141, *numbers.tolist()])]


def bird_names(count: int = 525) -> list[str]:
    adjectives = ("AMERICAN", "ASHY", "AZURE", "BANDED", "BARRED", "BLACK THROATED", "BLUE", "BROWN", "CRESTED",
                  "DUSKY", "GILDED", "GOLDEN", "GREAT", "GREY HEADED", "HOODED", "LITTLE", "MASKED", "ORANGE",
                  "RED BILLED", "ROSY", "RUFOUS", "SCARLET", "SPOTTED", "WHITE", "YELLOW")
    birds = ("BABBLER", "BUNTING", "CRANE", "EAGLE", "FINCH", "FLYCATCHER", "GROSBEAK", "HERON", "IBIS", "JAY",
             "KINGFISHER", "LARK", "MANAKIN", "NUTHATCH", "ORIOLE", "PARAKEET", "PITTA", "QUAIL", "SHRIKE",
             "TANAGER", "WARBLER")
    return sorted(f"{a} {b}" for a in adjectives for b in birds)[:count]


def _write_tinyimagenet(folder: Path, n: int, n_val: int, rng) -> None:
    classes = wnids()[::5]  # 200 of the ImageNet stand-in's wnids, as TinyImageNet's are ImageNet's
    palette = _palette(200)
    (folder / "wnids.txt").write_text("".join(f"{w}\n" for w in classes))
    (folder / "words.txt").write_text("".join(f"{w}\tstand-in class {i}\n" for i, w in enumerate(wnids())))
    paths, labels = [], []
    for c, wnid in enumerate(classes):
        names = [f"{wnid}_{i}.JPEG" for i in range(n)]
        paths += [folder / "train" / wnid / "images" / f for f in names]
        labels += [c] * n
        boxes = ("".join(f"{f}\t{b[0]}\t{b[1]}\t{b[0] + 31}\t{b[1] + 31}\n"
                         for f, b in zip(names, rng.integers(0, 32, (n, 2)))))
        (folder / "train" / wnid).mkdir(parents=True)
        (folder / "train" / wnid / f"{wnid}_boxes.txt").write_text(boxes)
    populated = np.array(populated_classes("tinyimagenet", 200))
    val_labels = populated[_labels(len(populated), n_val, rng)]
    val_names = [f"val_{i}.JPEG" for i in range(len(val_labels))]
    (folder / "val").mkdir()
    (folder / "val" / "val_annotations.txt").write_text("".join(
        f"{f}\t{classes[c]}\t16\t16\t47\t47\n" for f, c in zip(val_names, val_labels)))
    test_labels = rng.integers(0, 200, 20)
    _save_jpegs(paths + [folder / "val" / "images" / f for f in val_names]
                + [folder / "test" / "images" / f"test_{i}.JPEG" for i in range(20)],
                np.concatenate([labels, val_labels, test_labels]), (64, 64), palette, rng)


def _write_birds525(folder: Path, n: int, n_eval: int, rng) -> None:
    names, palette, populated = bird_names(), _palette(525), set(populated_classes("birds525", 525))
    rows, paths, labels = ["class id,filepaths,labels,data set,scientific name"], [], []
    for split, per_class in (("train", n), ("valid", n_eval), ("test", n_eval)):
        for c, species in enumerate(names):
            (folder / split / species).mkdir(parents=True)
            for i in range(per_class if c in populated else 0):
                rel = f"{split}/{species}/{i + 1:03d}.jpg"
                paths.append(folder / rel)
                labels.append(c)
                rows.append(f"{c}.0,{rel},{species},{split},STANDIN {species.split()[-1].lower()}")
    _save_jpegs(paths, np.array(labels), (224, 224), palette, rng)
    (folder / "birds.csv").write_text("\n".join(rows) + "\n")


def _write_imagenet(folder: Path, n: int, n_val: int, rng) -> None:
    ids, paths, labels, populated = wnids(), [], [], set(populated_classes("imagenet", 1000))
    for split, per_class in (("train", n), ("val", n_val)):
        for c, wnid in enumerate(ids):
            (folder / split / wnid).mkdir(parents=True)
            for i in range(per_class if c in populated else 0):
                stem = f"{wnid}_{i + 1}" if split == "train" else f"ILSVRC2012_val_{c * per_class + i + 1:08d}"
                paths.append(folder / split / wnid / f"{stem}.JPEG")
                labels.append(c)
    _save_jpegs(paths, np.array(labels), (150, 200), _palette(1000), rng)  # not square, as ImageNet's are not


WRITERS = {"cifar10": _write_cifar10, "cifar100": _write_cifar100, "tinyimagenet": _write_tinyimagenet,
           "birds525": _write_birds525, "imagenet": _write_imagenet}


def write_weights(torch_home: str | Path, names: list[str], seed: int = 0) -> list[Path]:
    """Stand-ins for torchvision's ImageNet weights of `names`: randomly initialised state_dicts saved under the file
    names torchvision's weight enums expect in <torch_home>/hub/checkpoints/, so that the pretrained-weights path
    (`kdlib.models.pretrained_state_dict`, loaded with weights_only) runs for real. Their accuracy means nothing."""
    import os
    import torch
    import torchvision
    folder = Path(torch_home) / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        path = folder / os.path.basename(torchvision.models.get_model_weights(name).DEFAULT.url)
        if not path.exists():
            torch.manual_seed(seed)
            torch.save(torchvision.models.get_model(name, weights=None).state_dict(), path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kdlib.standins", description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help="folder to write the stand-ins into (use it as KDLIB_DATA)")
    parser.add_argument("--names", nargs="+", choices=list(DEFAULTS), help="default: all five")
    parser.add_argument("--images-per-class", type=int, help="training images per class (default: per dataset)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        written = write(args.root, args.names, images_per_class=args.images_per_class, seed=args.seed)
    except (FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for name, folder in written.items():
        print(f"{name}: {folder}")
    print(f"wrote {len(written)} stand-in datasets in {time.perf_counter() - start:.1f}s; "
          f"use them with KDLIB_DATA={Path(args.root).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
