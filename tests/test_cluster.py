"""Scale-out through submitit: the same code path as SLURM, run with submitit's local executor."""
import json

import pytest
import torch

from kdlib import cluster, pipeline, reproduce, runs
from test_data import write_cifar

FAST = {"epochs": 1, "lr": 0.05, "schedule": "constant"}
FMNIST = {"name": "fashion_mnist", "train_per_class": 10, "test_per_class": 5, "val_fraction": 0.2, "seed": 0}


def teacher(data=FMNIST):
    return pipeline.train_cfg({"name": "cifar_resnet8x4", "width": 0.125}, data, FAST, batch_size=32)


def pruned(parent):
    return pipeline.child(parent, "prune", method="l1_unstructured", sparsity=0.5)


def student(t):
    return pipeline.train_cfg({"name": "cifar_resnet20", "width": 0.25}, pipeline.data_of(t), FAST, batch_size=32,
                              teacher=t, kd={"method": "hinton", "temperature": 4.0, "alpha": 0.9})


def local_executor(tmp_path):
    return cluster.executor(tmp_path / "logs", "local", gpus=0, cpus=1, time_min=10)


def test_levels_put_every_run_after_its_parents():
    t = teacher()
    p = pruned(t)
    s = student(p)
    groups = cluster.levels(pipeline.pending([s]))
    assert [[cluster.run_key(c) for c in g] for g in groups] == [[cluster.run_key(c)] for c in (t, p, s)]
    assert [len(g) for g in cluster.levels(pipeline.pending([s, student(t)]))] == [1, 2, 1]


def test_collect_lists_a_notebooks_pending_runs_without_computing_any(monkeypatch):
    todo = cluster.collect("park2022", "smoke")
    assert len(todo) >= 20 and not (runs.runs_root() / "cache").exists(), "collect must not compute"
    stages = {c["stage"] for c in todo}
    assert stages == {"train", "prune"}
    keys = [cluster.run_key(c) for c in todo]
    assert len(set(keys)) == len(keys)
    done = set()
    for group in cluster.levels(todo):  # every dependency is finished or in an earlier level
        for cfg in group:
            assert all(cluster.run_key(d) in done for d in pipeline.dependencies(cfg))
        done |= {cluster.run_key(c) for c in group}


def test_jobs_fill_the_cache_and_a_failed_job_is_reported_and_resubmitted_alone(tmp_path):
    good = pruned(teacher())
    broken = teacher({"name": "cifar10", "root": str(tmp_path / "data"), "train_per_class": 4, "test_per_class": 2})
    blocked = student(broken)
    ex = local_executor(tmp_path)
    failures = cluster.submit(pipeline.pending([good, blocked]), ex, device="cpu")
    assert pipeline.is_finished(good) and pipeline.is_finished(good["parent"])
    assert [f["run"] for f in failures] == [cluster.run_key(broken)], "only the broken run fails; its child waits"
    assert "dataset 'cifar10' not found" in failures[0]["error"] and failures[0]["log"].endswith(".err")
    path = cluster.write_failures("test", "smoke", failures)
    assert json.loads(path.read_text())[0]["config"] == json.loads(json.dumps(broken))

    write_cifar(tmp_path / "data", 10)  # fix the cause, then resubmit just what is unfinished
    again = pipeline.pending([good, blocked])
    assert [cluster.run_key(c) for c in again] == [cluster.run_key(broken), cluster.run_key(blocked)]
    assert cluster.submit(again, ex, device="cpu") == []
    assert pipeline.is_finished(blocked)


def test_a_run_stored_by_another_job_meanwhile_is_kept(monkeypatch):
    """Two jobs finishing the same run: the rename of the second fails, and the first one's valid entry stays."""
    make = lambda w: runs.Result({"w": torch.ones(1)}, {"top1": 0.5})
    first = runs.cached("train", "m", {"a": 1}, make)
    real_rmtree = runs.shutil.rmtree
    monkeypatch.setattr(runs.shutil, "rmtree", lambda p, **kw: None if p == first.path else real_rmtree(p, **kw))
    second = runs.write(first.path, {"a": 1}, runs.Result({"w": torch.zeros(1)}, {"top1": 0.4}))
    assert runs.check(second.path) is None and second.metrics == {"top1": 0.5}
    assert not list(first.path.parent.glob(".*tmp*")), "the loser's temporary folder is removed"


@pytest.mark.slow
def test_scale_out_a_notebook_then_execute_it_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KDLIB_FIGURES", str(tmp_path / "figures"))
    executed = []
    real = reproduce.run_notebook

    def run_notebook(*args):
        before = {r.id for r in runs.find_runs()}
        executed.append(real(*args))
        assert {r.id for r in runs.find_runs()} == before, "the notebook computed runs the jobs should have"
    monkeypatch.setattr(reproduce, "run_notebook", run_notebook)
    assert cluster.scale_out("fontana2024", "smoke", local_executor(tmp_path), device="cpu") == []
    assert executed and (tmp_path / "figures" / "smoke" / "fontana2024" / "claims.csv").exists()
    assert cluster.collect("fontana2024", "smoke") == []
