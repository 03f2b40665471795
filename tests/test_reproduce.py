"""The papermill path end to end at the smoke profile: every notebook runs, and its result files are well formed.

Runs with the repository's runs/ cache, so the nbval pass over notebooks/ that follows in `make test` reuses it.
"""
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from kdlib import claims, eta, reproduce

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def smoke_run():
    old = os.environ.pop("KDLIB_RUNS", None)
    try:
        assert reproduce.main(["--profile", "smoke"]) == 0
    finally:
        if old is not None:
            os.environ["KDLIB_RUNS"] = old
    return ROOT / "figures" / "smoke"


@pytest.mark.parametrize("paper", list(reproduce.NOTEBOOKS))
def test_claims_tables_are_well_formed(smoke_run, paper):
    table = pd.read_csv(smoke_run / paper / "claims.csv")
    assert list(table.columns) == claims.COLUMNS
    assert len(table) >= 4 and set(table.verdict) <= set(claims.VERDICTS)
    coverage = pd.read_csv(smoke_run / paper / "coverage.csv")
    assert set(coverage.status) <= {"regenerated", "not run at this profile", "quoted only"}
    assert (ROOT / "runs" / "smoke" / "notebooks" / reproduce.NOTEBOOKS[paper]).exists()
    assert any(smoke_run.joinpath(paper).glob("*.png")), "every notebook draws at least one figure"


def test_report_summarises_every_paper(smoke_run):
    text = (smoke_run / "REPORT.md").read_text()
    for title in reproduce.TITLES.values():
        assert title in text
    assert "Wall time" in text and (smoke_run / "report" / "index.html").exists()
    assert all((smoke_run / "report" / f"{paper}.html").stat().st_size > 10_000 for paper in reproduce.NOTEBOOKS)
    assert (smoke_run / "runs.csv").exists()


def test_failure_names_the_notebook_and_cell(monkeypatch, capsys):
    def boom(paper, profile, device, params=None):
        error = RuntimeError("boom")
        error.exec_count, error.ename, error.evalue = 7, "ValueError", "bad"
        raise error
    monkeypatch.setattr(reproduce, "run_notebook", boom)
    assert reproduce.main(["--profile", "smoke", "--notebook", "park2022"]) == 1
    err = capsys.readouterr().err
    assert "park2022_prune_then_distill.ipynb" in err and "cell 7: ValueError: bad" in err


def test_a_truncated_timings_file_only_loses_the_eta(tmp_path, monkeypatch):
    monkeypatch.setenv("KDLIB_FIGURES", str(tmp_path))
    monkeypatch.setenv("KDLIB_RUNS", str(tmp_path / "runs"))
    (tmp_path / "smoke").mkdir()
    (tmp_path / "smoke" / "runs.csv").write_text("notebook,run,computed,wall_seconds\npark2022,train-a,True,100\n")
    (tmp_path / "smoke" / "timings.json").write_text('{"notebooks": {"park20')
    assert eta.eta("smoke", ["park2022"]) == ""
    (tmp_path / "smoke" / "timings.json").write_text('{"notebooks": {"park2022": 120}, "gflops": 50}')
    assert "left (1 of 1 runs to compute; the reference run's times x" in eta.eta("smoke", ["park2022"])


def _cache(root, run_id):
    (root / "cache" / run_id).mkdir(parents=True)
    (root / "cache" / run_id / "manifest.json").write_text("{}")


def _reference_run(tmp_path, monkeypatch):
    """A committed cpu run: park2022 computed a and b (100 + 300 s) and took c (50 s) from its cache in 450 s; here b
    is cached."""
    monkeypatch.setenv("KDLIB_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv("KDLIB_RUNS", str(tmp_path / "runs"))
    (tmp_path / "figures" / "cpu").mkdir(parents=True)
    (tmp_path / "figures" / "cpu" / "runs.csv").write_text(
        "notebook,run,computed,wall_seconds\npark2022,a,True,100\npark2022,b,True,300\npark2022,c,False,50\n"
        "kieu_sood,d,True,7\n")
    (tmp_path / "figures" / "cpu" / "timings.json").write_text('{"notebooks": {"park2022": 450}, "gflops": 100}')
    _cache(tmp_path / "runs", "b")


def test_the_eta_counts_the_runs_not_cached_here_and_the_notebooks_overhead(tmp_path, monkeypatch):
    """A reference run (probe 100 GFLOP/s) computed a and b (100 s + 300 s) in a 450 s notebook and took c (50 s) from
    its cache: 50 s overhead. Here (probe 50: half as fast) b is cached, so a, c and the overhead are left: 2 x 200 s."""
    _reference_run(tmp_path, monkeypatch)
    monkeypatch.setattr(eta.device, "speed_probe", lambda: 50.0)
    assert eta.eta("cpu", ["park2022"]) == ("about 6m40s left (2 of 3 runs to compute; the reference run's times "
                                            "x 2.00, from this machine's speed probe)")
    # this machine's own last run wins, unscaled: it computed only c (50 s) in a 60 s notebook; now a and c are cached
    log = tmp_path / "runs" / "cpu" / "runlog" / "park2022.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("".join(json.dumps(r) + "\n" for r in [
        {"run": "a", "computed": False, "wall_seconds": 100}, {"run": "b", "computed": False, "wall_seconds": 300},
        {"run": "c", "computed": True, "wall_seconds": 50}, {"run": "c", "computed": False, "wall_seconds": 50}])
        + '{"run": "cut by a ki')  # c asked for again by a later cell: still computed in that run
    eta.local_timings_path("cpu").write_text('{"notebooks": {"park2022": 60}}')
    _cache(tmp_path / "runs", "a")
    _cache(tmp_path / "runs", "c")
    assert eta.eta("cpu", ["park2022"]) == "about 0m10s left (0 of 3 runs to compute; this machine's last run)"
    assert eta.eta("cpu", ["park2022", "malihi2024"]) == ""  # a notebook no run knows: no ETA rather than a wrong one


def test_the_cold_estimate_counts_every_run_and_the_overhead_whatever_is_cached(tmp_path, monkeypatch):
    """The same reference run from an empty cache: a + b + c (100 + 300 + 50 s) plus 50 s overhead = 500 s, even with
    b cached here; kieu_sood, without a wall time in timings.json, is left out rather than guessed."""
    _reference_run(tmp_path, monkeypatch)
    assert eta.cold_seconds("cpu") == {"park2022": 500.0}
