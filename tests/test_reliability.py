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
from kdlib.specs import Data, Model, Train
from kdlib.train import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
TIMING = ("seconds", "images_per_second", "train_seconds")  # wall-clock measurements, not results
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


def test_training_killed_mid_epoch_resumes_to_the_uninterrupted_result(tmp_path):
    cmd = [sys.executable, "-c", RUN_ONE, json.dumps(specs.to_dict(TRAIN))]
    subprocess.run(cmd, env=env_with(tmp_path / "reference"), cwd=ROOT, check=True, capture_output=True)

    crashed = tmp_path / "crashed"
    proc = subprocess.Popen(cmd, env=env_with(crashed), cwd=ROOT, stdout=subprocess.DEVNULL)
    checkpoints = lambda: list((crashed / "work").glob("*/last.pt"))
    wait_for(lambda: checkpoints() or proc.poll() is not None, 120, "the first epoch checkpoint")
    time.sleep(0.3)  # into the next epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the training finished before it could be killed"
    epoch = torch.load(checkpoints()[0], weights_only=True)["epoch"]
    assert epoch < TRAIN.optim.epochs - 1 and not runs.find_runs(root=crashed)

    resumed = subprocess.run(cmd, env=env_with(crashed), cwd=ROOT, check=True, capture_output=True, text=True)
    assert Path(resumed.stdout.strip()).exists()
    assert not list((crashed / "work").glob("*/last.pt")), "the work folder is cleared once the run is stored"
    assert_same_results(results_of(tmp_path / "reference"), results_of(crashed))


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
    assert "claims.csv" in tables and "agreement_and_smoothness.csv" in tables
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
