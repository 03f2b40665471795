"""The reproduction report of a profile: figures/<profile>/REPORT.md (for reading on GitHub) and an HTML site,
figures/<profile>/report/index.html plus one page per notebook, built from the executed notebooks (their prose,
tables and figures in order, code hidden), and the README summary (cpu profile only)."""
from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from . import claims, files, papers, report, runs

VERDICT_MEANING = {
    "reproduced": "our effect has the paper's direction (or meets its stated margin) with the 95% interval clear of "
                  "zero (or of the margin), after Holm adjustment over the paper's claims.",
    "not reproduced": "the interval lies entirely on the other side: our data contradict the claim.",
    "inconclusive": "neither: the note gives the number of independent units a t-based power analysis needs.",
    "not tested at this profile": "the profile cannot run it, or a precondition failed (named in the note), so no "
                                  "verdict is given.",
}
CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
line-height:1.5;color:#222} h1,h2,h3{line-height:1.2} table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top} th{background:#f3f3f3}
.verdict-reproduced{background:#e3f4e1}.verdict-not-reproduced{background:#fbe3e0}.verdict-inconclusive{background:#fdf6d8}
.verdict-not-tested-at-this-profile{background:#eee} nav a{margin-right:1em} .meta{color:#555;font-size:.9em}
img{max-width:100%}
"""


def _page(title: str, body: str) -> str:
    check = ("<script>window.addEventListener('load',()=>{const imgs=[...document.images];document.body.dataset."
             "imagesOk=String(imgs.every(i=>i.complete&&i.naturalWidth>0));document.body.dataset.images=imgs.length;});"
             "</script>")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style>{check}</head><body>{body}</body></html>")


def claims_summary(profile: str) -> pd.DataFrame:
    """Claims by verdict per notebook of `profile` (from each claims.csv)."""
    rows = []
    for paper in papers.ORDER:
        path = report.figures_root() / profile / paper / "claims.csv"
        counts = pd.read_csv(path).verdict.value_counts().to_dict() if path.exists() else {}
        rows.append({"paper": papers.get(paper).TITLE, **{v: counts.get(v, 0) for v in claims.VERDICTS}})
    return pd.DataFrame(rows)


def runlog_path(profile: str, paper: str) -> Path:
    """Where `paper`'s notebook logs the runs it used at `profile` (written by runner._log_run via $KDLIB_RUNLOG)."""
    return runs.runs_root() / profile / "runlog" / f"{paper}.jsonl"


def runlog_runs(profile: str, paper: str) -> dict[str, dict]:
    """The notebook's last run log, one row per run: a run is logged each time a cell asks for it, and counts as
    computed if any of those computed it; a line cut by a kill is skipped."""
    path, rows = runlog_path(profile, paper), {}
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        done = bool(row.get("computed")) or rows.get(row["run"], {}).get("computed", False)
        rows[row["run"]] = {**row, "computed": done}
    return rows


def run_counts(profile: str, paper: str) -> dict:
    """From the notebook's last run log: its distinct runs, how many were computed (not taken from the cache) in that
    execution, and the seconds those runs took when they were computed (whenever that was)."""
    rows = runlog_runs(profile, paper)
    return {"runs": len(rows), "computed": sum(r["computed"] for r in rows.values()),
            "compute_seconds": sum(float(r.get("wall_seconds") or 0) for r in rows.values())}


def _timing(profile: str, paper: str, seconds: float) -> str:
    """A notebook's wall time, and when some runs came from the cache, what its runs cost when computed."""
    c = run_counts(profile, paper)
    if not c["runs"] or c["computed"] == c["runs"]:
        return f"{paper} {minutes(seconds)}"
    return (f"{paper} {minutes(seconds)} with {c['runs'] - c['computed']} of {c['runs']} runs from the cache "
            f"(all its runs computed: {minutes(c['compute_seconds'])})")


def provenance(total: float, timings: dict, profile: str = "cpu") -> str:
    """One line: code version (commit, dirty or not), machine, torch, threads, speed probe, wall times (a notebook
    that resumed from cached runs says so: its wall time is then not a cold time)."""
    m = report.machine()
    dirty = " (with uncommitted changes)" if m.get("dirty") else ""
    return (f"kdlib {m['kdlib']}, commit `{m['commit']}`{dirty}, torch {m['torch']}, {m['processor']} with "
            f"{m['threads']} threads ({m['gflops']:.0f} GFLOP/s fp32 probe){', CUDA' if m['cuda'] else ', no GPU'}. "
            f"Wall time {minutes(total)} ({'; '.join(_timing(profile, p, s) for p, s in timings.items())}).")


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def _claims_html(df: pd.DataFrame) -> str:
    cols = [c for c in ("id", "claim", "paper", "ours", "unit", "n", "p", "p_adjusted", "precondition", "verdict", "note")
            if c in df]
    rows = []
    for _, r in df[cols].iterrows():
        css = "verdict-" + str(r["verdict"]).replace(" ", "-")
        cells = "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r)
        rows.append(f"<tr class='{css}'>{cells}</tr>")
    head = "".join(f"<th>{c}</th>" for c in cols)
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _fmt(v) -> str:
    if isinstance(v, float):
        return "-" if pd.isna(v) else f"{v:.3g}"
    return str(v)


def _scale(profile: str, paper: str) -> str:
    """The scale of the run: where this profile deviates from the paper (from the notebook's fidelity table)."""
    path = report.figures_root() / profile / paper / "fidelity.csv"
    if not path.exists():
        return ""
    df = pd.read_csv(path)
    col = df.columns[-1]
    deviations = df[df[col] != "same"] if col not in ("source",) else df.iloc[0:0]
    if deviations.empty:
        return "<p class='meta'>This profile runs the paper's settings.</p>"
    items = "; ".join(f"{html.escape(str(r.hyperparameter))} = {html.escape(str(r[col]))}"
                      for _, r in deviations.head(40).iterrows())
    more = f" (and {len(deviations) - 40} more: fidelity.csv)" if len(deviations) > 40 else ""
    return f"<p class='meta'><b>Scale of this run</b> (where profile {profile} deviates from the paper): {items}{more}</p>"


def notebook_page(profile: str, paper: str) -> str | None:
    """The executed notebook as HTML, code hidden, with the run's scale on top; None if it was not executed."""
    import nbformat
    from nbconvert import HTMLExporter
    module = papers.get(paper)
    executed = runs.runs_root() / profile / "notebooks" / module.NOTEBOOK
    if not executed.exists():
        return None
    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
    nav = "<nav><a href='index.html'>Index</a></nav>"
    return _page(f"{module.TITLE} ({profile})", nav + _scale(profile, paper) + body)


def write(profile: str, timings: dict, total: float) -> Path:
    """REPORT.md, the HTML site and timings.json for `profile`; the README summary for the cpu profile."""
    folder = report.figures_root() / profile
    site = folder / "report"
    site.mkdir(parents=True, exist_ok=True)
    line, summary = provenance(total, timings, profile), claims_summary(profile)
    md = [f"# Reproduction report: profile `{profile}`", "", line, "",
          "Verdicts: " + " ".join(f"**{k}**: {v}" for k, v in VERDICT_MEANING.items()), "",
          "## Claims, per paper", "", summary.to_markdown(index=False), "",
          "The full report with every notebook's prose, tables and figures: `report/index.html`; the exact package "
          "versions: `environment.txt`.", ""]
    index = [f"<h1>Reproduction report: profile {html.escape(profile)}</h1>", f"<p class='meta'>{html.escape(line)}</p>",
             "<h2>What the verdicts mean</h2><ul>" + "".join(f"<li><b>{k}</b>: {html.escape(v)}</li>"
                                                            for k, v in VERDICT_MEANING.items()) + "</ul>",
             "<h2>Claims, per paper</h2>", summary.to_html(index=False), "<h2>Contents</h2><ul>"]
    for paper in papers.ORDER:
        page = notebook_page(profile, paper)
        if page is not None:
            files.write_text(site / f"{paper}.html", page)
            index.append(f"<li><a href='{paper}.html'>{html.escape(papers.get(paper).TITLE)}</a></li>")
    index.append("</ul>")
    for paper in papers.ORDER:
        md, index = _paper_sections(profile, paper, md, index)
    files.write_text(folder / "REPORT.md", "\n".join(md))
    files.write_text(site / "index.html", _page(f"Reproduction report: {profile}", "\n".join(index)))
    m = report.machine()
    files.write_text(folder / "environment.txt", pip_freeze())
    files.write_text(folder / "timings.json", json.dumps({"total_seconds": total, "notebooks": timings, "cpu": m["processor"],
                                                          "threads": m["threads"], "gflops": m["gflops"]}, indent=1))
    if profile == "cpu" and report.figures_root() == report.ROOT / "figures":
        update_readme(line, summary)
    return folder / "REPORT.md"


def _paper_sections(profile: str, paper: str, md: list, index: list) -> tuple[list, list]:
    sub = report.figures_root() / profile / paper
    if not (sub / "claims.csv").exists():
        return md, index
    title = papers.get(paper).TITLE
    df = pd.read_csv(sub / "claims.csv")
    md += [f"## {title}", "", "### Claims", "", df[[c for c in ("id", "claim", "ours", "n", "p_adjusted", "verdict", "note")
                                                    if c in df]].to_markdown(index=False), ""]
    index += [f"<h2 id='{paper}'>{html.escape(title)}: claims</h2>", _scale(profile, paper), _claims_html(df)]
    if (sub / "coverage.csv").exists():
        cov = pd.read_csv(sub / "coverage.csv")
        md += ["### Coverage of the paper's tables and figures", "", cov.to_markdown(index=False), ""]
        index += ["<h3>Coverage of the paper's tables and figures</h3>", cov.to_html(index=False)]
    md += [f"![{p.stem}]({paper}/{p.name})" for p in sorted(sub.glob("*.png"))] + [""]
    return md, index


def pip_freeze() -> str:
    """The exact package versions of this environment (`pip freeze`), kept beside the results."""
    import subprocess
    import sys
    try:
        return subprocess.run([sys.executable, "-m", "pip", "freeze", "--disable-pip-version-check"], capture_output=True,
                              text=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return f"pip freeze failed: {e}\n"


def replace_section(name: str, body: str) -> bool:
    """Replace the README's generated section `name` (between <!-- name:start --> and <!-- name:end -->)."""
    readme = report.ROOT / "README.md"
    text = readme.read_text()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        return False
    files.write_text(readme, text[:text.index(start)] + f"{start}\n{body}\n{end}" + text[text.index(end) + len(end):])
    return True


def update_readme(provenance_line: str, summary: pd.DataFrame) -> None:
    """Replace the README's generated summary (between its markers) with this run's claim counts."""
    replace_section("summary", f"Claims by verdict, computed by `make reproduce` ({provenance_line}):\n\n"
                               f"{summary.to_markdown(index=False)}")
