"""The paper profile, proven without a GPU: every notebook at the paper's architectures, input sizes, class counts and
stage graph on stand-in datasets in the real on-disk formats, every training capped at a few steps (profile dryrun)."""
import pandas as pd
import pytest

from kdlib import papers, reproduce

OK = {"regenerated", "not run at this profile", "quoted only"}


@pytest.mark.slow
@pytest.mark.dryrun
def test_the_dry_run_regenerates_every_table_and_figure_or_says_why_not(tmp_path, monkeypatch):
    monkeypatch.setenv("KDLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("KDLIB_FIGURES", str(tmp_path / "figures"))
    assert reproduce.main(["--profile", "dryrun"]) == 0
    for paper in papers.ORDER:
        coverage = pd.read_csv(tmp_path / "figures" / "dryrun" / paper / "coverage.csv")
        assert set(coverage.status) <= OK, coverage[~coverage.status.isin(OK)].to_string()
        assert (coverage.status == "regenerated").any() and coverage.detail.notna().all()
        not_run = coverage[coverage.status == "not run at this profile"]
        assert not_run.detail.str.len().gt(10).all(), "every item out of reach says why"
    table = pd.read_csv(tmp_path / "figures" / "dryrun" / "runs.csv")
    trained = table[table.stage.isin(["train", "dg2pf"])]
    assert len(trained) and trained.seconds_per_step.gt(0).all() and table.peak_rss_mib.gt(0).all()
    assert (tmp_path / "figures" / "dryrun" / "report" / "index.html").exists()
