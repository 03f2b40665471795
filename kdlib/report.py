"""Results out: figures/<profile>/<paper>/ tables and figures, the paper's numbers beside ours, claim verdicts."""
from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from . import __version__, claims, device, files

ROOT = Path(__file__).resolve().parent.parent
VERDICTS = claims.VERDICTS


def figures_root() -> Path:
    """Where tables, figures and reports go: $KDLIB_FIGURES or figures/ at the top of the checkout."""
    return Path(os.environ["KDLIB_FIGURES"]) if os.environ.get("KDLIB_FIGURES") else ROOT / "figures"


def out_dir(profile: str, paper: str) -> Path:
    path = figures_root() / profile / paper
    path.mkdir(parents=True, exist_ok=True)
    return path


def paper_numbers(paper: str) -> pd.DataFrame:
    """The paper's own numbers, transcribed into data/paper/<paper>.csv (never computed, always labelled)."""
    path = ROOT / "data" / "paper" / f"{paper}.csv"
    if not path.exists():
        raise FileNotFoundError(f"no transcription of the paper's numbers at {path}")
    return pd.read_csv(path)


def save_table(df: pd.DataFrame, profile: str, paper: str, name: str) -> pd.DataFrame:
    """Write a table as CSV (atomically) and return it for display."""
    files.atomic_write(out_dir(profile, paper) / f"{name}.csv", lambda tmp: df.to_csv(tmp, index=False))
    return df


def save_figure(fig, profile: str, paper: str, name: str) -> Path:
    return files.atomic_write(out_dir(profile, paper) / f"{name}.png",
                              lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png"))


def save_claims(rows: list[dict], profile: str, paper: str, alpha: float = 0.05) -> pd.DataFrame:
    """The paper's claims table (kdlib.claims.table: Holm over its tested claims), saved as claims.csv."""
    return save_table(claims.table(rows, alpha), profile, paper, "claims")


@dataclass(frozen=True)
class Item:
    """One table or figure of a paper: its name ("Table 1"), what it shows, the files that regenerate it, and why
    a profile cannot (profile -> reason) or why it is only quoted (then nothing regenerates it anywhere)."""
    name: str
    what: str
    outputs: tuple = ()
    not_at: dict = field(default_factory=dict)
    quoted: str = ""


_STARTED: dict[tuple[str, str], float] = {}


def start(profile: str, paper: str) -> None:
    """Mark the start of a notebook's run: the coverage table counts only outputs written after it."""
    _STARTED[(profile, paper)] = time.time()


def save_coverage(items: list[Item], profile: str, paper: str) -> pd.DataFrame:
    """Every table and figure of the paper and what this run did with it: regenerated (its outputs were written
    by this run), quoted only (why), not run at this profile (why), or missing (expected, not produced)."""
    folder, since = out_dir(profile, paper), _STARTED.get((profile, paper), 0.0)
    fresh = lambda stem: any(p.stat().st_mtime >= since for p in folder.glob(f"{stem}.*"))
    rows = []
    for item in items:
        if item.quoted:
            status, why = "quoted only", item.quoted
        elif profile in item.not_at:
            status, why = "not run at this profile", item.not_at[profile]
        elif item.outputs and all(fresh(stem) for stem in item.outputs):
            status, why = "regenerated", ", ".join(f"{stem}.*" for stem in item.outputs)
        else:
            status, why = "missing", "expected outputs not written by this run: " + ", ".join(item.outputs)
        rows.append({"item": item.name, "what": item.what, "status": status, "detail": why})
    return save_table(pd.DataFrame(rows), profile, paper, "coverage")


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=5).stdout
        return out.rstrip()  # not strip(): a porcelain status line starts with a space (" M README.md")
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> dict:
    """What ran: CPU model and threads, a fp32 speed probe, torch build, kdlib version, git commit and whether the
    working tree had uncommitted changes (outputs under figures/ and runs/ excepted)."""
    dirty = [line for line in _git("status", "--porcelain").splitlines()
             if not line[3:].startswith(("figures/", "runs/", "README.md", "notebooks/"))]
    return {"machine": platform.machine(), "processor": device.cpu_model(), "threads": torch.get_num_threads(),
            "gflops": device.speed_probe(), "torch": torch.__version__, "torch_cuda": torch.version.cuda or "none",
            "kdlib": __version__, "commit": _git("rev-parse", "--short", "HEAD") or "unknown", "dirty": bool(dirty),
            "cuda": torch.cuda.is_available()}


def paper_vs_ours(paper: pd.DataFrame, ours: pd.DataFrame, on: list[str]) -> pd.DataFrame:
    """Paper rows beside ours, joined on `on` (outer: a row either side lacks shows as missing)."""
    return paper.merge(ours, on=on, how="outer", suffixes=(" (paper)", " (ours)"))
