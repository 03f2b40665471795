import json

import pandas as pd
import pytest
import torch

from kdlib import runs

CONFIG = {"model": "cifar_resnet20", "epochs": 3, "lr": 0.1, "milestones": (1, 2)}


def make(counter):
    def compute(workdir):
        counter.append(workdir)
        return runs.Result(state={"w": torch.arange(4.)}, metrics={"top1": 0.5 + len(counter)},
                           history=pd.DataFrame({"epoch": [0, 1]}), spec={"fc": [4, 2]})
    return compute


def test_hit_and_miss():
    calls = []
    first = runs.cached("teacher", "cifar_resnet20", CONFIG, make(calls))
    again = runs.cached("teacher", "cifar_resnet20", dict(CONFIG), make(calls))
    assert len(calls) == 1 and again.metrics == first.metrics and again.path == first.path
    assert torch.equal(again.state_dict()["w"], torch.arange(4.)) and again.spec() == {"fc": [4, 2]}
    other = runs.cached("teacher", "cifar_resnet20", {**CONFIG, "lr": 0.2}, make(calls))
    assert len(calls) == 2 and other.path != first.path
    assert not calls[0].exists()  # the work folder is removed after success


def test_run_id_is_stable_and_named():
    # Regression pin: changing how configs hash would orphan every cached run.
    assert runs.run_id("teacher", "cifar_resnet20", CONFIG) == "teacher-cifar_resnet20-" + runs.config_hash(
        {"stage": "teacher", "model": "cifar_resnet20", "config": CONFIG})
    assert runs.config_hash({"a": 1, "b": [1, 2]}) == runs.config_hash({"b": (1, 2), "a": 1}) == "8baa73198470"  # sha256 of {"a":1,"b":[1,2]}


def test_corrupt_entry_is_detected_and_recomputed():
    calls = []
    run = runs.cached("student", "m", CONFIG, make(calls))
    weights = run.path / "weights.pt"
    weights.write_bytes(weights.read_bytes()[:-10])  # truncated
    assert "truncated or corrupt" in runs.check(run.path)
    with pytest.warns(UserWarning, match="weights.pt is missing, truncated or corrupt"):
        again = runs.cached("student", "m", CONFIG, make(calls))
    assert len(calls) == 2 and runs.check(again.path) is None


def test_incomplete_entry_and_old_format_are_recomputed():
    calls = []
    run = runs.cached("student", "m", CONFIG, make(calls))
    (run.path / "manifest.json").unlink()
    with pytest.warns(UserWarning, match="no manifest"):
        runs.cached("student", "m", CONFIG, make(calls))
    manifest = run.path / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format": 0}))
    with pytest.warns(UserWarning, match="cache format 0"):
        runs.cached("student", "m", CONFIG, make(calls))
    assert len(calls) == 3


def test_load_runs_is_a_tidy_dataframe():
    runs.cached("teacher", "a", {"lr": 0.1, "data": {"name": "x"}}, make([]))
    runs.cached("teacher", "a", {"lr": 0.2, "data": {"name": "x"}}, make([]))
    runs.cached("student", "b", {"lr": 0.1}, make([]))
    df = runs.load_runs("teacher")
    assert len(df) == 2 and sorted(df["lr"]) == [0.1, 0.2] and (df["data.name"] == "x").all()
    assert "metric.top1" in df and len(runs.load_runs()) == 3


def test_config_must_be_plain_data():
    with pytest.raises(TypeError, match="plain data"):
        runs.run_id("s", "m", {"model": object()})


def test_unwritable_runs_folder(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("not a folder")  # fails for root too, unlike chmod
    monkeypatch.setenv("KDLIB_RUNS", str(tmp_path / "a-file" / "runs"))
    with pytest.raises(PermissionError, match="cannot write to the runs folder .*KDLIB_RUNS"):
        runs.cached("s", "m", CONFIG, make([]))
