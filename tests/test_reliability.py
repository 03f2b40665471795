"""Crashes lose nothing: kill -9 a training and a `make reproduce` mid-way, rerun, and get the very same results.

The uninterrupted references run in fresh processes too, so these tests also check that one config and seed
give identical numbers across processes on CPU.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from kdlib import runs, specs
from kdlib.dg2pf import DG2PFConfig
from kdlib.specs import DG2PF, GMP, KD, Data, Model, Prune, Train
from kdlib.train import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
TIMING = ("seconds", "images_per_second", "train_seconds", "seconds_per_step")  # wall-clock measurements
TRAIN = Train(model=Model("cifar_resnet20", width=0.5), data=Data("fashion_mnist", 100, test_per_class=20),
              optim=TrainConfig(epochs=6, lr=0.05, schedule="cosine", batch_size=32), seed=3)
RUN_ONE = ("import json, sys; from kdlib import specs; from kdlib.runner import Runner; "
           "print(Runner('cpu', progress=False).run(specs.from_dict(json.loads(sys.argv[1]))).path)")


def env_with(runs_dir: Path, figures: Path | None = None) -> dict:
    env = {**os.environ, "KDLIB_RUNS": str(runs_dir), "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "2"}
    if figures is not None:
        env["KDLIB_FIGURES"] = str(figures)
    return env


def kill_everything_using(runs_dir: Path) -> None:
    """SIGKILL every process whose environment points at `runs_dir` (the reproduce driver and its kernel)."""
    marker = f"KDLIB_RUNS={runs_dir}".encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if marker in (proc / "environ").read_bytes().split(b"\0"):
                    os.kill(int(proc.name), signal.SIGKILL)
            except (OSError, PermissionError):
                pass


def wait_for(condition, timeout: float, what: str) -> None:
    end = time.time() + timeout
    while not condition():
        if time.time() > end:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.05)


def results_of(runs_dir: Path) -> dict:
    """Every cache entry: metrics without timings, history without timings, and the weights."""
    out = {}
    for run in runs.find_runs(root=runs_dir):
        metrics = {k: v for k, v in run.metrics.items() if k not in TIMING}
        history = run.history().drop(columns=list(TIMING), errors="ignore")
        out[run.id] = (metrics, history, run.state_dict())
    return out


def assert_same_results(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for rid in a:
        assert a[rid][0] == b[rid][0], rid
        pd.testing.assert_frame_equal(a[rid][1], b[rid][1])
        assert a[rid][2].keys() == b[rid][2].keys()
        assert all(torch.equal(a[rid][2][k], b[rid][2][k]) for k in a[rid][2]), rid


def killed_and_resumed(tmp_path, spec, checkpoint: str, after: float = 0.3) -> None:
    """Compute `spec` in a fresh process; in another, SIGKILL it once `checkpoint` (a glob under work/) exists, rerun
    it, and require exactly the uninterrupted result (metrics, history, weights, bit for bit)."""
    cmd = [sys.executable, "-c", RUN_ONE, json.dumps(specs.to_dict(spec))]
    subprocess.run(cmd, env=env_with(tmp_path / "reference"), cwd=ROOT, check=True, capture_output=True)
    crashed = tmp_path / "crashed"
    proc = subprocess.Popen(cmd, env=env_with(crashed), cwd=ROOT, stdout=subprocess.DEVNULL)
    found = lambda: list((crashed / "work").glob(checkpoint))
    wait_for(lambda: found() or proc.poll() is not None, 300, f"the checkpoint {checkpoint}")
    time.sleep(after)  # into the next epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not runs.is_finished(spec, root=crashed)
    resumed = subprocess.run(cmd, env=env_with(crashed), cwd=ROOT, check=True, capture_output=True, text=True)
    assert Path(resumed.stdout.strip()).exists()
    assert not list((crashed / "work").glob("*/*.pt")), "the work folder is cleared once the run is stored"
    assert_same_results(results_of(tmp_path / "reference"), results_of(crashed))


def test_training_killed_mid_epoch_resumes_to_the_uninterrupted_result(tmp_path):
    killed_and_resumed(tmp_path, TRAIN, "*/last.pt")


SMALL = Data("fashion_mnist", 60, test_per_class=20)
DENSE = Train(model=Model("cifar_resnet20", width=0.25), data=SMALL, seed=1,
              optim=TrainConfig(epochs=2, lr=0.05, schedule="cosine", batch_size=32))
DG2PF_SPEC = DG2PF(parent=DENSE, seed=2, settings=DG2PFConfig(
    sparsity=0.8, pruning_epochs=3, dgp=TrainConfig(epochs=5, lr=1e-3, optimizer="adamw", schedule="constant", batch_size=32),
    pf=TrainConfig(epochs=4, lr=1e-2, schedule="constant", batch_size=32)))


@pytest.mark.slow
@pytest.mark.parametrize("spec, checkpoint", [
    (DG2PF_SPEC, "dg2pf-*/dgp/last.pt"),                                     # during gradual pruning
    (DG2PF_SPEC, "dg2pf-*/pf/last.pt"),                                      # during pruned fine-tuning
    (Train(parent=DENSE, optim=TrainConfig(epochs=5, lr=0.01, batch_size=32), gmp=GMP(0.7, 3)), "train-*/last.pt"),
    (Train(parent=Prune(parent=DENSE, method="l1_unstructured", sparsity=0.5), last_layer_only=True,
           optim=TrainConfig(epochs=40, lr=0.01, batch_size=8)), "train-*/last.pt"),
    (Train(model=Model("cifar_resnet20", width=0.25), data=SMALL, seed=3, kd=KD(DENSE, temperature=4.0, alpha=0.9),
           optim=TrainConfig(epochs=4, lr=0.05, batch_size=32)), "train-*/last.pt"),
], ids=["dg2pf-dgp", "dg2pf-pf", "gmp", "last-layer", "kd"])
def test_every_stage_killed_mid_way_resumes_exactly(tmp_path, spec, checkpoint):
    killed_and_resumed(tmp_path, spec, checkpoint, after=0.05)


@pytest.mark.slow
def test_two_processes_starting_the_same_run_compute_it_once_and_a_reader_never_fails(tmp_path):
    cmd = [sys.executable, "-c", RUN_ONE, json.dumps(specs.to_dict(DENSE))]
    reader = ("import sys, time; from kdlib import runs\nend = time.time() + 60\n"
              "while time.time() < end:\n    [r.state_dict() for r in runs.find_runs()]\n"
              "    if runs.find_runs(): break\nprint('ok')")
    env = env_with(tmp_path / "shared")
    procs = [subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    watcher = subprocess.Popen([sys.executable, "-c", reader], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    assert outs[0][0] == outs[1][0], "both get the one entry"
    assert sum("[kdlib] train" in err for _, err in outs) == 1, "exactly one of them computed it"
    out, err = watcher.communicate(timeout=120)
    assert watcher.returncode == 0 and out.strip() == "ok", err[-2000:]
    assert runs.check(Path(outs[0][0].strip())) is None and not list((tmp_path / "shared" / "locks").glob("*.lock"))


@pytest.mark.slow
def test_training_with_one_thread_does_not_crash(tmp_path):
    cmd = [sys.executable, "-c", RUN_ONE, json.dumps(specs.to_dict(DENSE))]
    done = subprocess.run(cmd, env={**env_with(tmp_path), "OMP_NUM_THREADS": "1"}, cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


def test_reproduce_killed_mid_notebook_resumes_to_the_same_tables(tmp_path):
    cmd = [sys.executable, "-m", "kdlib.reproduce", "--profile", "smoke", "--notebook", "park2022"]
    ref_runs, ref_figs = tmp_path / "ref-runs", tmp_path / "ref-figures"
    subprocess.run(cmd, env=env_with(ref_runs, ref_figs), cwd=ROOT, check=True, capture_output=True)

    crashed, figs = tmp_path / "runs", tmp_path / "figures"
    proc = subprocess.Popen(cmd, env=env_with(crashed, figs), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    done = lambda: len(runs.find_runs(root=crashed))
    wait_for(lambda: done() >= 12 or proc.poll() is not None, 300, "a dozen finished runs")
    kill_everything_using(crashed)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the notebook finished before it could be killed"
    survivors = {r.id: (r.path / "manifest.json").stat().st_mtime_ns for r in runs.find_runs(root=crashed)}
    assert 12 <= len(survivors) < len(runs.find_runs(root=ref_runs))
    assert not (figs / "smoke" / "park2022" / "claims.csv").exists()

    subprocess.run(cmd, env=env_with(crashed, figs), cwd=ROOT, check=True, capture_output=True)
    after = {r.id: (r.path / "manifest.json").stat().st_mtime_ns for r in runs.find_runs(root=crashed)}
    assert all(after[rid] == mtime for rid, mtime in survivors.items()), "finished runs were recomputed"
    assert_same_results(results_of(ref_runs), results_of(crashed))
    tables = sorted(p.name for p in (ref_figs / "smoke" / "park2022").glob("*.csv"))
    assert "claims.csv" in tables and "agreement.csv" in tables
    for name in tables:
        pd.testing.assert_frame_equal(pd.read_csv(ref_figs / "smoke" / "park2022" / name),
                                      pd.read_csv(figs / "smoke" / "park2022" / name), check_exact=True)


def test_cache_never_unpickles_code(tmp_path):
    """A weights file holding a pickled object (code on load) is refused by weights_only=True."""
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned",))
    run = runs.cached(TRAIN, lambda w: runs.Result({"w": torch.ones(1)}, {"top1": 0.5}), root=tmp_path)
    torch.save({"w": Payload()}, run.path / "weights.pt")
    with pytest.raises(Exception, match="Weights only load failed"):
        run.state_dict()


def test_every_torch_load_is_weights_only():
    for path in (ROOT / "kdlib").rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "torch.load(" in line:
                assert "weights_only=True" in line, f"{path.name}:{n} loads a checkpoint without weights_only=True"
