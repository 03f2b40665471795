"""Paper-profile cost estimates: from each paper module's config, checked against a hand computation."""
import math

import pytest

from kdlib import costs, metrics, papers


def test_every_paper_profile_is_costed():
    for paper in papers.ORDER:
        hours = costs.estimate(paper)
        assert len(hours) >= 1 and all(math.isfinite(h) and h > 0 for h in hours)


def test_gpu_hours_by_hand():
    # 1 GMAC forward -> 6 GFLOP per training image; 1e6 images x 10 epochs = 6e16 FLOP at 100 TFLOP/s = 600 s
    assert metrics.gpu_hours(1e9, 1e6, 10, gpu_tflops=100, utilisation=1.0) == pytest.approx(600 / 3600)


def test_kieu_baselines_by_hand():
    # ResNet-50 at 224 px: 4.09 GMACs (published ~4.1); 3 runs x 10 epochs x 84,635 images x 6 FLOPs per MAC,
    # on 312 TFLOP/s at 35%.
    by_hand = 3 * 6 * 4.09e9 * 84_635 * 10 / (312e12 * 0.35) / 3600
    assert costs.estimate("kieu_sood")["3 baselines"] == pytest.approx(by_hand, rel=0.01)


def test_unknown_paper():
    with pytest.raises(ValueError, match="unknown paper 'park2023'; valid: kieu_sood, park2022"):
        costs.estimate("park2023")


def test_the_summary_takes_the_dry_runs_peak_memory(tmp_path, monkeypatch):
    import pandas as pd
    monkeypatch.setenv("KDLIB_FIGURES", str(tmp_path))
    summary = pd.DataFrame({"notebook": ["a", "b"], "trainings": [1, 2], "epochs": [3, 4], "gpu_hours": [0.5, 1.0]})
    assert costs.with_dryrun_memory(summary).dryrun_peak_rss_mib.isna().all()
    (tmp_path / "dryrun").mkdir()
    pd.DataFrame({"notebook": ["a", "a", "b"], "peak_rss_mib": [100.0, 250.0, 80.0]}).to_csv(tmp_path / "dryrun" / "runs.csv")
    assert costs.with_dryrun_memory(summary).dryrun_peak_rss_mib.tolist() == [250.0, 80.0]
