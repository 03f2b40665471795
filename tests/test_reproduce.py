"""The papermill path end to end at the smoke profile: every notebook runs, and its result files are well formed.

Runs with the repository's runs/ cache, so the nbval pass over notebooks/ that follows in `make test` reuses it.
"""
import os
from pathlib import Path

import pandas as pd
import pytest

from kdlib import claims, reproduce

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
    (tmp_path / "smoke").mkdir()
    (tmp_path / "smoke" / "timings.json").write_text('{"notebooks": {"park20')
    assert reproduce.eta("smoke", ["park2022"]) == ""
    (tmp_path / "smoke" / "timings.json").write_text('{"notebooks": {"park2022": 120}, "gflops": 50}')
    assert "left (reference run x" in reproduce.eta("smoke", ["park2022"])
