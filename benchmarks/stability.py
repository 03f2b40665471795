"""Do the verdicts depend on the machine? Two cpu-profile runs of the same commit side by side, claim by claim.

python benchmarks/stability.py A B [--label-a "2 threads"] [--label-b "1 thread"] [--note "..."] [--out FILE]
A and B are figures folders of the cpu profile (each with <paper>/claims.csv and timings.json), e.g. figures/cpu and
the folder a second cold run on another machine, or with OMP_NUM_THREADS=1, wrote (KDLIB_FIGURES=... make reproduce).
The issue's criterion: every claim gets the same verdict in both runs; a flip between reproduced and not reproduced
is the serious kind of difference, counted apart.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

DECIDED = {"reproduced", "not reproduced"}


def _cell(row: pd.Series) -> str:
    """The verdict and the claim's own summary of the effect (its unit and interval as the report prints them)."""
    ours = row.get("ours")
    return str(row["verdict"]) + (f": {ours}" if isinstance(ours, str) and ours else "")


def _machine(folder: Path) -> str:
    try:
        t = json.loads((folder / "timings.json").read_text())
        return f"{t.get('cpu')}, {t.get('threads')} threads, {t.get('gflops', float('nan')):.0f} GFLOP/s probe"
    except (OSError, ValueError):
        return "machine not recorded"


def compare(a: Path, b: Path) -> pd.DataFrame:
    """One row per claim run in both folders: both verdicts, both effects, and how they differ."""
    rows = []
    for paper_dir in sorted(p for p in b.iterdir() if (p / "claims.csv").exists() and (a / p.name / "claims.csv").exists()):
        x, y = pd.read_csv(a / paper_dir.name / "claims.csv"), pd.read_csv(paper_dir / "claims.csv")
        for _, m in x.merge(y, on="id", suffixes=("", "_b")).iterrows():
            ra = m[x.columns]
            rb = pd.Series({c: m[c if c == "id" else f"{c}_b"] for c in x.columns if c == "id" or f"{c}_b" in m})
            same = ra["verdict"] == rb["verdict"]
            flip = not same and {ra["verdict"], rb["verdict"]} == DECIDED
            rows.append({"paper": paper_dir.name, "claim": ra["id"], "a": _cell(ra), "b": _cell(rb), "same": same,
                         "kind": "same" if same else "flip" if flip else "decided in one, inconclusive or untested in the other"})
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame, a: Path, b: Path, label_a: str, label_b: str, note: str = "") -> str:
    lines = [f"# Verdict stability: {label_a} vs {label_b}", "",
             f"Written by `benchmarks/stability.py`. {label_a}: `{a}` ({_machine(a)}); {label_b}: `{b}` ({_machine(b)}).", ""]
    lines += [note, ""] if note else []
    for paper, t in table.groupby("paper", sort=False):
        flips = int((t.kind == "flip").sum())
        lines += [f"## {paper}: {int(t.same.sum())} of {len(t)} verdicts the same, {flips} flipped between reproduced and "
                  f"not reproduced", "", f"| claim | {label_a} | {label_b} |", "|---|---|---|"]
        lines += [f"| {r.claim} | {r.a} | {r.b if r.same else '**' + r.b + '**'} |" for r in t.itertuples()]
        lines.append("")
    lines.append(f"Overall: {int(table.same.sum())} of {len(table)} verdicts the same; "
                 f"{int((table.kind == 'flip').sum())} flipped between reproduced and not reproduced.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--label-a", default="run A")
    parser.add_argument("--label-b", default="run B")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--note", default="", help="how the two runs were made (a paragraph under the title)")
    args = parser.parse_args(argv)
    table = compare(args.a, args.b)
    if table.empty:
        parser.error(f"no paper has a claims.csv in both {args.a} and {args.b}")
    text = markdown(table, args.a, args.b, args.label_a, args.label_b, args.note)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
