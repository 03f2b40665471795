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


def test_kieu_baselines_by_hand(tmp_path, monkeypatch):
    monkeypatch.setenv("KDLIB_FIGURES", str(tmp_path))  # no collected table: the module's component estimate
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


def test_a_collected_table_is_preferred(tmp_path, monkeypatch):
    import pandas as pd
    monkeypatch.setenv("KDLIB_FIGURES", str(tmp_path))
    (tmp_path / "paper").mkdir()
    pd.DataFrame({"notebook": ["kieu_sood"], "runs": [9], "trainings": [7], "epochs": [70], "gpu_hours": [2.5]}).to_csv(
        tmp_path / "paper" / "cost_summary.csv", index=False)
    assert costs.estimate("kieu_sood").to_dict() == {"7 trainings, 2.5 GPU-h (collected)": 2.5}


@pytest.mark.slow
def test_the_synthesis_paper_plan_is_collected_whole():
    """Every run of the synthesis at the paper profile, in one collect pass (its Park & No students are shaped by
    pruned teachers that do not exist yet). By hand: 1 teacher; 2 x 3 dense students; Malihi 2 methods x 4 targets
    x 3 seeds = 24 prunes + 24 last-layer fine-tunes; LR rewinding to 95% at 20% per round = 13 rounds (0.8^13 =
    0.055), 13 prunes + 13 trainings; 4 x 3 Park students; DG2PF and its 2 baselines x 4 targets x 3 seeds = 36."""
    from kdlib.reproduce import prepare_dryrun
    prepare_dryrun()
    table = costs.collected("synthesis")
    assert len(table) == 1 + 6 + 48 + 26 + 12 + 36
    assert (table.stage == "dg2pf").sum() == 36 and (table.model == "cifar_resnet18_custom").sum() == 12
    assert (table.epochs > 0).sum() == 1 + 6 + 24 + 13 + 12 + 36
