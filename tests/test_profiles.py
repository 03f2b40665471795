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


def test_the_dry_run_caps_every_training_and_lists_the_cuts():
    paper = {"a": {"epochs": 200, "lr": 0.1, "milestones": [60, 120]}, "nested": {"b": {"epochs": 3, "lr": 1.0}},
             "seeds": [0, 1, 2]}
    cfg = profiles.derive(paper, {"dryrun": {"seeds": [0]}}, "dryrun")
    assert cfg["a"] == {"epochs": 1, "lr": 0.1, "milestones": [], "max_steps": profiles.DRYRUN_CAP["max_steps"]}
    assert cfg["nested"]["b"]["epochs"] == 1 and cfg["seeds"] == [0]
    table = profiles.fidelity_table(paper, {}, cfg, "dryrun")
    assert set(table[table.dryrun != "same"].hyperparameter) == {"a.epochs", "a.milestones", "nested.b.epochs", "seeds",
                                                                 "a.max_steps", "nested.b.max_steps"}
