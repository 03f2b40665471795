import pytest

from kdlib import profiles

PAPER = {"epochs": 200, "data": {"name": "cifar100", "per_class": None}, "seeds": [0, 1, 2]}
OVERRIDES = {"cpu": {"epochs": 10, "data": {"name": "fashion_mnist"}}, "smoke": {"epochs": 1}}


def test_profiles_derive_from_the_paper_config():
    assert profiles.derive(PAPER, OVERRIDES, "paper") == PAPER
    cpu = profiles.derive(PAPER, OVERRIDES, "cpu")
    assert cpu["epochs"] == 10 and cpu["data"] == {"name": "fashion_mnist", "per_class": None}
    assert profiles.derive(PAPER, OVERRIDES, "smoke")["epochs"] == 1


def test_environment_selects_smoke(monkeypatch):
    monkeypatch.setenv("KDLIB_PROFILE", "smoke")
    assert profiles.resolve("cpu") == "smoke"


def test_typos_are_errors():
    with pytest.raises(ValueError, match="valid profiles"):
        profiles.resolve("gpu")
    with pytest.raises(KeyError, match="'epoch' is not a key"):
        profiles.merge(PAPER, {"epoch": 3})


def test_fidelity_table_marks_deviations():
    table = profiles.fidelity_table(PAPER, {"epochs": "Sec. 4"}, profiles.derive(PAPER, OVERRIDES, "cpu"), "cpu")
    row = table.set_index("hyperparameter").loc["epochs"]
    assert row["source"] == "Sec. 4" and row["cpu"] == "10"
    assert table.set_index("hyperparameter").loc["seeds", "cpu"] == "same"
