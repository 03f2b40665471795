"""The ETA `make reproduce` prints: the time of the runs each remaining notebook still has to compute here.

A notebook's last run log (this machine's, else the reference run's figures/<profile>/runs.csv) lists every run it
used with the seconds that run took when it was computed. What is left is the runs not in this machine's cache now,
plus the notebook's own overhead (its wall time then minus the runs it computed then). The reference run's seconds
are scaled by the ratio of the two machines' speed probes. A run the last run did not use (a changed config) is not
known, so the ETA can only be low by those.
"""
from __future__ import annotations

import csv
import json
import socket
from pathlib import Path

from . import device, publish, report, runs


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # missing, truncated or damaged: no timings, never an error
        return {}


def local_timings_path(profile: str) -> Path:
    return runs.runs_root() / profile / f"timings-{socket.gethostname()}.json"


def _seconds(value) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return 0.0
    return x if x == x and x > 0 else 0.0  # NaN, negative: unknown, counted as 0


def _reference_rows(profile: str, paper: str) -> list[dict]:
    try:
        with open(report.figures_root() / profile / "runs.csv", newline="") as f:
            return [r for r in csv.DictReader(f) if r.get("notebook") == paper]
    except (OSError, csv.Error):
        return []


def _cached(run_id: str) -> bool:
    return (runs.runs_root() / "cache" / run_id / "manifest.json").exists()  # cheap: no hashing of weights


def notebook_left(rows: list[dict], wall: float, cached=_cached) -> tuple[float, int, int]:
    """(seconds left, runs to compute, runs in the log) for one notebook: its log's `rows` (one per run; `computed`
    a bool, or "True"/"False" as read from runs.csv), its wall time then, and which run ids count as cached."""
    computed_then = sum(_seconds(r.get("wall_seconds")) for r in rows if str(r.get("computed")).lower() == "true")
    todo = [r for r in rows if not cached(r["run"])]
    overhead = max(0.0, _seconds(wall) - computed_then)
    return overhead + sum(_seconds(r.get("wall_seconds")) for r in todo), len(todo), len(rows)


def eta(profile: str, remaining: list[str]) -> str:
    """'about X left (...)' for the `remaining` notebooks, from this machine's last run of each where it has one,
    else the reference run's scaled by the speed probes; '' when neither knows a notebook."""
    mine = read_json(local_timings_path(profile)).get("notebooks", {})
    ref = read_json(report.figures_root() / profile / "timings.json")
    probe = ref.get("gflops")
    total, todo, logged, scaled = 0.0, 0, 0, None
    for paper in remaining:
        rows = list(publish.runlog_runs(profile, paper).values())
        if rows and paper in mine:
            seconds, n, m = notebook_left(rows, mine[paper])
        else:
            rows = _reference_rows(profile, paper)
            if not (rows and probe and paper in ref.get("notebooks", {})):
                return ""
            scaled = scaled or probe / device.speed_probe()
            seconds, n, m = notebook_left(rows, ref["notebooks"][paper])
            seconds *= scaled
        total, todo, logged = total + seconds, todo + n, logged + m
    source = ("this machine's last run" if scaled is None
              else f"the reference run's times x {scaled:.2f}, from this machine's speed probe")
    return f"about {publish.minutes(total)} left ({todo} of {logged} runs to compute; {source})"


def cold_seconds(profile: str) -> dict[str, float]:
    """Each notebook's estimated wall time from an empty run cache on the reference run's machine: every run its
    log lists, at the seconds it took when computed, plus the notebook's overhead (committed runs.csv, timings.json)."""
    ref = read_json(report.figures_root() / profile / "timings.json").get("notebooks", {})
    out = {}
    for paper, wall in ref.items():
        rows = _reference_rows(profile, paper)
        if rows:
            out[paper] = notebook_left(rows, wall, cached=lambda run_id: False)[0]
    return out
