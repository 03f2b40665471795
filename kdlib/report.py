"""Results out: figures/<profile>/<paper>/ tables and figures, the paper's numbers beside ours, claim verdicts."""
from __future__ import annotations

import math
import os
import platform
import subprocess
from pathlib import Path

import pandas as pd
import torch

from . import __version__, files, metrics

ROOT = Path(__file__).resolve().parent.parent
VERDICTS = ("reproduced", "not reproduced", "inconclusive", "not tested at this profile")


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


def claim(text: str, paper_evidence: str, effect: dict | None, *, direction: int = 1, unit: str = "points",
          scale: float = 100.0, why_not: str | None = None) -> dict:
    """One claims-table row with a verdict computed from a paired effect (metrics.paired_difference)."""
    if effect is None:
        return {"claim": text, "paper": paper_evidence, "ours": "-", "verdict": "not tested at this profile",
                "note": why_not or ""}
    if effect["n"] < 2:
        return {"claim": text, "paper": paper_evidence, "ours": f"{effect['mean'] * scale:+.2f} {unit} (n=1)",
                "verdict": "not tested at this profile",
                "note": why_not or "one seed: no uncertainty estimate; run the cpu profile (3 seeds)"}
    ours = (f"{effect['mean'] * scale:+.2f} {unit} [95% CI {effect['low'] * scale:+.2f}, "
            f"{effect['high'] * scale:+.2f}], paired t={effect['t']:.2f}, p={effect['p']:.3g}, n={effect['n']}")
    verdict = metrics.verdict(effect, direction)
    note = ""
    if verdict == "inconclusive" and effect["mean"] != 0:
        note = f"about {seeds_needed(effect)} pairs would resolve an effect of this size"
    return {"claim": text, "paper": paper_evidence, "ours": ours, "verdict": verdict, "note": note}


def noninferiority(text: str, paper_evidence: str, effect: dict, margin: float, *, unit: str = "points",
                   scale: float = 100.0) -> dict:
    """A claim of "no worse than" (e.g. accuracy kept after compression): reproduced when the whole 95%
    interval of the paired difference lies above -margin, not reproduced when it lies below -margin."""
    row = claim(text, paper_evidence, effect, unit=unit, scale=scale)
    if effect is None or effect["n"] < 2 or math.isnan(effect["low"]):
        return row
    if effect["low"] > -margin:
        row["verdict"] = "reproduced"
    elif effect["high"] < -margin:
        row["verdict"] = "not reproduced"
    else:
        row["verdict"] = "inconclusive"
    row["note"] = f"non-inferiority margin {margin * scale:g} {unit}"
    return row


def equivalence(text: str, paper_evidence: str, effect: dict, margin: float, *, unit: str = "points",
                scale: float = 100.0) -> dict:
    """A claim of "no real difference" (e.g. insensitive to tau): reproduced when the 95% interval lies inside
    +-margin, not reproduced when it lies entirely outside, inconclusive otherwise."""
    row = claim(text, paper_evidence, effect, unit=unit, scale=scale)
    if effect is None or effect["n"] < 2 or math.isnan(effect["low"]):
        return row
    if -margin < effect["low"] and effect["high"] < margin:
        row["verdict"] = "reproduced"
    elif effect["low"] > margin or effect["high"] < -margin:
        row["verdict"] = "not reproduced"
    else:
        row["verdict"] = "inconclusive"
    row["note"] = f"equivalence margin +-{margin * scale:g} {unit}"
    return row


def seeds_needed(effect: dict) -> int:
    """Pairs needed for a paired t-test to reach p < 0.05 if mean and spread stayed as observed."""
    from scipy import stats
    sd = (effect["high"] - effect["mean"]) / stats.t.ppf(0.975, effect["n"] - 1) * math.sqrt(effect["n"])
    if sd == 0 or effect["mean"] == 0:
        return effect["n"]
    return max(effect["n"], math.ceil((2.1 * sd / abs(effect["mean"])) ** 2) + 1)


def save_claims(rows: list[dict], profile: str, paper: str, n_seeds: int) -> pd.DataFrame:
    """Save the claims table; with fewer than 2 seeds no verdict stands (pairs pooled from one seed are no evidence)."""
    df = pd.DataFrame(rows, columns=["claim", "paper", "ours", "verdict", "note"])
    if n_seeds < 2:
        df["verdict"] = "not tested at this profile"
        df["note"] = "one seed: run the cpu profile (3 seeds) for a verdict"
    unknown = set(df["verdict"]) - set(VERDICTS)
    if unknown:
        raise ValueError(f"unknown verdicts {unknown}; valid: {VERDICTS}")
    return save_table(df, profile, paper, "claims")


def machine() -> dict:
    """What ran: host, CPU threads, torch and kdlib versions, git commit."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "torch": torch.__version__, "kdlib": __version__,
            "commit": commit or "unknown", "cuda": torch.cuda.is_available()}


def paper_vs_ours(paper: pd.DataFrame, ours: pd.DataFrame, on: list[str]) -> pd.DataFrame:
    """Paper rows beside ours, joined on `on` (outer: a row either side lacks shows as missing)."""
    return paper.merge(ours, on=on, how="outer", suffixes=(" (paper)", " (ours)"))
