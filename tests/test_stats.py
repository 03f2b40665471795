import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from kdlib import stats

REPS = 20_000  # simulated replicates per condition: a rate's standard error is at most 0.0035


def _verdicts(d: np.ndarray, **design) -> np.ndarray:
    """Verdicts of stats.from_summary (the engine behind compare) for each row of simulated differences."""
    return stats.from_summary(d.mean(axis=1), d.std(axis=1, ddof=1), d.shape[1], **design)["verdict"]


def _rate(verdicts: np.ndarray, verdict: str = "reproduced") -> float:
    return float((verdicts == verdict).mean())


# ---------------------------------------------------------------- compare against hand computation
def test_superiority_matches_hand_computed_interval_and_ttest_rel():
    ours, base = [71, 73, 70, 74, 72], [69, 70, 70, 71, 69]  # differences 2, 3, 0, 3, 3
    # mean 11/5 = 2.2; squared deviations 0.04 + 0.64 + 4.84 + 0.64 + 0.64 = 6.8; variance 6.8 / 4 = 1.7
    q = sps.t.ppf(0.975, 4)
    r = stats.compare(ours, base)
    assert r["n"] == 5 and r["kind"] == "superiority" and r["margin"] == 0
    assert r["effect"] == pytest.approx(2.2) and r["sd"] == pytest.approx(math.sqrt(1.7))
    assert r["ci_low"] == pytest.approx(2.2 - q * math.sqrt(1.7 / 5))
    assert r["ci_high"] == pytest.approx(2.2 + q * math.sqrt(1.7 / 5))
    assert r["p"] == pytest.approx(sps.ttest_rel(ours, base).pvalue, rel=1e-12)
    assert r["ci_low"] > 0 and r["verdict"] == "reproduced" and r["p_opposite"] == 1.0
    flipped = stats.compare(base, ours)
    assert flipped["verdict"] == "not reproduced" and flipped["p"] == pytest.approx(r["p"])
    assert flipped["p_opposite"] == pytest.approx(2 * sps.ttest_rel(base, ours, alternative="less").pvalue)


def test_non_inferiority_p_is_the_two_sided_test_of_minus_margin():
    ours, base = np.array([71, 73, 70, 74, 72.0]), np.array([72, 72, 71, 73, 72.5])
    d = ours - base
    r = stats.compare(ours, base, kind="non_inferiority", margin=2)
    assert r["p"] == pytest.approx(sps.ttest_1samp(d, -2).pvalue, rel=1e-12)
    assert r["p_opposite"] == pytest.approx(min(1, 2 * sps.ttest_1samp(d, -2, alternative="less").pvalue))
    q = sps.t.ppf(0.975, 4)
    assert r["ci_low"] == pytest.approx(d.mean() - q * d.std(ddof=1) / math.sqrt(5))
    assert r["verdict"] == ("reproduced" if r["ci_low"] > -2 else "inconclusive")
    assert stats.compare(ours, base, kind="non_inferiority", margin=0.1)["verdict"] == "inconclusive"
    assert stats.compare(ours - 3, base, kind="non_inferiority", margin=0.1)["verdict"] == "not reproduced"


def test_equivalence_is_tost_at_alpha_over_two_each_side():
    d = np.array([0.1, -0.2, 0.3, 0.0, -0.1, 0.2])
    base = np.linspace(50, 60, 6)
    r = stats.compare(base + d, base, kind="equivalence", margin=0.5)
    p_lower = sps.ttest_1samp(d, -0.5, alternative="greater").pvalue
    p_upper = sps.ttest_1samp(d, 0.5, alternative="less").pvalue
    assert r["p"] == pytest.approx(min(1, 2 * max(p_lower, p_upper)), rel=1e-9)
    opposite = min(sps.ttest_1samp(d, -0.5, alternative="less").pvalue,
                   sps.ttest_1samp(d, 0.5, alternative="greater").pvalue)
    assert r["p_opposite"] == pytest.approx(min(1, 2 * opposite), rel=1e-9)
    assert r["verdict"] == "reproduced" and -0.5 < r["ci_low"] and r["ci_high"] < 0.5
    assert stats.compare(base + d, base, kind="equivalence", margin=0.15)["verdict"] == "inconclusive"
    far = stats.compare(base + d + 2, base, kind="equivalence", margin=0.5)
    assert far["verdict"] == "not reproduced" and far["ci_low"] > 0.5 and far["p_opposite"] < 0.05


@pytest.mark.parametrize("kind, margin", [("superiority", 0), ("non_inferiority", 0.3), ("equivalence", 0.6)])
def test_verdict_and_p_always_agree(kind, margin):
    rng = np.random.default_rng(7)
    n = rng.integers(2, 12, 4000)
    effect, sd = rng.normal(0, 0.6, 4000), rng.uniform(0.05, 1.5, 4000)
    r = stats.from_summary(effect, sd, n, kind=kind, margin=margin)
    side = np.array([stats.on_claim_side(e, kind, margin) for e in effect])
    assert ((r["verdict"] == "reproduced") == ((r["p"] < 0.05) & side)).all()
    assert ((r["verdict"] == "not reproduced") == (r["p_opposite"] < 0.05)).all()
    assert {"reproduced", "not reproduced", "inconclusive"} == set(r["verdict"])
    for i in range(40):  # compare() on data with these summaries gives the same answer
        base = rng.normal(size=n[i])
        x = rng.normal(size=n[i])
        x = (x - x.mean()) / x.std(ddof=1) * sd[i] + effect[i]
        one = stats.compare(base + x, base, kind=kind, margin=margin)
        assert one["verdict"] == r["verdict"][i] and one["p"] == pytest.approx(r["p"][i], rel=1e-6, abs=1e-12)


def test_zero_variance_gives_the_point_and_p_zero_or_one():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        up = stats.compare([1.5, 2.5, 3.5], [0.5, 1.5, 2.5])
        same = stats.compare([1.5, 2.5, 3.5], [1.5, 2.5, 3.5])
        inside = stats.compare([1.5, 2.5, 3.5], [1.0, 2.0, 3.0], kind="equivalence", margin=1)
        outside = stats.compare([1.5, 2.5, 3.5], [1.0, 2.0, 3.0], kind="equivalence", margin=0.25)
        ni = stats.compare([1.5, 2.5, 3.5], [2.5, 3.5, 4.5], kind="non_inferiority", margin=1)
    assert (up["ci_low"], up["ci_high"], up["sd"], up["p"], up["verdict"]) == (1, 1, 0, 0, "reproduced")
    assert (same["p"], same["p_opposite"], same["verdict"]) == (1, 1, "inconclusive")
    assert (inside["p"], inside["verdict"]) == (0, "reproduced")
    assert (outside["p"], outside["p_opposite"], outside["verdict"]) == (1, 0, "not reproduced")
    assert (ni["ci_low"], ni["p"], ni["verdict"]) == (-1, 1, "inconclusive")  # exactly on the margin


@pytest.mark.parametrize("args, kwargs, message", [
    (([1, 2, 3], [1, 2]), {}, "paired by index"),
    (([1], [2]), {}, "at least 2"),
    (([1, np.nan, 3], [1, 2, 3]), {}, "non-finite"),
    (([1, 2, 3], [1, 2, np.inf]), {}, "non-finite"),
    (([1, 2, 3], [0, 1, 2]), {"kind": "non_inferiority", "margin": -1}, ">= 0"),
    (([1, 2, 3], [0, 1, 2]), {"kind": "equivalence", "margin": 0}, "margin > 0"),
    (([1, 2, 3], [0, 1, 2]), {"kind": "non_inferiority"}, "margin > 0"),
    (([1, 2, 3], [0, 1, 2]), {"margin": 1}, "superiority takes no margin"),
    (([1, 2, 3], [0, 1, 2]), {"kind": "superior"}, "unknown kind"),
    (([1, 2, 3], [0, 1, 2]), {"alpha": 1.5}, "alpha"),
])
def test_compare_rejects_bad_input_with_one_clear_error(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        stats.compare(*args, **kwargs)


# ---------------------------------------------------------------- calibration by simulation
@pytest.mark.parametrize("n", [3, 5, 10])
def test_false_reproduced_rate_at_the_line_is_at_most_alpha(n):
    rng = np.random.default_rng(100 + n)
    null = _rate(_verdicts(rng.normal(0.0, 1.0, (REPS, n))))
    at_margin = _rate(_verdicts(rng.normal(-0.5, 1.0, (REPS, n)), kind="non_inferiority", margin=0.5))
    for rate in (null, at_margin):  # exactly alpha / 2 in theory: the other half is "not reproduced"
        assert rate <= 0.05 and abs(rate - 0.025) < 0.005
    equivalent = _rate(_verdicts(rng.normal(0.5, 1.0, (REPS, n)), kind="equivalence", margin=0.5))
    assert equivalent <= 0.05
    assert equivalent == pytest.approx(stats.power(n, 0.5, 1.0, kind="equivalence", margin=0.5), abs=0.004)


@pytest.mark.parametrize("kind, effect, sd, margin", [
    ("superiority", 2.4, 2.0, 0.0), ("non_inferiority", 0.2, 1.0, 0.5), ("equivalence", 0.15, 1.0, 1.0)])
def test_planned_n_gives_the_power_by_simulation_and_is_the_smallest(kind, effect, sd, margin):
    n = stats.planned_n(effect, sd, kind=kind, margin=margin)
    rng = np.random.default_rng(n)
    at_n = _rate(_verdicts(rng.normal(effect, sd, (REPS, n)), kind=kind, margin=margin))
    below = _rate(_verdicts(rng.normal(effect, sd, (REPS, n - 1)), kind=kind, margin=margin))
    assert at_n >= 0.8 > below
    for size, rate in ((n, at_n), (n - 1, below)):  # the exact power agrees with the simulation (4 standard errors)
        assert rate == pytest.approx(stats.power(size, effect, sd, kind=kind, margin=margin), abs=0.012)


# ---------------------------------------------------------------- planned_n and power
def test_planned_n_matches_gpower_paired_two_sided():
    # G*Power 3.1, t tests, matched pairs, two tails, alpha 0.05, power 0.8: d = 1 -> 10 (actual power 0.803),
    # d = 0.5 -> 34 (actual power 0.808)
    assert stats.planned_n(1.0, 1.0) == 10 and stats.planned_n(0.5, 1.0) == 34
    assert stats.power(10, 1.0, 1.0) == pytest.approx(0.803, abs=5e-4)
    assert stats.power(34, 0.5, 1.0) == pytest.approx(0.808, abs=5e-4)
    assert stats.planned_n(3.0, 6.0) == 34  # only effect / sd matters


@pytest.mark.parametrize("kind, effect, margin", [
    ("superiority", 0.7, 0.0), ("non_inferiority", -0.2, 0.6), ("equivalence", -0.1, 0.8)])
def test_planned_n_is_the_smallest_n_with_the_power(kind, effect, margin):
    n = stats.planned_n(effect, 1.0, kind=kind, margin=margin)
    assert stats.power(n, effect, 1.0, kind=kind, margin=margin) >= 0.8
    assert all(stats.power(k, effect, 1.0, kind=kind, margin=margin) < 0.8 for k in range(2, n))


@pytest.mark.parametrize("n, effect, sd, margin", [(2, 0.0, 1.0, 3.0), (4, 0.3, 1.0, 1.5), (12, -0.2, 0.5, 0.4),
                                                   (60, 0.1, 1.0, 0.5), (3000, 0.01, 1.0, 0.06)])
def test_equivalence_power_matches_an_integral_over_the_sample_variance(n, effect, sd, margin):
    from scipy import integrate
    df, q, se = n - 1, sps.t.ppf(0.975, n - 1), sd / math.sqrt(n)

    def reproduced_given(v):  # v = df s^2 / sd^2 is chi-square(df); the interval is mean +- q s / sqrt(n)
        half = margin - q * sd * math.sqrt(v / df) / math.sqrt(n)
        inside = sps.norm.cdf((half - effect) / se) - sps.norm.cdf((-half - effect) / se)
        return inside * sps.chi2.pdf(v, df)

    v_max = df * n * (margin / (q * sd)) ** 2
    expected = integrate.quad(reproduced_given, 0, v_max, points=[df] if df < v_max else None, limit=200)[0]
    assert stats.power(n, effect, sd, kind="equivalence", margin=margin) == pytest.approx(expected, abs=1e-7)


def test_planned_n_unreachable_or_wrong_side_returns_max_n():
    assert stats.planned_n(0.001, 1.0, max_n=50) == 50
    assert stats.planned_n(-0.5, 1.0) == 10_000
    assert stats.planned_n(-0.7, 1.0, kind="non_inferiority", margin=0.5) == 10_000
    assert stats.planned_n(1.2, 1.0, kind="equivalence", margin=1.0) == 10_000
    assert stats.planned_n(0.1, 0.0) == 2 and stats.planned_n(0.0, 0.0) == 10_000  # no variance
    with pytest.raises(ValueError, match="power"):
        stats.planned_n(1.0, 1.0, power=1.0)
    with pytest.raises(ValueError, match="sd"):
        stats.planned_n(1.0, -1.0)
    with pytest.raises(ValueError, match="n must be"):
        stats.power(1, 1.0, 1.0)


# ---------------------------------------------------------------- holm
def test_holm_by_hand_and_not_bonferroni():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.01, 0.02, 0.03]) == pytest.approx([0.03, 0.04, 0.04])  # Bonferroni: 0.03, 0.06, 0.09
    assert stats.holm([0.5, 0.6]) == [1.0, 1.0] and stats.holm([]) == []


def test_holm_leaves_nan_out_of_the_family():
    out = stats.holm([0.01, math.nan, 0.04, 0.03, math.nan, 0.005])
    assert math.isnan(out[1]) and math.isnan(out[4])
    assert [out[i] for i in (0, 2, 3, 5)] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert all(math.isnan(x) for x in stats.holm([math.nan, math.nan]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stats.holm([0.5, 1.2])


# ---------------------------------------------------------------- summaries, ratios, deterministic claims
def test_mean_std_and_summarise():
    assert stats.mean_std([1, 2, 3, 4]) == pytest.approx((2.5, math.sqrt(5 / 3)))
    assert stats.mean_std([7.0]) == (7.0, 0.0)
    with pytest.raises(ValueError, match="at least one"):
        stats.mean_std([])
    df = pd.DataFrame({"g": ["a", "a", "b"], "h": [1, 1, 2], "acc": [1.0, 3.0, 5.0]})
    out = stats.summarise(df, "g", "acc").set_index("g")
    assert out.loc["a"].tolist() == pytest.approx([2.0, math.sqrt(2), 2]) and out.loc["b"].tolist() == [5.0, 0.0, 1]
    assert stats.summarise(df, ["g", "h"], "acc")["n"].tolist() == [2, 1]


def test_ratio_effect_is_a_mean_log_ratio():
    ours, base = [2.0, 4.0, 8.0], [1.0, 1.0, 2.0]  # ratios 2, 4, 4
    r = stats.ratio_effect(ours, base)
    assert r["effect"] == pytest.approx(np.log([2, 4, 4]).mean())
    assert r["ratio"] == pytest.approx(32 ** (1 / 3))  # the geometric mean ratio
    assert (r["ratio_low"], r["ratio_high"]) == pytest.approx((math.exp(r["ci_low"]), math.exp(r["ci_high"])))
    assert r["p"] == pytest.approx(sps.ttest_rel(np.log(ours), np.log(base)).pvalue)
    with pytest.raises(ValueError, match="positive"):
        stats.ratio_effect([1.0, 0.0], [1.0, 1.0])


def test_deterministic_claims_have_the_same_keys_and_no_p():
    smaller = stats.deterministic(3.1, 12.0, direction=-1)
    assert set(stats.compare([1, 2], [0, 0])) <= set(smaller)
    assert smaller["verdict"] == "reproduced" and smaller["n"] == 1 and math.isnan(smaller["p"])
    assert smaller["effect"] == pytest.approx(-8.9)
    assert stats.deterministic(13.0, 12.0, direction=-1)["verdict"] == "not reproduced"
    assert stats.deterministic(12.0, 12.0)["verdict"] == "not reproduced"
    with pytest.raises(ValueError, match="direction"):
        stats.deterministic(1.0, 0.0, direction=0)


@pytest.mark.parametrize("count, n", [(0, 45), (1, 45), (7, 60), (60, 60)])
def test_rate_below_is_scipys_exact_binomial(count, n):
    """Clopper-Pearson interval and one-sided exact p-values (doubled, like compare()'s) from scipy.stats.binomtest."""
    r = stats.rate_below(count, n, 0.10)
    ci = sps.binomtest(count, n).proportion_ci(confidence_level=0.95, method="exact")
    assert r["rate"] == count / n and math.isclose(-r["ci_high"], ci.low, abs_tol=1e-9)
    assert math.isclose(-r["ci_low"], ci.high, abs_tol=1e-9)
    assert math.isclose(r["p"], min(1, 2 * sps.binomtest(count, n, 0.10, alternative="less").pvalue))
    assert math.isclose(r["p_opposite"], min(1, 2 * sps.binomtest(count, n, 0.10, alternative="greater").pvalue))
    assert (r["verdict"] == stats.REPRODUCED) == (r["p"] < 0.05) and set(r) >= set(stats.compare([1, 2], [0, 1]))


def test_rate_below_false_reproduced_rate_at_the_margin_is_at_most_alpha_over_two():
    """Simulated: when the true rate is the margin, 'reproduced' (rate below it) comes up at most alpha / 2 of the time."""
    rng = np.random.default_rng(0)
    counts = rng.binomial(60, 0.10, size=4000)
    wrong = np.mean([stats.rate_below(int(k), 60, 0.10)["verdict"] == stats.REPRODUCED for k in counts])
    assert wrong <= 0.025 + 3 * math.sqrt(0.025 * 0.975 / 4000)
    assert stats.runs_for_rate(0.10, 0.05) == 36 and 0.9 ** 36 < 0.025 < 0.9 ** 35  # 0 of 36 clears a 10% margin
    assert stats.rate_below(0, 36, 0.10)["verdict"] == stats.REPRODUCED != stats.rate_below(0, 35, 0.10)["verdict"]


@pytest.mark.parametrize("args, message", [((3, 2, 0.1), "0 <= count <= n"), ((1, 10, 1.5), "margin in"),
                                           ((0.5, 10, 0.1), "integer")])
def test_rate_below_rejects_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        stats.rate_below(*args)
