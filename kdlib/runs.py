"""Run cache: every expensive step is a spec computed once and reused (open_lth style), safe under concurrency.

An entry is `runs/cache/<run id>/`: config.json (the spec in full), identity.json (what its id hashes), metrics.json,
meta.json (derived seeds, device, timings), history.csv, weights.pt (and shape.json / masks.pt where relevant), and
manifest.json, written last, with every file's size and SHA-256. An entry without a valid manifest, or whose stored
identity differs from the spec asked for, is reported and recomputed, never used. One process computes a run at a
time (a lock file naming its host and pid; a dead holder's lock is taken over); entries are written to a unique
temporary folder and renamed into place, and a finished entry another process wrote is never deleted.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from . import files, specs

STALE_LOCK_HOURS = 24.0  # a lock held by another host counts as abandoned after this long without a change


def runs_root(root: str | Path | None = None) -> Path:
    """Where runs live: the argument, $KDLIB_RUNS, or runs/ at the top of the checkout."""
    if root is not None:
        return Path(root)
    if os.environ.get("KDLIB_RUNS"):
        return Path(os.environ["KDLIB_RUNS"])
    return Path(__file__).resolve().parent.parent / "runs"


@dataclass
class Run:
    """A finished run: its folder, spec (as JSON), metrics and metadata; weights and history on demand."""
    path: Path
    config: dict
    metrics: dict
    meta: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.path.name

    def state_dict(self) -> dict:
        return torch.load(self.path / "weights.pt", map_location="cpu", weights_only=True)

    def masks(self) -> dict | None:
        p = self.path / "masks.pt"
        return torch.load(p, map_location="cpu", weights_only=True) if p.exists() else None

    def shape(self) -> dict | None:
        """The channel-pruned module shapes (None when the architecture is the root's)."""
        p = self.path / "shape.json"
        return json.loads(p.read_text()) if p.exists() else None

    def history(self) -> pd.DataFrame:
        p = self.path / "history.csv"
        return pd.read_csv(p) if p.exists() else pd.DataFrame()


@dataclass
class Result:
    """What a stage's compute function returns to `cached`."""
    state: dict
    metrics: dict
    history: pd.DataFrame | None = None
    shape: dict | None = None
    masks: dict | None = None
    meta: dict = field(default_factory=dict)


def check(path: Path) -> str | None:
    """Why the entry at `path` cannot be used, or None when it is complete and intact. Never raises."""
    try:
        meta = json.loads((path / "manifest.json").read_bytes())
    except FileNotFoundError:
        return "no manifest (incomplete write)"
    except (OSError, ValueError):
        return "manifest is damaged (not readable JSON)"
    if not isinstance(meta, dict) or not isinstance(meta.get("files"), dict):
        return "manifest is damaged (no file list)"
    if meta.get("format") != specs.FORMAT:
        return f"written by cache format {meta.get('format')}, this kdlib reads format {specs.FORMAT}"
    for name, entry in meta["files"].items():
        ok = isinstance(entry, list) and len(entry) == 2 and isinstance(name, str) and "/" not in name
        f = path / name if ok else None
        if not ok or not f.is_file() or f.stat().st_size != entry[0] or files.sha256(f) != entry[1]:
            return f"{name} is missing, truncated or corrupt"
    if not {"config.json", "identity.json", "metrics.json"} <= set(meta["files"]):
        return "manifest is damaged (files missing from it)"
    return None


def load(path: Path) -> Run:
    read = lambda name: json.loads((path / name).read_text()) if (path / name).exists() else {}
    return Run(path, read("config.json"), read("metrics.json"), read("meta.json"))


def _problem(path: Path, spec: specs.Spec) -> str | None:
    """Why the entry at `path` cannot serve `spec`, or None."""
    cache = path.parent.resolve()
    if path.is_symlink() or path.resolve().parent != cache:
        return "it resolves outside the cache folder"
    problem = check(path)
    if problem is None and json.loads((path / "identity.json").read_text()) != json.loads(
            json.dumps(specs.identity(spec))):
        problem = "its stored spec differs from the one asked for"
    return problem


def _dump(obj) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, allow_nan=True)


def write(path: Path, spec: specs.Spec, result: Result) -> Run:
    """Write an entry into a unique temporary folder, then rename it into place (atomic on one filesystem)."""
    tmp = files.temporary_name(path)
    try:
        tmp.mkdir(parents=True)
        (tmp / "config.json").write_text(_dump(specs.to_dict(spec)))
        (tmp / "identity.json").write_text(_dump(specs.identity(spec)))
        (tmp / "metrics.json").write_text(_dump(result.metrics))
        (tmp / "meta.json").write_text(_dump(result.meta))
        torch.save(result.state, tmp / "weights.pt")
        if result.history is not None:
            result.history.to_csv(tmp / "history.csv", index=False)
        if result.shape is not None:
            (tmp / "shape.json").write_text(_dump(result.shape))
        if result.masks is not None:
            torch.save(result.masks, tmp / "masks.pt")
        listing = {f.name: [f.stat().st_size, files.sha256(f)] for f in sorted(tmp.iterdir())}
        (tmp / "manifest.json").write_text(_dump({"format": specs.FORMAT, "files": listing}))
        if path.exists() or path.is_symlink():
            if not path.is_symlink() and _problem(path, spec) is None:  # another process stored it first: keep it
                shutil.rmtree(tmp, ignore_errors=True)
                return load(path)
            _discard(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return load(path)


def _discard(path: Path) -> None:
    """Move a damaged entry (or a symlink) out of the way, then delete it."""
    trash = path.with_name(f".{path.name}.trash-{socket.gethostname()}-{os.getpid()}")
    os.replace(path, trash)
    if trash.is_symlink():
        trash.unlink()
    else:
        shutil.rmtree(trash, ignore_errors=True)


def cached(spec: specs.Spec, compute: Callable[[Path], Result], *, root: str | Path | None = None,
           force: bool = False) -> Run:
    """The run of `spec`: loaded when a valid entry exists, else computed by `compute(workdir)` and stored.

    `workdir` survives an interruption (epoch checkpoints go there), so the next call resumes the work.
    """
    base = runs_root(root)
    rid = specs.safe_name(specs.run_id(spec))
    path = base / "cache" / rid
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        (base / "work").mkdir(exist_ok=True)
    except OSError as e:  # no permission, read-only disk, a file where a folder should be
        raise PermissionError(f"cannot write to the runs folder {base}: {e}. Set KDLIB_RUNS to a writable "
                              f"folder.") from None
    sweep(base)
    if not force and (hit := _hit(path, spec)) is not None:
        return hit
    with Lock(base / "locks" / f"{rid}.lock"):
        if not force and (hit := _hit(path, spec, quiet=True)) is not None:  # finished while we waited
            return hit
        workdir = base / "work" / rid
        workdir.mkdir(parents=True, exist_ok=True)
        run = write(path, spec, compute(workdir))
        shutil.rmtree(workdir, ignore_errors=True)
    return run


def _hit(path: Path, spec: specs.Spec, quiet: bool = False) -> Run | None:
    if not (path.exists() or path.is_symlink()):
        return None
    problem = _problem(path, spec)
    if problem is None:
        return load(path)
    if not quiet:
        warnings.warn(f"run cache entry {path} is unusable ({problem}); recomputing it", stacklevel=3)
    return None


def is_finished(spec: specs.Spec, root: str | Path | None = None) -> bool:
    path = runs_root(root) / "cache" / specs.run_id(spec)
    return path.exists() and _problem(path, spec) is None


def find_runs(stage: str | None = None, root: str | Path | None = None) -> list[Run]:
    """Every intact finished run (of `stage`, if given)."""
    folder = runs_root(root) / "cache"
    if not folder.exists():
        return []
    paths = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [load(p) for p in paths if (stage is None or p.name.startswith(stage + "-")) and check(p) is None]


# ---------------------------------------------------------------- concurrency
def _alive(host: str, pid: int) -> bool | None:
    """Whether process `pid` on `host` runs (None: another host, cannot tell)."""
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _abandoned(host: str, pid: int, path: Path) -> bool:
    alive = _alive(host, pid)
    if alive is None:
        return time.time() - path.lstat().st_mtime > STALE_LOCK_HOURS * 3600
    return not alive


class Lock:
    """An exclusive lock file naming its holder; a lock whose holder died is taken over."""

    def __init__(self, path: Path, poll: float = 1.0):
        self.path, self.poll = path, poll

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()})
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                self._wait_or_take_over()
                continue
            with os.fdopen(fd, "w") as f:
                f.write(me)
            return self

    def _wait_or_take_over(self) -> None:
        try:
            holder = json.loads(self.path.read_text())
            stale = _abandoned(holder["host"], int(holder["pid"]), self.path)
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError):  # half-written or damaged: wait a moment, then take it
            stale = time.time() - self.path.stat().st_mtime > 10 if self.path.exists() else False
        if stale:
            aside = self.path.with_name(f"{self.path.name}.stale-{socket.gethostname()}-{os.getpid()}")
            try:
                os.replace(self.path, aside)  # only one taker wins the rename
                aside.unlink()
            except FileNotFoundError:
                pass
        else:
            time.sleep(self.poll)

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)


_SWEPT: set[str] = set()


def sweep(base: Path) -> None:
    """Remove temporary and discarded folders left by dead processes of this host (once per process)."""
    if str(base) in _SWEPT:
        return
    _SWEPT.add(str(base))
    for p in (base / "cache").glob(".*"):
        for marker in (".tmp-", ".trash-"):
            if marker in p.name:
                host, _, pid = p.name.rsplit(marker, 1)[1].rpartition("-")
                if pid.isdigit() and _abandoned(host, int(pid), p):
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
