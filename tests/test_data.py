import gzip
import os
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from kdlib import data

FMNIST = "/usr/share/datasets/fashion-mnist"


def write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_fixture_roundtrip(tmp_path):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (50, 28, 28)), np.arange(50) % 10
    for prefix, n in (("train", 50), ("t10k", 20)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images[:n])
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels[:n])
    d = data.load("fashion_mnist", root=tmp_path, val_fraction=0.2)
    assert (len(d.train), len(d.val), len(d.test)) == (40, 10, 20)
    assert d.root == folder
    both = torch.cat([d.train.x, d.val.x]).view(50, -1)
    assert sorted(map(tuple, both.tolist())) == sorted(map(tuple, images.reshape(50, -1).tolist()))


@pytest.mark.skipif(not os.path.isdir(FMNIST) and not os.environ.get("CI"), reason="Debian's dataset-fashion-mnist absent")
def test_real_fashion_mnist():
    d = data.load("fashion_mnist")
    assert (len(d.train), len(d.val), len(d.test)) == (54000, 6000, 10000)
    assert d.train.x.shape[1:] == (1, 28, 28) and d.train.x.dtype == torch.uint8
    assert torch.bincount(d.test.y).tolist() == [1000] * 10


def write_cifar(root, classes):
    rng = np.random.default_rng(0)
    if classes == 10:
        folder, names, key = root / "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], b"labels"
    else:
        folder, names, key = root / "cifar-100-python", ["train", "test"], b"fine_labels"
    folder.mkdir(parents=True)
    for name in names:
        batch = {b"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8), key: list(rng.integers(0, classes, 20))}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    return folder


@pytest.mark.parametrize("name,classes,n_train", [("cifar10", 10, 100), ("cifar100", 100, 20)])
def test_cifar_pickle_fixtures(tmp_path, name, classes, n_train):
    write_cifar(tmp_path, classes)
    d = data.load(name, root=tmp_path)
    assert len(d.train) + len(d.val) == n_train and len(d.val) == round(0.1 * n_train)
    assert d.train.x.shape[1:] == (3, 32, 32) and len(d.test) == 20
    assert d.info.num_classes == classes


def write_jpegs(folder, n, size=(70, 60)):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((size[1], size[0], 3), 40 * i % 256, np.uint8)).save(folder / f"img{i}.JPEG")


def test_tinyimagenet_relayout_and_tensors(tmp_path):
    root = tmp_path / "tiny-imagenet-200"
    for wnid in ("n01", "n02"):
        write_jpegs(root / "train" / wnid / "images", 3)
    write_jpegs(root / "val" / "images", 2)
    (root / "val" / "images" / "img0.JPEG").rename(root / "val" / "images" / "val_0.JPEG")
    (root / "val" / "images" / "img1.JPEG").rename(root / "val" / "images" / "val_1.JPEG")
    (root / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn01\t0\t0\t1\t1\nval_1.JPEG\tn02\t0\t0\t1\t1\n")
    d = data.load("tinyimagenet", root=tmp_path, val_fraction=0.0)
    assert (root / "val" / "n02" / "val_1.JPEG").exists() and not (root / "val" / "images").exists()
    assert d.train.x.shape == (6, 3, 64, 64) and d.test.y.tolist() == [0, 1]
    assert data.load("tinyimagenet", root=tmp_path, val_fraction=0.0).train.x.equal(d.train.x)  # cached .pt


def test_birds525_wrong_class_count_is_a_clear_error(tmp_path):
    for split in ("train", "valid", "test"):
        for species in ("ABBOTTS BABBLER", "ALBATROSS"):
            write_jpegs(tmp_path / "birds525" / split / species, 1)
    with pytest.raises(ValueError, match="2 class folders; birds525 needs 525"):
        data.load("birds525", root=tmp_path)


def test_birds525_imagefolder_loads(tmp_path, monkeypatch):
    monkeypatch.setitem(data.DATASETS, "birds525", data.DATASETS["birds525"].__class__(
        **{**data.DATASETS["birds525"].__dict__, "num_classes": 2, "image_size": 32}))
    for split in ("train", "valid", "test"):
        for species in ("A", "B"):
            write_jpegs(tmp_path / "birds525" / split / species, 2)
    d = data.load("birds525", root=tmp_path)
    x, y = next(iter(data.loader(d, "train", 4, workers=0)))
    assert x.shape == (4, 3, 32, 32) and set(y.tolist()) <= {0, 1}
    assert len(d.test) == 4


def test_missing_dataset_names_every_place(tmp_path, monkeypatch):
    monkeypatch.setenv("KDLIB_DATA", str(tmp_path / "env"))
    with pytest.raises(data.DatasetNotFound) as e:
        data.load("cifar100", root=tmp_path / "explicit")
    msg = str(e.value)
    assert str(tmp_path / "explicit" / "cifar-100-python") in msg and str(tmp_path / "env") in msg
    assert "data/raw" in msg and "download" in msg


def test_empty_dataset_folder_is_not_found(tmp_path):
    (tmp_path / "tiny-imagenet-200").mkdir()
    with pytest.raises(data.DatasetNotFound, match="tiny-imagenet-200"):
        data.load("tinyimagenet", root=tmp_path)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="valid names: fashion_mnist"):
        data.load("mnist")


def test_split_is_deterministic_disjoint_and_stratified_subset():
    y = torch.arange(100) % 5
    split = data.TensorSplit(torch.arange(100).view(100, 1, 1, 1).to(torch.uint8), y)
    a_train, a_val = data.split_train_val(split, 0.1, seed=3)
    b_train, b_val = data.split_train_val(split, 0.1, seed=3)
    assert a_val.x.equal(b_val.x) and len(a_val) == 10 and len(a_train) == 90
    assert not set(a_val.x.flatten().tolist()) & set(a_train.x.flatten().tolist())
    sub = data.per_class_subset(split, 7, seed=0)
    assert torch.bincount(sub.y).tolist() == [7] * 5
    with pytest.raises(ValueError):
        data.split_train_val(split, 1.0, seed=0)


def test_class_subset_relabels():
    split = data.TensorSplit(torch.zeros(6, 1, 2, 2, dtype=torch.uint8), torch.tensor([0, 1, 2, 3, 2, 3]))
    assert data.class_subset(split, [2, 3]).y.tolist() == [0, 1, 0, 1]


def test_augment_crop_and_flip_are_exact():
    x = torch.arange(16.).view(1, 1, 4, 4).repeat(64, 1, 1, 1)
    out = data.augment(x, 0, torch.Generator().manual_seed(0))
    flipped = (out == x.flip(3)).flatten(1).all(1)
    assert ((out == x).flatten(1).all(1) | flipped).all() and 10 < flipped.sum() < 54
    shifted = data.augment(x, 1, torch.Generator().manual_seed(0))
    assert shifted.shape == x.shape
    # every crop is a 4x4 window of the zero-padded 6x6 image (or its mirror)
    padded = torch.nn.functional.pad(x[:1], (1, 1, 1, 1))[0, 0]
    windows = {tuple(padded[r:r + 4, c:c + 4].flatten().tolist()) for r in range(3) for c in range(3)}
    windows |= {tuple(torch.tensor(w).view(4, 4).flip(1).flatten().tolist()) for w in windows}
    assert all(tuple(s[0].flatten().tolist()) in windows for s in shifted)


def test_tensor_loader_is_reproducible_per_epoch(tiny_data):
    a = data.loader(tiny_data, "train", 16, seed=1)
    b = data.loader(tiny_data, "train", 16, seed=1)
    first = [x for x, _ in a]
    assert all(x.equal(y) for x, (y, _) in zip(first, b))
    second = [x for x, _ in a]  # the next epoch shuffles differently
    assert not all(x.equal(y) for x, y in zip(first, second))
    assert len(a) == len(tiny_data.train) // 16
    test = list(data.loader(tiny_data, "test", 10))
    assert sum(len(y) for _, y in test) == len(tiny_data.test)
