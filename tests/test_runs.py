"""The run cache: hits, misses, damage of every kind, stale locks and temporary folders (one process here;
two-process races are in test_reliability.py)."""
import json
import random

import pandas as pd
import pytest
import torch

from kdlib import files, runs, specs
from kdlib.specs import Data, Model, Train
from kdlib.train import TrainConfig

SPEC = Train(model=Model("cifar_resnet20"), data=Data("fashion_mnist", 10), optim=TrainConfig(epochs=3, lr=0.1))


def make(counter):
    def compute(workdir):
        counter.append(workdir)
        return runs.Result(state={"w": torch.arange(4.)}, metrics={"top1": 0.5 + len(counter)},
                           history=pd.DataFrame({"epoch": [0, 1]}), shape={"fc": [4, 2]})
    return compute


def test_hit_and_miss():
    calls = []
    first = runs.cached(SPEC, make(calls))
    again = runs.cached(specs.from_dict(specs.to_dict(SPEC)), make(calls))
    assert len(calls) == 1 and again.metrics == first.metrics and again.path == first.path
    assert torch.equal(again.state_dict()["w"], torch.arange(4.)) and again.shape() == {"fc": [4, 2]}
    other = runs.cached(specs.with_changes(SPEC, seed=1), make(calls))
    assert len(calls) == 2 and other.path != first.path
    assert not calls[0].exists()  # the work folder is removed after success


def test_corrupt_entry_is_detected_and_recomputed():
    calls = []
    run = runs.cached(SPEC, make(calls))
    weights = run.path / "weights.pt"
    weights.write_bytes(weights.read_bytes()[:-10])  # truncated
    assert "truncated or corrupt" in runs.check(run.path)
    with pytest.warns(UserWarning, match="weights.pt is missing, truncated or corrupt"):
        again = runs.cached(SPEC, make(calls))
    assert len(calls) == 2 and runs.check(again.path) is None


def test_incomplete_entry_and_old_format_are_recomputed():
    calls = []
    run = runs.cached(SPEC, make(calls))
    (run.path / "manifest.json").unlink()
    with pytest.warns(UserWarning, match="no manifest"):
        runs.cached(SPEC, make(calls))
    manifest = run.path / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format": 1}))
    with pytest.warns(UserWarning, match="cache format 1, this kdlib reads format"):
        runs.cached(SPEC, make(calls))
    assert len(calls) == 3


@pytest.mark.parametrize("content", ["[]", "null", '{"format": 2}', '{"files": []}', "\x00\xff", ""])
def test_any_damaged_manifest_is_reported_not_raised(content):
    run = runs.cached(SPEC, make([]))
    (run.path / "manifest.json").write_bytes(content.encode("latin-1"))
    assert runs.check(run.path) and runs.find_runs() == []
    with pytest.warns(UserWarning, match="unusable"):
        runs.cached(SPEC, make([]))


def test_bit_flips_in_a_manifest_never_crash_the_check():
    run = runs.cached(SPEC, make([]))
    good = (run.path / "manifest.json").read_bytes()
    rng = random.Random(0)
    for _ in range(300):
        damaged = bytearray(good)
        i = rng.randrange(len(damaged))
        damaged[i] ^= 1 << rng.randrange(8)
        (run.path / "manifest.json").write_bytes(bytes(damaged))
        runs.check(run.path)  # a problem string or None (a flip inside whitespace), never an exception


def test_a_stored_spec_that_differs_is_not_served():
    calls = []
    run = runs.cached(SPEC, make(calls))
    identity = json.loads((run.path / "identity.json").read_text())
    identity["optim"]["lr"] = 0.2
    text = json.dumps(identity)
    (run.path / "identity.json").write_text(text)
    manifest = json.loads((run.path / "manifest.json").read_text())  # a consistent manifest: only the spec lies
    manifest["files"]["identity.json"] = [len(text.encode()), files.sha256(run.path / "identity.json")]
    (run.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.warns(UserWarning, match="stored spec differs"):
        runs.cached(SPEC, make(calls))
    assert len(calls) == 2


def test_a_symlinked_entry_is_refused(tmp_path):
    calls = []
    other = runs.cached(specs.with_changes(SPEC, seed=5), make(calls))
    target = runs.runs_root() / "cache" / specs.run_id(SPEC)
    target.symlink_to(other.path)
    with pytest.warns(UserWarning, match="outside the cache folder|stored spec differs"):
        run = runs.cached(SPEC, make(calls))
    assert len(calls) == 2 and not run.path.is_symlink() and other.path.exists()


def test_names_cannot_escape_the_cache():
    for bad in ("../../x", "a/b", "..", ".hidden"):
        with pytest.raises(ValueError, match="not a valid run name"):
            specs.safe_name(bad)
    with pytest.raises(ValueError, match="unknown model"):
        Model("../../x")


def test_a_stale_lock_of_a_dead_process_is_taken_over():
    lock = runs.runs_root() / "locks" / f"{specs.run_id(SPEC)}.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"host": __import__("socket").gethostname(), "pid": 2**22 + 12345, "since": 0}))
    assert runs.cached(SPEC, make([])).metrics and not lock.exists()


def test_temporary_folders_are_removed_on_interrupt_and_swept_at_start(monkeypatch):
    with monkeypatch.context() as patch:
        def interrupted(workdir):
            result = make([])(workdir)
            patch.setattr(torch, "save", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
            return result
        with pytest.raises(KeyboardInterrupt):
            runs.cached(SPEC, interrupted)
    cache = runs.runs_root() / "cache"
    assert [p.name for p in cache.iterdir()] == [], "no temporary folder left behind"
    leftover = cache / f".x.tmp-{__import__('socket').gethostname()}-{2**22 + 7}"
    leftover.mkdir()
    runs._SWEPT.clear()
    runs.cached(SPEC, make([]))
    assert not leftover.exists()


def test_unwritable_runs_folder(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("not a folder")  # fails for root too, unlike chmod
    monkeypatch.setenv("KDLIB_RUNS", str(tmp_path / "a-file" / "runs"))
    with pytest.raises(PermissionError, match="cannot write to the runs folder .*KDLIB_RUNS"):
        runs.cached(SPEC, make([]))
