"""Run cache: every expensive step is a function of a plain config, computed once and reused (open_lth style).

An entry is `runs/cache/<stage>-<model>-<hash>/` holding config.json, metrics.json, history.csv, weights.pt
(and spec.json / masks.pt where relevant) plus manifest.json, written last, with each file's size and sha256.
An entry without a valid manifest is incomplete or corrupt: it is recomputed, never used.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import torch

FORMAT = 1  # bump when the layout of an entry changes; older entries are then recomputed


def runs_root(root: str | Path | None = None) -> Path:
    """Where runs live: the argument, $KDLIB_RUNS, or runs/ at the top of the checkout."""
    if root is not None:
        return Path(root)
    if os.environ.get("KDLIB_RUNS"):
        return Path(os.environ["KDLIB_RUNS"])
    return Path(__file__).resolve().parent.parent / "runs"


def canonical(obj: Any) -> Any:
    """A config as plain JSON values (dataclasses, tuples and paths converted), for hashing and storing."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, dict):
        return {str(k): canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"config values must be plain data (numbers, strings, lists, dicts, dataclasses); "
                    f"got {type(obj).__name__}: {obj!r}")


def config_hash(config: Any) -> str:
    text = json.dumps(canonical(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def run_id(stage: str, model: str, config: Any) -> str:
    """`<stage>-<model>-<hash of config>`: the same config from two notebooks is one run."""
    return f"{stage}-{model}-{config_hash({'stage': stage, 'model': model, 'config': config})}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Run:
    """A finished run: its folder, config and metrics; weights and history loaded on demand."""
    path: Path
    config: dict
    metrics: dict

    @property
    def id(self) -> str:
        return self.path.name

    def state_dict(self) -> dict:
        return torch.load(self.path / "weights.pt", map_location="cpu", weights_only=True)

    def masks(self) -> dict | None:
        p = self.path / "masks.pt"
        return torch.load(p, map_location="cpu", weights_only=True) if p.exists() else None

    def spec(self) -> dict | None:
        p = self.path / "spec.json"
        return json.loads(p.read_text()) if p.exists() else None

    def history(self) -> pd.DataFrame:
        p = self.path / "history.csv"
        return pd.read_csv(p) if p.exists() else pd.DataFrame()


@dataclass
class Result:
    """What a compute function returns to `cached`."""
    state: dict
    metrics: dict
    history: pd.DataFrame | None = None
    spec: dict | None = None
    masks: dict | None = None


def check(path: Path) -> str | None:
    """Why the entry at `path` cannot be used, or None when it is complete and intact."""
    manifest = path / "manifest.json"
    if not manifest.exists():
        return "no manifest (incomplete write)"
    try:
        meta = json.loads(manifest.read_text())
    except json.JSONDecodeError:
        return "manifest is not valid JSON"
    if meta.get("format") != FORMAT:
        return f"written by cache format {meta.get('format')}, this kdlib reads format {FORMAT}"
    for name, (size, digest) in meta["files"].items():
        f = path / name
        if not f.exists() or f.stat().st_size != size or _sha256(f) != digest:
            return f"{name} is missing, truncated or corrupt"
    return None


def load(path: Path) -> Run:
    return Run(path, json.loads((path / "config.json").read_text()), json.loads((path / "metrics.json").read_text()))


def write(path: Path, config: Any, result: Result) -> Run:
    """Write an entry into a temporary folder, then rename it into place (atomic on one filesystem)."""
    tmp = path.parent / f".{path.name}.tmp-{socket.gethostname()}-{os.getpid()}"  # unique on a shared disk
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "config.json").write_text(json.dumps(canonical(config), indent=1))
    (tmp / "metrics.json").write_text(json.dumps(canonical(result.metrics), indent=1))
    torch.save(result.state, tmp / "weights.pt")
    if result.history is not None:
        result.history.to_csv(tmp / "history.csv", index=False)
    if result.spec is not None:
        (tmp / "spec.json").write_text(json.dumps(canonical(result.spec)))
    if result.masks is not None:
        torch.save(result.masks, tmp / "masks.pt")
    files = {f.name: [f.stat().st_size, _sha256(f)] for f in sorted(tmp.iterdir())}
    (tmp / "manifest.json").write_text(json.dumps({"format": FORMAT, "files": files}, indent=1))
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
    try:
        os.replace(tmp, path)
    except OSError:  # another process (a cluster job) stored the same run first: keep that one if it is valid
        shutil.rmtree(tmp, ignore_errors=True)
        if check(path) is not None:
            raise
    return load(path)


def cached(stage: str, model: str, config: Any, compute: Callable[[Path], Result], *,
           root: str | Path | None = None, force: bool = False) -> Run:
    """The run of `config`: loaded when a valid entry exists, else computed by `compute(workdir)` and stored.

    `workdir` survives an interruption (epoch checkpoints go there), so the next call resumes the work.
    """
    base = runs_root(root)
    path = base / "cache" / run_id(stage, model, config)
    if path.exists() and not force:
        problem = check(path)
        if problem is None:
            return load(path)
        warnings.warn(f"run cache entry {path} is unusable ({problem}); recomputing it", stacklevel=2)
    workdir = base / "work" / path.name
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # no permission, read-only disk, a file where a folder should be
        raise PermissionError(f"cannot write to the runs folder {base}: {e}. Set KDLIB_RUNS to a writable "
                              f"folder.") from None
    run = write(path, config, compute(workdir))
    shutil.rmtree(workdir, ignore_errors=True)
    return run


def find_runs(stage: str | None = None, root: str | Path | None = None) -> list[Run]:
    """Every valid finished run (of `stage`, if given)."""
    folder = runs_root(root) / "cache"
    if not folder.exists():
        return []
    paths = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [load(p) for p in paths if (stage is None or p.name.startswith(stage + "-")) and check(p) is None]


def load_runs(stage: str | None = None, root: str | Path | None = None) -> pd.DataFrame:
    """All finished runs of a kind as one tidy DataFrame: run id, flattened config, metrics."""
    rows = []
    for run in find_runs(stage, root):
        row = {"run": run.id}
        row.update(pd.json_normalize(run.config, sep=".").iloc[0].to_dict())
        row.update({f"metric.{k}": v for k, v in run.metrics.items() if not isinstance(v, (dict, list))})
        rows.append(row)
    return pd.DataFrame(rows)
