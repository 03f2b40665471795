"""Scale-out through submitit: the same code path as SLURM, run with submitit's local executor."""
import json

import pytest
import torch

from kdlib import cluster, reproduce, runs, specs
from kdlib.runner import pending
from kdlib.specs import KD, Data, Model, Prune, Train
from kdlib.train import TrainConfig
from test_data import write_cifar

FAST = TrainConfig(epochs=1, lr=0.05, schedule="constant", batch_size=32)
FMNIST = Data("fashion_mnist", train_per_class=10, test_per_class=5, val_fraction=0.2)


def teacher(data=FMNIST):
    return Train(model=Model("cifar_resnet8x4", width=0.125), data=data, optim=FAST)


def pruned(parent):
    return Prune(parent=parent, method="l1_unstructured", sparsity=0.5)


def student(t):
    return Train(model=Model("cifar_resnet20", width=0.25), data=specs.data_owner(t).data, optim=FAST,
                 kd=KD(t, "hinton", 4.0, 0.9))


def local_executor(tmp_path):
    return cluster.executor(tmp_path / "logs", "local", gpus=0, cpus=1, time_min=10)


def test_levels_put_every_run_after_its_parents():
    t = teacher()
    p = pruned(t)
    s = student(p)
    groups = cluster.levels(pending([s]))
    assert [[cluster.run_key(c) for c in g] for g in groups] == [[cluster.run_key(c)] for c in (t, p, s)]
    assert [len(g) for g in cluster.levels(pending([s, student(t)]))] == [1, 2, 1]


def test_collect_lists_a_notebooks_pending_runs_without_computing_any(monkeypatch):
    todo = cluster.collect("park2022", "smoke")
    assert len(todo) >= 10 and not (runs.runs_root() / "cache").exists(), "collect must not compute"
    stages = {c.stage for c in todo}
    assert {"train", "prune"} <= stages <= {"train", "prune", "init"}
    keys = [cluster.run_key(c) for c in todo]
    assert len(set(keys)) == len(keys)
    done = set()
    for group in cluster.levels(todo):  # every dependency is finished or in an earlier level
        for cfg in group:
            assert all(cluster.run_key(d) in done for d in specs.parents(cfg))
        done |= {cluster.run_key(c) for c in group}


def test_jobs_fill_the_cache_and_a_failed_job_is_reported_and_resubmitted_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("KDLIB_DATA", str(tmp_path / "data"))
    write_cifar(tmp_path / "data", 10)
    good = pruned(teacher())
    broken = teacher(Data("cifar10", train_per_class=4, test_per_class=2))
    blocked = student(broken)
    todo = pending([good, blocked])  # the ids are known (the data was there when the plan was made) ...
    (tmp_path / "data").rename(tmp_path / "elsewhere")  # ... but the jobs will not find the data
    ex = local_executor(tmp_path)
    failures = cluster.submit(todo, ex, device="cpu")
    assert runs.is_finished(good) and runs.is_finished(good.parent)
    assert [f["run"] for f in failures] == [cluster.run_key(broken)], "only the broken run fails; its child waits"
    assert "dataset 'cifar10' not found" in failures[0]["error"] and failures[0]["log"].endswith(".err")
    path = cluster.write_failures("test", "smoke", failures)
    assert specs.from_dict(json.loads(path.read_text())[0]["config"]) == broken

    (tmp_path / "elsewhere").rename(tmp_path / "data")  # fix the cause, then resubmit just what is unfinished
    again = pending([good, blocked])
    assert [cluster.run_key(c) for c in again] == [cluster.run_key(broken), cluster.run_key(blocked)]
    assert cluster.submit(again, ex, device="cpu") == []
    assert runs.is_finished(blocked)


def test_a_run_stored_by_another_job_meanwhile_is_kept(monkeypatch):
    """Two jobs finishing the same run: the rename of the second fails, and the first one's valid entry stays."""
    make = lambda w: runs.Result({"w": torch.ones(1)}, {"top1": 0.5})
    first = runs.cached(teacher(), make)
    second = runs.write(first.path, teacher(), runs.Result({"w": torch.zeros(1)}, {"top1": 0.4}))
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


def test_a_runs_folder_others_can_write_is_refused(tmp_path):
    folder = tmp_path / "runs"
    (folder / "cluster").mkdir(parents=True)
    folder.chmod(0o777)
    with pytest.raises(PermissionError, match="writable by other users.*chmod go-w"):
        cluster.check_private(folder)
    folder.chmod(0o755)
    (folder / "cluster").chmod(0o700)
    cluster.check_private(folder)
