"""The paper-shaped stand-ins load through kdlib.data.load exactly as the real datasets would."""
import re

import numpy as np
import pytest
import torch

from kdlib import data, fingerprint, formats, standins


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("standins")
    written = standins.write(root)
    assert set(written) == set(standins.DEFAULTS) and all(p.is_dir() for p in written.values())
    return root


@pytest.mark.parametrize("name,per_class,test_per_class", [("cifar10", 20, 10), ("cifar100", 10, 5)])
def test_cifar_standins(root, name, per_class, test_per_class):
    classes = data.info(name).num_classes
    d = data.load(name, root)
    assert d.train.x.shape[1:] == (3, 32, 32) and d.train.x.dtype == torch.uint8
    assert len(d.train) + len(d.val) == classes * per_class and len(d.val) == round(0.1 * classes * per_class)
    assert torch.bincount(torch.cat([d.train.y, d.val.y])).tolist() == [per_class] * classes
    assert torch.bincount(d.test.y, minlength=classes).tolist() == [test_per_class] * classes
    meta = formats.read_cifar_batch(d.root / ("batches.meta" if classes == 10 else "meta"))
    assert len(meta["label_names" if classes == 10 else "fine_label_names"]) == classes
    if classes == 100:
        train = formats.read_cifar_batch(d.root / "train")
        assert max(train["coarse_labels"]) == 19 and list(train)[0] == "filenames"


def test_cifar_images_carry_their_class(root):
    """A nearest-class-mean classifier on the stand-in is near perfect: a few training steps are not noise."""
    d = data.load("cifar10", root)
    means = torch.stack([d.train.x[d.train.y == c].float().mean(0) for c in range(10)])
    predicted = torch.cdist(d.test.x.float().flatten(1), means.flatten(1)).argmin(1)
    assert (predicted == d.test.y).float().mean() > 0.9


def test_tinyimagenet_standin_relayout(root):
    folder = root / "tiny-imagenet-200"
    assert (folder / "val" / "images").is_dir() and len((folder / "wnids.txt").read_text().split()) == 200
    before = fingerprint.fingerprint("tinyimagenet", root)
    d = data.load("tinyimagenet", root)
    assert not (folder / "val" / "images").exists() and len(list((folder / "val").glob("n*/val_*.JPEG"))) == 40
    assert d.train.x.shape[1:] == (3, 64, 64) and len(d.train) + len(d.val) == 800 and len(d.test) == 40
    populated = standins.populated_classes("tinyimagenet", 200)
    assert torch.bincount(d.test.y, minlength=200)[populated].tolist() == [2] * 20 and populated[-1] == 199
    assert all((folder / "train" / w / f"{w}_boxes.txt").exists() for w in (folder / "wnids.txt").read_text().split())
    assert len(list((folder / "test" / "images").glob("*.JPEG"))) == 20
    assert fingerprint.fingerprint("tinyimagenet", root) == before  # re-laid, the same data
    first = (folder / "val" / "val_annotations.txt").read_text().splitlines()[0].split("\t")
    assert len(first) == 6 and first[0] == "val_0.JPEG" and re.fullmatch(r"n\d{8}", first[1])


def test_birds525_standin_passes_the_class_check(root):
    d = data.load("birds525", root)
    k = standins.POPULATED["birds525"]
    assert len(d.train.classes) == 525 and (len(d.train), len(d.val), len(d.test)) == (2 * k, k, k)
    assert sorted(set(d.test.targets)) == standins.populated_classes("birds525", 525)
    assert {0, 524} <= set(d.train.targets)  # the first and the last class index are exercised
    x, y = next(iter(data.loader(d, "train", 4, workers=0)))
    assert x.shape == (4, 3, 224, 224) and y.max() < 525
    assert d.train.classes[0].isupper() and " " in d.train.classes[0]
    assert len((root / "birds525" / "birds.csv").read_text().splitlines()) == 1 + 4 * k


def test_an_empty_class_folder_is_an_error_in_real_data(root, tmp_path):
    import shutil
    real = tmp_path / "birds525"
    shutil.copytree(root / "birds525", real)
    (real / standins.MARKER).unlink()
    with pytest.raises(FileNotFoundError, match="no valid file"):
        data.load("birds525", tmp_path)


def test_prepared_standins_are_rewritten_when_the_writer_changes(tmp_path):
    folder = standins.write(tmp_path, ["cifar10"])["cifar10"]
    assert standins.is_current(folder, "cifar10")
    (folder / standins.MARKER).write_text("kdlib stand-in: cifar10, 20 training images per class, seed 0\n")
    assert not standins.is_current(folder, "cifar10")


def test_imagenet_standin_has_1000_wnid_folders(root):
    d = data.load("imagenet", root, val_fraction=0.1)
    classes = d.test.classes
    assert len(classes) == 1000 and all(re.fullmatch(r"n\d{8}", w) for w in classes)
    assert classes[0] == "n01440764" and classes == standins.wnids()
    k = standins.POPULATED["imagenet"]
    assert len(d.train) + len(d.val) == 2 * k and len(d.test) == k
    held_out = data.load("imagenet", root, val_per_class=1)  # as DG2PF's Table VII holds validation out
    assert len(held_out.val) == k and len(held_out.train) == k
    x, y = next(iter(data.loader(d, "val", 4, workers=0)))
    assert x.shape == (4, 3, 224, 224)


def test_write_is_deterministic_and_never_replaces_real_data(tmp_path):
    a = standins.write(tmp_path / "a", ["cifar10"], seed=3)["cifar10"]
    b = standins.write(tmp_path / "b", ["cifar10"], seed=3)["cifar10"]
    assert all((a / f.name).read_bytes() == f.read_bytes() for f in b.iterdir())
    standins.write(tmp_path / "a", ["cifar10"], images_per_class=5)  # a stand-in may be rewritten
    assert len(data.load("cifar10", tmp_path / "a").test) == 20
    (tmp_path / "real" / "imagenet").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="not a kdlib stand-in"):
        standins.write(tmp_path / "real", ["imagenet"])
    with pytest.raises(ValueError, match="no stand-in for mnist"):
        standins.write(tmp_path, ["mnist"])


def test_command_line(tmp_path, capsys):
    assert standins.main([str(tmp_path), "--names", "cifar100", "--images-per-class", "2"]) == 0
    assert "cifar100: " in capsys.readouterr().out
    assert np.bincount(formats.read_cifar(tmp_path / "cifar-100-python", 100)[0][1].numpy()).tolist() == [2] * 100


def test_train_subset_reads_only_those_images_without_augmentation(root):
    d = data.load("imagenet", root)
    sub = data.train_subset(d, torch.tensor([0, 5, 7]))
    assert len(sub.train) == 3 and sub.val is d.val and sub.test is d.test
    first = [x for x, _ in data.loader(sub, "train", 3, train=False, workers=0)]
    again = [x for x, _ in data.loader(sub, "train", 3, train=False, workers=0)]
    assert first[0].shape == (3, 3, 224, 224) and first[0].equal(again[0])  # no random crops or flips
    assert d.train.dataset.transform is not sub.train.dataset.dataset.transform  # the original is untouched
    tensors = data.load("cifar10", root)
    assert data.train_subset(tensors, torch.tensor([1, 2])).train.x.equal(tensors.train.x[1:3])
