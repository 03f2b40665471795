"""`make reproduce`: run the paper notebooks headlessly with papermill and write the reproduction report.

python -m kdlib.reproduce --profile cpu [--notebook park2022] [--device auto] [--params my.yaml] [--store-outputs]
Executed copies go to runs/<profile>/notebooks/ (never over the sources); a failure names the notebook and cell,
keeps what finished, and the next call resumes from the run cache.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

from . import files, papers, profiles, report, runs

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = {p: papers.get(p).NOTEBOOK for p in papers.ORDER}  # paper id -> notebook, in the order they run
TITLES = {p: papers.get(p).TITLE for p in papers.ORDER}


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def notebook_parameters(paper: str) -> list[str]:
    """The names in a notebook's `parameters` cell."""
    import papermill as pm
    return list(pm.inspect_notebook(str(ROOT / "notebooks" / NOTEBOOKS[paper])))


def read_params(path: str | Path | None, papers: list[str]) -> dict[str, dict]:
    """A params file (YAML/JSON) {paper: {parameter: value}} checked against each notebook's parameters."""
    if path is None:
        return {}
    import yaml
    params = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(params, dict):
        raise ValueError(f"{path}: expected a mapping {{paper: {{parameter: value}}}}, got {type(params).__name__}")
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
    return {p: v for p, v in params.items() if p in papers}


def run_notebook(paper: str, profile: str, device: str, params: dict | None = None) -> float:
    """Execute one notebook with papermill; returns its wall time in seconds."""
    import papermill as pm
    out = runs.runs_root() / profile / "notebooks" / NOTEBOOKS[paper]
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    pm.execute_notebook(str(ROOT / "notebooks" / NOTEBOOKS[paper]), str(out),
                        parameters={**(params or {}), "profile": profile, "device": device},
                        kernel_name="python3", cwd=str(ROOT / "notebooks"), progress_bar=False)
    return time.perf_counter() - t0


def failed_cell(error) -> str:
    return f"cell {getattr(error, 'exec_count', '?')}: {getattr(error, 'ename', type(error).__name__)}: " \
           f"{str(getattr(error, 'evalue', error))[:300]}"


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


def claims_summary(profile: str) -> pd.DataFrame:
    rows = []
    for paper in NOTEBOOKS:
        path = report.figures_root() / profile / paper / "claims.csv"
        counts = pd.read_csv(path).verdict.value_counts().to_dict() if path.exists() else {}
        rows.append({"paper": TITLES[paper], **{v: counts.get(v, 0) for v in report.VERDICTS}})
    return pd.DataFrame(rows)


def write_report(profile: str, timings: dict, total: float) -> Path:
    """figures/<profile>/REPORT.md and a self-contained REPORT.html: summary, machine, every table, figure, claim."""
    folder = report.figures_root() / profile
    folder.mkdir(parents=True, exist_ok=True)
    m = report.machine()
    md = [f"# Reproduction report: profile `{profile}`", "",
          f"kdlib {m['kdlib']}, commit `{m['commit']}`, torch {m['torch']}, {m['processor']} with {m['threads']} threads"
          f"{', CUDA' if m['cuda'] else ', no GPU'}. Wall time {minutes(total)} "
          f"({', '.join(f'{p} {minutes(s)}' for p, s in timings.items())}).", "",
          "## Claims, per paper", "", claims_summary(profile).to_markdown(index=False), ""]
    html = [f"<h1>Reproduction report: profile {profile}</h1>", f"<p>{md[2]}</p>", "<h2>Claims, per paper</h2>",
            claims_summary(profile).to_html(index=False)]
    for paper in NOTEBOOKS:
        sub = folder / paper
        if not sub.exists():
            continue
        md += [f"## {TITLES[paper]}", ""]
        html.append(f"<h2>{TITLES[paper]}</h2>")
        for csv in sorted(sub.glob("*.csv"), key=lambda p: (p.stem != "claims", p.stem)):
            df = pd.read_csv(csv)
            shown = df.head(60)
            md += [f"### {csv.stem}", "", shown.to_markdown(index=False, floatfmt=".4g"),
                   f"({len(df)} rows; full table: `{paper}/{csv.name}`)" if len(df) > 60 else "", ""]
            html += [f"<h3>{csv.stem}</h3>", shown.to_html(index=False, float_format=lambda v: f"{v:.4g}")]
        for png in sorted(sub.glob("*.png")):
            md += [f"![{png.stem}]({paper}/{png.name})", ""]
            data = base64.b64encode(png.read_bytes()).decode()
            html.append(f'<h3>{png.stem}</h3><img src="data:image/png;base64,{data}" style="max-width:100%">')
    files.write_text(folder / "REPORT.md", "\n".join(md))
    files.write_text(folder / "REPORT.html", "<html><meta charset='utf-8'><body>" + "\n".join(html) + "</body></html>")
    files.write_text(folder / "timings.json", json.dumps({"total_seconds": total, "notebooks": timings}, indent=1))
    if profile == "cpu" and report.figures_root() == ROOT / "figures":
        update_readme(md[2], claims_summary(profile))
    return folder / "REPORT.md"


def update_readme(provenance: str, summary: pd.DataFrame) -> None:
    """Replace the README's generated summary (between its markers) with this run's claim counts."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = "<!-- summary:start -->", "<!-- summary:end -->"
    if start not in text or end not in text:
        return
    body = f"{start}\nClaims by verdict, computed by `make reproduce` ({provenance}):\n\n{summary.to_markdown(index=False)}\n{end}"
    files.write_text(readme, text[:text.index(start)] + body + text[text.index(end) + len(end):])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=profiles.PROFILES)
    parser.add_argument("--notebook", action="append", choices=list(NOTEBOOKS), help="run only these (repeatable)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--params", help="YAML file {paper: {notebook parameter: value}}, e.g. overrides")
    parser.add_argument("--store-outputs", action="store_true", help="copy the outputs into the source notebooks")
    args = parser.parse_args(argv)
    saved_profile = os.environ.get("KDLIB_PROFILE")
    os.environ["KDLIB_PROFILE"] = args.profile  # kernels inherit it: the --profile given here is the one that runs
    try:
        return _run(args)
    finally:
        if saved_profile is None:
            os.environ.pop("KDLIB_PROFILE", None)
        else:
            os.environ["KDLIB_PROFILE"] = saved_profile


PRETRAINED = ["resnet50", "resnet18", "mobilenet_v2"]  # torchvision ImageNet weights the paper profiles load


def prepare_dryrun() -> Path:
    """Stand-in datasets and stand-in ImageNet weights under runs/standins/, and the environment pointing there
    (the kernels inherit it): the paper profile's code then runs for real on data in the real formats."""
    from . import standins
    root = runs.runs_root() / "standins"
    t0 = time.perf_counter()
    missing = [n for n, f in standins.FOLDERS.items() if not (root / "data" / f / standins.MARKER).exists()]
    if missing:
        standins.write(root / "data", missing)
    standins.write_weights(root / "torch", PRETRAINED)
    os.environ.update(KDLIB_DATA=str(root / "data"), TORCH_HOME=str(root / "torch"))
    print(f"dry run: stand-in datasets and weights ready in {root} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return root


def _run(args) -> int:
    papers = args.notebook or list(NOTEBOOKS)
    try:
        params = read_params(args.params, papers)
    except (OSError, ValueError) as error:
        print(f"bad --params: {error}", file=sys.stderr)
        return 2
    if args.profile == "dryrun":
        prepare_dryrun()
    previous = json.loads((report.figures_root() / args.profile / "timings.json").read_text()).get("notebooks", {}) \
        if (report.figures_root() / args.profile / "timings.json").exists() else {}
    timings, start = {}, time.perf_counter()
    for i, paper in enumerate(papers, 1):
        elapsed = time.perf_counter() - start
        left = sum(previous.get(p, 0) for p in papers[i - 1:])
        print(f"[{i}/{len(papers)}] {paper} (profile {args.profile}); elapsed {minutes(elapsed)}"
              + (f", about {minutes(left)} left by the previous run" if left else ""), flush=True)
        try:
            timings[paper] = run_notebook(paper, args.profile, args.device, params.get(paper))
        except Exception as error:  # papermill's execution error carries the cell
            print(f"FAILED: notebook {NOTEBOOKS[paper]}, {failed_cell(error)}\n"
                  f"Finished runs are cached; rerun to resume. Executed copy: runs/{args.profile}/notebooks/",
                  file=sys.stderr)
            return 1
        print(f"      done in {minutes(timings[paper])}", flush=True)
        if args.store_outputs:
            store_outputs(paper, args.profile)
    total = time.perf_counter() - start
    if args.notebook:  # a partial run: the report's total is the sum of every notebook's latest time
        timings = {**previous, **timings}
        total = sum(timings.values())
    path = write_report(args.profile, timings, total)
    print(f"total wall time {minutes(total)}; report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
