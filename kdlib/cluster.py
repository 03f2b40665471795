"""Scale-out: run a notebook's independent trainings as SLURM job arrays through submitit, then the notebook.

python -m kdlib.cluster --notebook park2022 --profile paper --partition gpu --gpus 1 --time 720 --parallel 32

1. collect: the notebook is executed in collect mode; every run it would compute is recorded, none is computed.
2. submit: the pending runs go out level by level (a run waits for its parents), each level one job array.
   A job computes one run with `Runner.run`, which writes it atomically into the shared run cache.
3. repeat 1-2 until nothing is pending (some configs, e.g. Park & No's sparsity-matched students, can only be
   written once their teacher exists), then execute the notebook locally: it finds every result in the cache.
A failed job is written to runs/cluster/<notebook>-<profile>-failed.json with its error and log; rerunning the
command resubmits only what is unfinished (`--retry-failed` submits just the failed runs).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from . import files, reproduce, runner as kdrunner, runs, specs


def collect(paper: str, profile: str, params: dict | None = None, shapes: bool = False) -> list[dict]:
    """The runs the notebook of `paper` needs at `profile` and cannot find finished, without computing any.
    shapes=True (costing only, never submitted): plans shaped by an unfinished run's nonzeros are formed from an
    estimate of that run (`Runner.load_for_shape`), so every run of the profile is listed in one pass."""
    import papermill as pm
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "pending.jsonl"
        record.touch()
        saved = {k: os.environ.get(k) for k in ("KDLIB_COLLECT", "KDLIB_PROFILE", "KDLIB_COST_SHAPES", "KDLIB_FIGURES")}
        # the partial tables and figures of a collect pass go to the temporary folder, not the user's figures/
        os.environ.update(KDLIB_COLLECT=str(record), KDLIB_PROFILE=profile, KDLIB_FIGURES=str(Path(tmp) / "figures"))
        if shapes:
            os.environ["KDLIB_COST_SHAPES"] = "1"
        try:  # cells after a pending result fail too; allow_errors lets later tables still be collected
            pm.execute_notebook(str(reproduce.ROOT / "notebooks" / reproduce.NOTEBOOKS[paper]), str(Path(tmp) / "out.ipynb"),
                                parameters={**(params or {}), "profile": profile, "device": "cpu"},
                                kernel_name="python3", cwd=str(reproduce.ROOT / "notebooks"), progress_bar=False,
                                allow_errors=True)
        except pm.PapermillExecutionError:
            pass
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        found = [json.loads(line) for line in record.read_text().splitlines()]
    unique = {specs.run_id(s): s for s in map(specs.from_dict, found) if s.stage not in kdrunner.LOCAL_ONLY}
    return [s for s in unique.values() if not runs.is_finished(s)]


def run_key(spec: specs.Spec) -> str:
    return specs.run_id(spec)


def levels(cfgs: list[dict]) -> list[list[dict]]:
    """`cfgs` grouped so that every run comes after the pending runs it depends on."""
    todo = {run_key(c): c for c in cfgs}
    depth: dict[str, int] = {}

    def level(cfg: dict) -> int:
        key = run_key(cfg)
        if key not in depth:
            deps = [d for d in specs.parents(cfg) if run_key(d) in todo]
            depth[key] = 1 + max(map(level, deps)) if deps else 0
        return depth[key]
    groups: dict[int, list[dict]] = {}
    for key, cfg in todo.items():
        groups.setdefault(level(cfg), []).append(cfg)
    return [groups[k] for k in sorted(groups)]


def run_config(spec: specs.Spec, runs_dir: str, device: str = "auto") -> str:
    """One job: compute one run into the shared run cache (its parents must be finished); returns its id."""
    os.environ["KDLIB_RUNS"] = runs_dir
    os.environ.pop("KDLIB_COLLECT", None)
    missing = [run_key(d) for d in specs.parents(spec) if not runs.is_finished(d)]
    if missing:
        raise RuntimeError(f"parents of this run are not finished (did their jobs fail?): {missing}")
    return kdrunner.Runner(device, progress=False).run(spec).id


def check_private(folder: Path) -> None:
    """submitit pickles each job's payload into the runs folder and the job unpickles it: whoever can write there can
    run code as you. Refuse a runs folder (or its cluster/ subfolder) that others may write to."""
    import stat
    for path in (folder, folder / "cluster"):
        if path.exists() and path.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise PermissionError(f"{path} is writable by other users, and submitit job payloads (pickles, run as "
                                  f"code by the jobs) are stored there: run `chmod go-w {path}` or set KDLIB_RUNS "
                                  f"to a folder only you can write")


def executor(folder: str | Path, cluster: str | None = None, *, partition: str | None = None, gpus: int = 1,
             cpus: int = 8, time_min: int = 720, parallel: int = 16, mem_gb: int = 32, **slurm):
    """A submitit AutoExecutor: SLURM when available (or cluster='slurm'), else 'local' or 'debug'."""
    import submitit
    ex = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    ex.update_parameters(timeout_min=time_min, gpus_per_node=gpus, cpus_per_task=cpus, mem_gb=mem_gb,
                         slurm_array_parallelism=parallel, name="kdrepro",
                         **({"slurm_partition": partition} if partition else {}),
                         **{f"slurm_{k}": v for k, v in slurm.items()})
    return ex


def submit(cfgs: list[dict], ex, device: str = "auto") -> list[dict]:
    """Run `cfgs` as job arrays, level by level; returns the failures (config, job id, error, log)."""
    runs_dir = str(runs.runs_root().resolve())
    failures: list[dict] = []
    blocked: set[str] = set()  # failed runs and everything waiting on them
    for i, group in enumerate(levels(cfgs), 1):
        waiting = [c for c in group if any(run_key(d) in blocked for d in specs.parents(c))]
        blocked |= {run_key(c) for c in waiting}
        group = [c for c in group if c not in waiting]
        if not group:
            continue
        jobs = ex.map_array(run_config, group, [runs_dir] * len(group), [device] * len(group))
        print(f"level {i}: {len(group)} runs as job array {jobs[0].job_id.split('_')[0]}", flush=True)
        failed = []
        for cfg, job in zip(group, jobs):
            try:
                job.result()
            except Exception as error:  # submitit re-raises the job's error, or reports a lost job
                failed.append({"run": run_key(cfg), "job": job.job_id, "error": str(error)[-2000:],
                               "log": str(job.paths.stderr), "config": specs.to_dict(cfg)})
        print(f"level {i}: {len(group) - len(failed)} finished, {len(failed)} failed", flush=True)
        failures += failed
        blocked |= {f["run"] for f in failed}
    return failures


def failures_file(paper: str, profile: str) -> Path:
    return runs.runs_root() / "cluster" / f"{paper}-{profile}-failed.json"


def write_failures(paper: str, profile: str, failures: list[dict]) -> Path:
    return files.write_text(failures_file(paper, profile), json.dumps(failures, indent=1))


def scale_out(paper: str, profile: str, ex, *, device: str = "auto", params: dict | None = None,
              retry_failed: bool = False, max_waves: int = 10, execute: bool = True) -> list[dict]:
    """Collect, submit and repeat until the notebook's runs are finished; then execute it. Returns failures."""
    for wave in range(1, max_waves + 1):
        if retry_failed and failures_file(paper, profile).exists():
            todo = [specs.from_dict(f["config"]) for f in json.loads(failures_file(paper, profile).read_text())]
            retry_failed = False
        else:
            todo = collect(paper, profile, params)
        print(f"{paper} ({profile}), wave {wave}: {len(todo)} pending runs", flush=True)
        if not todo:
            break
        failures = submit(todo, ex, device)
        write_failures(paper, profile, failures)
        if failures:
            print(f"{len(failures)} runs failed; see {failures_file(paper, profile)}. Fix the cause and rerun "
                  f"(with --retry-failed to resubmit only them).", file=sys.stderr)
            return failures
    else:
        raise RuntimeError(f"runs still pending after {max_waves} waves; is a run failing silently?")
    if execute:
        reproduce.run_notebook(paper, profile, device, params)
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", required=True, choices=list(reproduce.NOTEBOOKS))
    parser.add_argument("--profile", default="paper", choices=["smoke", "cpu", "paper"])
    parser.add_argument("--cluster", default=None, help="slurm (default where sbatch exists), local or debug")
    parser.add_argument("--partition", help="SLURM partition")
    parser.add_argument("--gpus", type=int, default=1, help="GPUs per job")
    parser.add_argument("--cpus", type=int, default=8, help="CPUs per job (data loading)")
    parser.add_argument("--mem-gb", type=int, default=32)
    parser.add_argument("--time", type=int, default=720, help="time limit per job, minutes")
    parser.add_argument("--parallel", type=int, default=16, help="array parallelism: jobs running at once")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--params", help="YAML file {paper: {notebook parameter: value}} (as make reproduce)")
    parser.add_argument("--retry-failed", action="store_true", help="first resubmit only the failed runs")
    parser.add_argument("--collect-only", action="store_true", help="list the pending runs and stop")
    args = parser.parse_args(argv)
    params = reproduce.read_params(args.params, [args.notebook]).get(args.notebook)
    if args.collect_only:
        for group in levels(collect(args.notebook, args.profile, params)):
            print("\n".join(run_key(c) for c in group), "\n")
        return 0
    check_private(runs.runs_root())
    ex = executor(runs.runs_root() / "cluster" / "logs", args.cluster, partition=args.partition, gpus=args.gpus,
                  cpus=args.cpus, time_min=args.time, parallel=args.parallel, mem_gb=args.mem_gb)
    failures = scale_out(args.notebook, args.profile, ex, device=args.device, params=params,
                         retry_failed=args.retry_failed)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
