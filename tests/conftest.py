"""Shared CPU fixtures: tiny synthetic data where the class is visible in the image, a fresh runs folder."""
import pytest
import torch

from kdlib import data


def synthetic_split(n_per_class: int = 32, classes: int = 4, size: int = 8, channels: int = 1, seed: int = 0):
    """Images whose class is a bright horizontal band at a class-specific height (flip-invariant), plus noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 60, (n_per_class * classes, channels, size, size), generator=g, dtype=torch.uint8)
    y = torch.arange(classes).repeat_interleave(n_per_class)
    for c in range(classes):
        x[y == c, :, 2 * c:2 * c + 2, 1:-1] = 250
    return data.TensorSplit(x, y)


def make_tiny_data():
    info = data.Info(4, 1, 8, (0.3,), (0.3,), "synthetic", "made by the tests", crop_padding=1)
    train = synthetic_split(48, seed=0)
    test = synthetic_split(16, seed=1)
    train, val = data.split_train_val(train, 0.25, seed=0)
    return data.Data("synthetic", info, train, val, test)


@pytest.fixture
def tiny_data():
    return make_tiny_data()


@pytest.fixture(autouse=True)
def isolated_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("KDLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("KDLIB_PROFILE", raising=False)
    monkeypatch.delenv("KDLIB_DOWNLOAD", raising=False)
    monkeypatch.setenv("KDLIB_CHANNELS_LAST", "0")  # one layout for every test; the measured choice is tested alone
    torch.set_num_threads(2)
