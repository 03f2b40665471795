import functools
import gzip
import hashlib
import http.server
import os
import pickle
import shutil
import socket
import struct
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from kdlib import data, fingerprint, obtain

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


needs_fmnist = pytest.mark.skipif(not os.path.isdir(FMNIST) and not os.environ.get("CI"),
                                  reason="Debian's dataset-fashion-mnist absent")
sha = lambda t: hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()[:16]


@needs_fmnist
def test_real_fashion_mnist_and_pinned_split_indices():
    d = data.load("fashion_mnist")
    assert (len(d.train), len(d.val), len(d.test)) == (54000, 6000, 10000)
    assert d.train.x.shape[1:] == (1, 28, 28) and d.train.x.dtype == torch.uint8
    assert torch.bincount(d.test.y).tolist() == [1000] * 10
    # without val_per_class, the splits are exactly those of kdlib before val_per_class existed
    assert (sha(d.val.x), sha(d.train.y)) == ("9de63aab35c3f621", "292bd74ba05ce5cd")
    d = data.load("fashion_mnist", seed=1, train_per_class=500, test_per_class=100)
    assert (len(d.train), len(d.val), len(d.test)) == (4500, 500, 1000)
    assert (sha(d.train.y), sha(d.val.x), sha(d.test.y)) == ("677556b5984d7ff8", "d000fe20db4e5756", "1e5a772dd0431f7f")


def test_pinned_subset_then_fraction_indices():
    split = data.TensorSplit(torch.arange(300).view(300, 1, 1, 1), torch.arange(300) % 10)
    _, val = data.split_train_val(data.per_class_subset(split, 12, 5), 0.25, 5)
    assert val.x.flatten().tolist() == [23, 24, 33, 46, 63, 65, 66, 70, 73, 98, 124, 129, 145, 153, 166, 169, 175,
                                        187, 190, 220, 225, 239, 247, 268, 269, 279, 288, 290, 295, 297]


@needs_fmnist
def test_val_per_class_is_stratified_disjoint_and_independent_of_the_training_subset():
    full = data.load("fashion_mnist", val_fraction=0.0).train  # all 60,000 in file order
    a = data.load("fashion_mnist", seed=3, val_per_class=100, train_per_class=200)
    b = data.load("fashion_mnist", seed=3, val_per_class=100, train_per_class=50)
    c = data.load("fashion_mnist", seed=3, val_per_class=100)
    assert len(a.val) == 1000 and torch.bincount(a.val.y).tolist() == [100] * 10
    assert torch.bincount(a.train.y).tolist() == [200] * 10 and len(c.train) == 59000
    assert a.val.x.equal(b.val.x) and a.val.x.equal(c.val.x) and a.val.y.equal(c.val.y)
    assert len(a.test) == 10000  # test_per_class=None keeps the full test set
    train_index, val_index = data.hold_out_per_class(full.y, 100, seed=3, train_per_class=200)
    assert not set(train_index.tolist()) & set(val_index.tolist())
    assert a.val.x.equal(full.x[val_index]) and a.train.x.equal(full.x[train_index])
    assert not data.hold_out_per_class(full.y, 100, seed=4)[1].equal(val_index)


def test_val_per_class_needs_training_examples_left():
    y = torch.arange(40) % 4
    with pytest.raises(ValueError, match="val_per_class=10 .* class 0 has 10"):
        data.hold_out_per_class(y, 10, seed=0)


def write_cifar(root, classes):
    rng = np.random.default_rng(0)
    if classes == 10:
        folder, names, key = root / "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], b"labels"
    else:
        folder, names, key = root / "cifar-100-python", ["train", "test"], b"fine_labels"
    folder.mkdir(parents=True)
    for name in names:
        batch = {b"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8), key: rng.integers(0, classes, 20).tolist()}
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


class Planted:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_cifar_reader_refuses_a_pickle_that_runs_code(tmp_path):
    folder = write_cifar(tmp_path, 10)
    marker = tmp_path / "pwned"
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({b"data": Planted(marker), b"labels": [0]}, f)
    with pytest.raises(pickle.UnpicklingError, match=r"data_batch_1: refused to unpickle the global posix\.system"):
        data.load("cifar10", root=tmp_path)
    assert not marker.exists()
    with open(folder / "data_batch_1", "wb") as f:  # builtins are refused too (eval, getattr, ...)
        pickle.dump({b"data": eval, b"labels": [0]}, f)
    with pytest.raises(pickle.UnpicklingError, match="builtins.eval"):
        data.load("cifar10", root=tmp_path)


def test_cifar_garbage_and_wrong_labels_name_the_file(tmp_path):
    folder = write_cifar(tmp_path, 10)
    (folder / "test_batch").write_bytes(b"\x80\x02}q\x01")  # truncated
    with pytest.raises(ValueError, match="test_batch: not a readable CIFAR python batch"):
        data.load("cifar10", root=tmp_path)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, f)
    with pytest.raises(ValueError, match="test_batch: 2 labels in 0..9 expected"):
        data.load("cifar10", root=tmp_path)


def write_fmnist(folder, n_train=50, n_test=20, labels_train=None):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    labels_train = np.arange(n_train) % 10 if labels_train is None else labels_train
    write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (n_train, 28, 28)))
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels_train)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (n_test, 28, 28)))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.arange(n_test) % 10)
    return folder


def test_corrupt_idx_files_name_the_file(tmp_path):
    folder = write_fmnist(tmp_path / "fashion-mnist")
    images = folder / "train-images-idx3-ubyte.gz"
    whole = images.read_bytes()
    for broken, why in ((whole[: len(whole) // 2], "corrupt or truncated gzip"),
                        (b"not gzip at all", "corrupt or truncated gzip"),
                        (gzip.compress(b"\x08\x03\x00\x00" + bytes(100)), "not an unsigned-byte IDX file"),
                        (gzip.compress(gzip.decompress(whole)[:-5]), "truncated or corrupt")):
        images.write_bytes(broken)
        with pytest.raises(ValueError, match=f"{images}: .*{why}"):
            data.load("fashion_mnist", root=tmp_path)


def test_label_count_mismatch_names_both_files(tmp_path):
    folder = write_fmnist(tmp_path / "fashion-mnist", n_train=1000, labels_train=np.arange(999) % 10)
    with pytest.raises(ValueError) as e:
        data.load("fashion_mnist", root=tmp_path)
    assert str(e.value) == (f"{folder / 'train-labels-idx1-ubyte.gz'} has 999 labels for 1,000 images in "
                            f"{folder / 'train-images-idx3-ubyte.gz'}")


def test_fingerprint_sees_a_relabelled_example(tmp_path):
    folder = write_fmnist(tmp_path / "fashion-mnist")
    first = fingerprint.fingerprint("fashion_mnist", tmp_path)
    assert first["name"] == "fashion_mnist" and first["files"]["train-labels-idx1-ubyte"] == 8 + 50
    assert set(first["files"]) == {p for pair in data.formats.FASHION_MNIST.values() for p in pair}
    assert fingerprint.fingerprint("fashion_mnist", tmp_path) == first
    labels = np.arange(50) % 10
    labels[7] = 3
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels)
    assert fingerprint.fingerprint("fashion_mnist", tmp_path)["labels_sha256"] != first["labels_sha256"]


@needs_fmnist
def test_fingerprint_of_fashion_mnist_is_cheap_and_follows_the_labels(tmp_path, monkeypatch):
    fingerprint.clear_caches()
    start = time.perf_counter()
    debian = fingerprint.fingerprint("fashion_mnist")
    assert time.perf_counter() - start < 0.5
    copy = tmp_path / "fashion-mnist"
    shutil.copytree(FMNIST, copy)
    monkeypatch.setenv("KDLIB_DATA", str(tmp_path))
    assert data.find("fashion_mnist") == copy and fingerprint.fingerprint("fashion_mnist") == debian
    assert debian["files"]["train-images-idx3-ubyte"] == 16 + 60000 * 28 * 28
    official = copy / "t10k-labels-idx1-ubyte.gz"  # recompressed (here: the official gzip header): the same data
    official.write_bytes(gzip.compress(gzip.decompress(official.read_bytes()), mtime=1504176627))
    assert fingerprint.fingerprint("fashion_mnist") == debian
    labels = data.read_idx(copy / "train-labels-idx1-ubyte.gz").copy()
    labels[12345] = (labels[12345] + 1) % 10
    write_idx(copy / "train-labels-idx1-ubyte.gz", labels)
    changed = fingerprint.fingerprint("fashion_mnist")
    assert changed["labels_sha256"] != debian["labels_sha256"] and changed["name"] == "fashion_mnist"


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


def test_tinyimagenet_on_read_only_data_is_labelled_from_the_annotations(tmp_path, monkeypatch):
    root = tmp_path / "data" / "tiny-imagenet-200"
    for c, wnid in enumerate(("n01", "n02")):
        for i in range(3):
            (root / "train" / wnid / "images").mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((64, 64, 3), 100 * c + 10 * i, np.uint8)).save(
                root / "train" / wnid / "images" / f"{wnid}_{i}.JPEG")
    (root / "val" / "images").mkdir(parents=True)
    for i, value in enumerate((5, 205)):
        Image.fromarray(np.full((64, 64, 3), value, np.uint8)).save(root / "val" / "images" / f"val_{i}.JPEG")
    (root / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn01\t0\t0\t1\t1\nval_1.JPEG\tn02\t0\t0\t1\t1\n")
    before = fingerprint.fingerprint("tinyimagenet", tmp_path / "data")
    writable = os.access
    monkeypatch.setattr(data.formats.os, "access",
                        lambda p, mode: writable(p, mode) and not (mode & os.W_OK and str(root) in str(p)))
    monkeypatch.setenv("KDLIB_CACHE", str(tmp_path / "cache"))
    d = data.load("tinyimagenet", root=tmp_path / "data", val_fraction=0.0)
    assert (root / "val" / "images" / "val_1.JPEG").exists() and not (root / "val" / "n02").exists()
    assert d.test.y.tolist() == [0, 1] and d.test.x[1].float().mean() > 150 and len(d.train) == 6
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 2 and not list(root.glob(".kdlib-*"))
    monkeypatch.undo()
    relaid = data.load("tinyimagenet", root=tmp_path / "data", val_fraction=0.0)  # writable again: re-laid
    assert (root / "val" / "n02" / "val_1.JPEG").exists() and relaid.test.x.equal(d.test.x)
    assert fingerprint.fingerprint("tinyimagenet", tmp_path / "data") == before  # the same data, either layout


# ---------------------------------------------------------------- obtaining Fashion-MNIST
@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No Fashion-MNIST anywhere, apt-get unusable: obtain() must download or fail."""
    monkeypatch.setattr(data, "SYSTEM_ROOTS", {"fashion_mnist": [tmp_path / "system" / "fashion-mnist"]})
    monkeypatch.setattr(data, "CHECKOUT_RAW", tmp_path / "raw")
    monkeypatch.delenv("KDLIB_DATA", raising=False)
    monkeypatch.setattr(obtain, "_apt_prefix", lambda: None)
    return tmp_path


@pytest.fixture
def served(tmp_path, monkeypatch):
    """The four files generated and served over HTTP by a local server, with their checksums pinned."""
    site = write_fmnist(tmp_path / "site", n_train=30, n_test=10)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    table = {p.name: (hashlib.md5(p.read_bytes()).hexdigest(), hashlib.sha256(p.read_bytes()).hexdigest())
             for p in site.iterdir()}
    monkeypatch.setattr(obtain, "FASHION_MNIST_URL", f"http://127.0.0.1:{server.server_address[1]}/")
    monkeypatch.setattr(obtain, "FASHION_MNIST_FILES", table)
    yield table
    server.shutdown()
    server.server_close()


def test_obtain_downloads_and_verifies(nowhere, served, capsys):
    folder = obtain.obtain("fashion_mnist", nowhere / "mine")
    assert folder == nowhere / "mine" / "fashion-mnist" and "downloaded and verified" in capsys.readouterr().out
    assert sorted(p.name for p in folder.iterdir()) == sorted(served)
    assert len(data.load("fashion_mnist", nowhere / "mine").test) == 10
    assert obtain.obtain("fashion_mnist", nowhere / "mine") == folder  # found: nothing downloaded again
    assert "found at" in capsys.readouterr().out
    assert obtain.obtain() == nowhere / "raw" / "fashion-mnist"  # default target: data/raw/ of the checkout


def test_obtain_deletes_a_download_with_the_wrong_checksum(nowhere, served, monkeypatch):
    monkeypatch.setitem(served, "t10k-images-idx3-ubyte.gz", (None, "0" * 64))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz: the download failed its checksum \(sha256"):
        obtain.obtain("fashion_mnist", nowhere / "mine")
    folder = nowhere / "mine" / "fashion-mnist"
    assert not (folder / "t10k-images-idx3-ubyte.gz").exists() and not list(folder.glob("*.part"))
    assert obtain.main(["fashion_mnist", "--root", str(nowhere / "mine")]) == 1


def test_obtain_uses_apt_when_it_can(nowhere, monkeypatch):
    calls = []

    def fake_install(prefix, package):  # stands in for `apt-get install`: never run apt in tests
        calls.append((prefix, package))
        write_fmnist(nowhere / "system" / "fashion-mnist")
        return True
    monkeypatch.setattr(obtain, "_apt_prefix", lambda: [])
    monkeypatch.setattr(obtain, "_apt_install", fake_install)
    assert obtain.obtain() == nowhere / "system" / "fashion-mnist" and calls == [([], "dataset-fashion-mnist")]
    monkeypatch.setattr(data, "SYSTEM_ROOTS", {"fashion_mnist": [nowhere / "elsewhere"]})
    monkeypatch.setattr(obtain, "FASHION_MNIST_URL", "http://127.0.0.1:9/")  # installed where we do not look
    with pytest.raises(data.DatasetNotFound, match=r"installed, but no Fashion-MNIST appeared in .*elsewhere"):
        obtain.obtain()


def test_obtain_with_nothing_working_prints_the_whole_story(nowhere, monkeypatch, capsys):
    with socket.socket() as s:  # a port nobody listens on: the download is refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(obtain, "FASHION_MNIST_URL", f"http://127.0.0.1:{port}/")
    assert obtain.main(["fashion_mnist", "--root", str(nowhere / "mine")]) == 2
    err = capsys.readouterr().err
    for place in (nowhere / "mine", nowhere / "raw", nowhere / "system"):
        assert str(place / "fashion-mnist") in err
    assert "How to get it: apt-get install dataset-fashion-mnist" in err and "zalandoresearch" in err
    assert "apt-get: not usable here" in err and f"127.0.0.1:{port}/train-images-idx3-ubyte.gz" in err
    assert "refused" in err and err.rstrip().endswith("into one of the places above.")


@needs_fmnist
def test_pinned_checksums_are_debians_files_under_their_original_gzip_header():
    """Debian's copies differ from the official files only in the gzip header (strip-nondeterminism dropped
    the file name and reset the mtime): restoring it reproduces torchvision's MD5s, and the pinned SHA-256s."""
    for name, (md5, sha256) in obtain.FASHION_MNIST_FILES.items():
        raw = open(os.path.join(FMNIST, name), "rb").read()
        mtime = 1504176606 if name.startswith("train") else 1504176627  # 2017-08-31, found by search
        official = b"\x1f\x8b\x08\x08" + struct.pack("<I", mtime) + raw[8:10] + name[:-3].encode() + b"\0" + raw[10:]
        assert (hashlib.md5(official).hexdigest(), hashlib.sha256(official).hexdigest()) == (md5, sha256)
        assert gzip.decompress(official) == gzip.decompress(raw)
