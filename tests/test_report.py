"""Results out: the claims table through the one engine, the coverage table, plateau checks."""
import os
import time

import pandas as pd

from kdlib import claims, metrics, profiles, report


def test_replace_swaps_a_whole_value():
    base = {"pairs": {"a": 1, "b": 2}, "x": 1}
    assert profiles.merge(base, {"pairs": profiles.Replace({"c": 3})}) == {"pairs": {"c": 3}, "x": 1}
    assert base["pairs"] == {"a": 1, "b": 2}


def test_save_claims_applies_holm_and_writes_the_csv(tmp_path, monkeypatch):
    monkeypatch.setenv("KDLIB_FIGURES", str(tmp_path))
    claim = claims.Claim("1", "ours beats the control", "paper: +1", "seed", "control", scale=100, units="points")
    rows = [claims.evaluate(claim, [0.80, 0.82, 0.81, 0.83], [0.78, 0.80, 0.795, 0.81]),
            claims.not_tested(claims.Claim("2", "needs a GPU", "Table 3", "seed", "-"), "TinyImageNet only at paper")]
    df = report.save_claims(rows, "smoke", "x")
    assert df.verdict.tolist() == ["reproduced", "not tested at this profile"]
    assert list(pd.read_csv(tmp_path / "smoke" / "x" / "claims.csv").columns) == claims.COLUMNS


def test_coverage_counts_only_what_this_run_wrote(tmp_path, monkeypatch):
    monkeypatch.setenv("KDLIB_FIGURES", str(tmp_path))
    stale = report.save_table(pd.DataFrame({"a": [1]}), "cpu", "x", "table2")
    os.utime(report.out_dir("cpu", "x") / "table2.csv", (time.time() - 60, time.time() - 60))
    report.start("cpu", "x")
    report.save_table(stale, "cpu", "x", "table1")
    items = [report.Item("Table 1", "t1", ("table1",)), report.Item("Table 2", "t2", ("table2",)),
             report.Item("Table 3", "t3", ("table3",), not_at={"cpu": "TinyImageNet"}),
             report.Item("Table 7", "others' numbers", quoted="lost in the extraction")]
    status = report.save_coverage(items, "cpu", "x").set_index("item").status
    assert status.to_dict() == {"Table 1": "regenerated", "Table 2": "missing", "Table 3": "not run at this profile",
                                "Table 7": "quoted only"}


def test_plateau_and_precondition_checks():
    rising = pd.DataFrame({"val_top1": [0.5, 0.6, 0.7, 0.75, 0.8, 0.84, 0.87, 0.9, 0.93, 0.95]})
    flat = pd.DataFrame({"val_top1": [0.5, 0.8, 0.9, 0.901, 0.899, 0.902, 0.898, 0.9, 0.903, 0.899, 0.901]})
    assert not metrics.plateaued(rising)[0] and metrics.plateaued(flat)[0]
    good = claims.check_superior("KD beats alone", [0.9, 0.91, 0.92, 0.9], [0.8, 0.82, 0.81, 0.8])
    bad = claims.check_superior("KD beats alone", [0.8, 0.91, 0.7], [0.8, 0.82, 0.81])
    assert good.passed and not bad.passed and "points" in good.detail
    assert claims.check_at_least("teacher", 0.9, 0.85).passed and not claims.check_at_least("t", 0.8, 0.85).passed


def test_outputs_alone_do_not_make_the_tree_dirty(monkeypatch):
    """A run rewrites README.md and figures/: the provenance must not call that uncommitted code (the first porcelain
    line, " M README.md", lost its leading space to a strip() and read as a change to "EADME.md")."""
    import subprocess

    def status(lines):
        return lambda cmd, **kw: subprocess.CompletedProcess(cmd, 0, stdout=lines if "status" in cmd else "abc123\n")
    monkeypatch.setattr(report.subprocess, "run", status(" M README.md\n M figures/cpu/REPORT.md\n"))
    assert report.machine()["dirty"] is False
    monkeypatch.setattr(report.subprocess, "run", status(" M README.md\n M kdlib/train.py\n"))
    assert report.machine()["dirty"] is True
