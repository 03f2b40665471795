
import pytest

from kdlib import metrics, profiles, report


def effect(mean, half_width, n=3):
    return {"mean": mean, "low": mean - half_width, "high": mean + half_width, "t": 1.0, "p": 0.5, "n": n}


def test_claim_verdicts_follow_the_paired_test():
    strong = metrics.paired_difference([0.80, 0.82, 0.81, 0.83], [0.78, 0.80, 0.795, 0.81])
    assert report.claim("c", "p", strong)["verdict"] == "reproduced"
    assert report.claim("c", "p", strong, direction=-1)["verdict"] == "not reproduced"
    noisy = metrics.paired_difference([0.80, 0.70, 0.90], [0.79, 0.85, 0.75])
    row = report.claim("c", "p", noisy)
    assert row["verdict"] == "inconclusive" and "pairs would resolve" in row["note"]
    assert report.claim("c", "p", None, why_not="not run")["verdict"] == "not tested at this profile"
    one = metrics.paired_difference([0.8], [0.7])
    assert report.claim("c", "p", one)["verdict"] == "not tested at this profile"


def test_noninferiority_and_equivalence_margins():
    assert report.noninferiority("c", "p", effect(-0.001, 0.003), margin=0.005)["verdict"] == "reproduced"
    assert report.noninferiority("c", "p", effect(-0.02, 0.005), margin=0.005)["verdict"] == "not reproduced"
    assert report.noninferiority("c", "p", effect(-0.004, 0.01), margin=0.005)["verdict"] == "inconclusive"
    assert report.equivalence("c", "p", effect(0.001, 0.004), margin=0.01)["verdict"] == "reproduced"
    assert report.equivalence("c", "p", effect(0.03, 0.01), margin=0.01)["verdict"] == "not reproduced"


def test_unknown_verdict_is_rejected():
    with pytest.raises(ValueError, match="unknown verdicts"):
        report.save_claims([{"claim": "c", "paper": "p", "ours": "o", "verdict": "yes", "note": ""}], "smoke", "x", 3)


def test_replace_swaps_a_whole_value():
    base = {"pairs": {"a": 1, "b": 2}, "x": 1}
    assert profiles.merge(base, {"pairs": profiles.Replace({"c": 3})}) == {"pairs": {"c": 3}, "x": 1}
    assert base["pairs"] == {"a": 1, "b": 2}


def test_one_seed_gives_no_verdict(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "ROOT", tmp_path)
    strong = metrics.paired_difference([0.80, 0.82, 0.81, 0.83], [0.78, 0.80, 0.795, 0.81])
    df = report.save_claims([report.claim("c", "p", strong)], "smoke", "x", n_seeds=1)
    assert df.verdict.tolist() == ["not tested at this profile"]
    assert (tmp_path / "figures" / "smoke" / "x" / "claims.csv").exists()
