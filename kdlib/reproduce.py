"""`make reproduce`: run the notebooks headlessly with papermill and write the reproduction report.

python -m kdlib.reproduce --profile cpu [--notebook park2022] [--device auto] [--params my.yaml] [--store-outputs]
Executed copies go to runs/<profile>/notebooks/ (never over the sources); a failure names the notebook and cell,
keeps what finished, and the next call resumes from the run cache. The terminal shows every finished training and an
ETA: the runs each notebook still has to compute here, timed by this machine's last run (or the reference run's,
scaled by a speed probe; kdlib.eta).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

from . import device, files, papers, profiles, publish, report, runs
from . import eta as kdeta
from . import params as kdparams

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = {p: papers.get(p).NOTEBOOK for p in papers.ORDER}  # paper id -> notebook, in the order they run
TITLES = {p: papers.get(p).TITLE for p in papers.ORDER}
PRETRAINED = ["resnet50", "resnet18", "mobilenet_v2"]  # torchvision ImageNet weights the paper profiles load
minutes = publish.minutes


def notebook_parameters(paper: str) -> list[str]:
    """The names in a notebook's `parameters` cell."""
    import papermill as pm
    return list(pm.inspect_notebook(str(ROOT / "notebooks" / NOTEBOOKS[paper])))


def read_params(path: str | Path | None, papers_: list[str]) -> dict[str, dict]:
    """A params file (YAML/JSON) {paper: {parameter: value}} of plain values (kdlib.params), checked against each
    notebook's parameters."""
    if path is None:
        return {}
    params = kdparams.load(path)
    for paper, values in params.items():
        if paper not in NOTEBOOKS:
            raise ValueError(f"{path}: unknown paper {paper!r}; valid: {', '.join(NOTEBOOKS)}")
        if not isinstance(values, dict):
            raise ValueError(f"{path}: {paper} must map parameter names to values")
        valid = [p for p in notebook_parameters(paper) if p not in ("profile", "device")]
        for name in values:
            if name not in valid:
                raise ValueError(f"{path}: {paper} has no notebook parameter {name!r}; valid: {', '.join(valid)} "
                                 f"(profile and device are command-line options)")
            kdparams.check_literal(f"{paper}.{name}", values[name])
    return {p: v for p, v in params.items() if p in papers_}


def _kernel_manager():
    """Kernels over IPC sockets (local, no "running over TCP without encryption" warning)."""
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.transport = "ipc"
    return IPCKernelManager


def run_notebook(paper: str, profile: str, device_: str, params: dict | None = None) -> float:
    """Execute one notebook with papermill; returns its wall time in seconds."""
    import papermill as pm
    out = runs.runs_root() / profile / "notebooks" / NOTEBOOKS[paper]
    out.parent.mkdir(parents=True, exist_ok=True)
    parameters = {**(params or {}), "profile": profile, "device": device_}
    for name, value in parameters.items():
        kdparams.check_literal(name, value)
    t0 = time.perf_counter()
    pm.execute_notebook(str(ROOT / "notebooks" / NOTEBOOKS[paper]), str(out), parameters=parameters,
                        kernel_name="python3", cwd=str(ROOT / "notebooks"), progress_bar=False,
                        kernel_manager_class=_kernel_manager())
    return time.perf_counter() - t0


def failed_cell(error) -> str:
    return f"cell {getattr(error, 'exec_count', '?')}: {getattr(error, 'ename', type(error).__name__)}: " \
           f"{getattr(error, 'evalue', error)}"


def store_outputs(paper: str, profile: str) -> None:
    """Copy the executed outputs into the source notebook (matched by cell id), so it renders with results."""
    import nbformat
    src_path = ROOT / "notebooks" / NOTEBOOKS[paper]
    executed = nbformat.read(runs.runs_root() / profile / "notebooks" / NOTEBOOKS[paper], as_version=4)
    source = nbformat.read(src_path, as_version=4)
    by_id = {c.get("id"): c for c in executed.cells}
    for cell in source.cells:
        done = by_id.get(cell.get("id"))
        if cell.cell_type == "code" and done is not None:
            cell.outputs, cell.execution_count = done.outputs, done.execution_count
    files.atomic_write(src_path, lambda tmp: nbformat.write(source, str(tmp)))


def prepare_dryrun() -> Path:
    """Stand-in datasets and stand-in ImageNet weights under runs/standins/, and the environment pointing there
    (the kernels inherit it): the paper profile's code then runs for real on data in the real formats."""
    from . import standins
    root = runs.runs_root() / "standins"
    t0 = time.perf_counter()
    missing = [n for n, f in standins.FOLDERS.items() if not standins.is_current(root / "data" / f, n)]
    if missing:
        standins.write(root / "data", missing)
    standins.write_weights(root / "torch", PRETRAINED)
    os.environ.update(KDLIB_DATA=str(root / "data"), TORCH_HOME=str(root / "torch"))
    print(f"dry run: stand-in datasets and weights ready in {root} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return root


def runlog(profile: str, paper: str, fresh: bool = False) -> Path:
    """The JSON-lines log of the runs `paper`'s notebook used at `profile` (see runner._log_run)."""
    path = publish.runlog_path(profile, paper)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fresh:
        path.write_text("")
    return path


def write_runs_table(profile: str) -> Path:
    """figures/<profile>/runs.csv: every distinct run each notebook used, with its measured seconds per step on this
    machine and peak memory (the dry run's record of what the paper profile executes)."""
    import pandas as pd
    rows = [{"notebook": paper, **{k: v for k, v in row.items() if k != "spec"}}
            for paper in NOTEBOOKS for row in publish.runlog_runs(profile, paper).values()]
    return report.save_table(pd.DataFrame(rows), profile, "", "runs") if rows else Path()


class Progress:
    """Echo the runner's one-line announcements ($KDLIB_PROGRESS) to the terminal while a notebook runs."""

    def __init__(self, path: Path):
        self.path, self.stop = path, threading.Event()

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")
        os.environ["KDLIB_PROGRESS"] = str(self.path)
        self.thread = threading.Thread(target=self._tail, daemon=True)
        self.thread.start()
        return self

    def _tail(self):
        with open(self.path) as f:
            while not self.stop.wait(1.0):
                for line in f.readlines():
                    print(f"      {line.rstrip()}", flush=True)
            for line in f.readlines():
                print(f"      {line.rstrip()}", flush=True)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        os.environ.pop("KDLIB_PROGRESS", None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=profiles.PROFILES)
    parser.add_argument("--notebook", action="append", choices=list(NOTEBOOKS), help="run only these (repeatable)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--params", help="YAML file {paper: {notebook parameter: value}}, e.g. overrides")
    parser.add_argument("--store-outputs", action="store_true", help="copy the outputs into the source notebooks")
    args = parser.parse_args(argv)
    saved = {k: os.environ.get(k) for k in ("KDLIB_PROFILE", "TQDM_DISABLE", "KDLIB_DATA", "TORCH_HOME")}
    os.environ["KDLIB_PROFILE"] = args.profile  # kernels inherit it: the --profile given here is the one that runs
    os.environ["TQDM_DISABLE"] = "1"  # no progress widgets in saved notebooks; the terminal gets our own lines
    try:
        return _run(args)
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def _run(args) -> int:
    todo = args.notebook or list(NOTEBOOKS)
    try:
        params = read_params(args.params, todo)
    except (OSError, ValueError) as error:
        print(f"bad --params: {error}", file=sys.stderr)
        return 2
    if args.profile == "dryrun":
        prepare_dryrun()
    print(f"profile {args.profile} on {device.cpu_model()}, {device.cpu_threads()} threads, "
          f"{device.speed_probe():.0f} GFLOP/s fp32 probe; runs in {runs.runs_root()}", flush=True)
    if args.device in ("auto", "cpu") and (busy := device.contention_warning()):
        print(busy, flush=True)
    timings, start = {}, time.perf_counter()
    for i, paper in enumerate(todo, 1):
        left = kdeta.eta(args.profile, todo[i - 1:])
        print(f"[{i}/{len(todo)}] {paper}; elapsed {minutes(time.perf_counter() - start)}"
              + (f", {left}" if left else ""), flush=True)
        os.environ["KDLIB_RUNLOG"] = str(runlog(args.profile, paper, fresh=True))
        try:
            with Progress(runs.runs_root() / args.profile / "progress.log"):
                timings[paper] = run_notebook(paper, args.profile, args.device, params.get(paper))
        except Exception as error:  # papermill's execution error carries the cell
            print(f"FAILED: notebook {NOTEBOOKS[paper]}, {failed_cell(error)}\n"
                  f"Finished runs are cached; rerun to resume. Executed copy: "
                  f"{runs.runs_root() / args.profile / 'notebooks' / NOTEBOOKS[paper]}", file=sys.stderr)
            return 1
        print(f"      {paper} done in {minutes(timings[paper])}", flush=True)
        if args.store_outputs:
            store_outputs(paper, args.profile)
    os.environ.pop("KDLIB_RUNLOG", None)
    total = this_run = time.perf_counter() - start
    write_runs_table(args.profile)
    local = kdeta.read_json(kdeta.local_timings_path(args.profile)).get("notebooks", {})
    files.write_text(kdeta.local_timings_path(args.profile), json.dumps({"notebooks": {**local, **timings}}, indent=1))
    if args.notebook:  # a partial run: the report's total is the sum of every notebook's latest time
        reference = kdeta.read_json(report.figures_root() / args.profile / "timings.json").get("notebooks", {})
        timings = {**reference, **timings}
        total = sum(timings.values())
    path = publish.write(args.profile, timings, total)
    scope = f"; the report's total, every notebook's latest time: {minutes(total)}" if args.notebook else ""
    print(f"wall time {minutes(this_run)}{scope}; report: {path} and {path.parent / 'report' / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
