import math

import numpy as np
import pytest
from scipy import stats as sps

from kdlib import claims, stats
from kdlib.claims import Check, Claim


def _claim(id_: str, **kw) -> Claim:
    defaults = dict(text=f"claim {id_}", paper="Table 1", unit="seed (paired: same init and data order)",
                    control="training alone", scale=100.0, units="points")
    return Claim(id_, **{**defaults, **kw})


def _accuracies(shift: float, noise: float, n: int = 5):
    """Control accuracies (fractions) and ours = control + shift + a fixed zero-mean pattern of sd `noise`."""
    e = np.array([-1.2, 0.4, 1.0, -0.6, 0.4, 0.9, -0.3])[:n]
    e = (e - e.mean()) / e.std(ddof=1)
    base = np.linspace(0.85, 0.9, n)
    return base + shift + noise * e, base


def _with_p(p: float, n: int = 5):
    """Differences (in points) whose two-sided paired t-test p is exactly `p`, as (ours, control)."""
    e = np.array([-1.0, 0.0, 1.0, -0.5, 0.5])[:n]
    mean = sps.t.isf(p / 2, n - 1) * e.std(ddof=1) / math.sqrt(n)
    base = np.full(n, 80.0)
    return base + mean + e, base


def _rows():
    yes = claims.evaluate(_claim("1a"), *_accuracies(0.02, 0.002))
    no = claims.evaluate(_claim("1b"), *_accuracies(-0.02, 0.002))
    unsure = claims.evaluate(_claim("2"), *_accuracies(0.003, 0.01, n=3))
    return yes, no, unsure


def test_table_gives_each_verdict_and_a_planned_n_for_inconclusive():
    df = claims.table(_rows())
    assert df["verdict"].tolist() == ["reproduced", "not reproduced", "inconclusive"]
    assert set(claims.COLUMNS) == set(df.columns) and {"id", "claim", "paper", "ours", "unit", "n", "p", "p_adjusted",
                                                        "precondition", "verdict", "note", "control"} <= set(df)
    ours, base = _accuracies(0.003, 0.01, n=3)
    d = 100 * (ours - base)  # the observed effect and sd, in points
    n = stats.planned_n(d.mean(), d.std(ddof=1), alpha=0.05 / 3)
    assert f"n = {n} seeds would give 80% power" in df["note"][2] and n > 3
    assert df["p_adjusted"].tolist() == pytest.approx(stats.holm(df["p"]))
    assert df["ours"][0].startswith("ours - control = +2 points") and df["ours"][0].endswith("n = 5")


def test_failed_precondition_is_not_tested_and_out_of_the_holm_family():
    rows = list(_rows())
    kd_fails = Check("KD beats training alone on this pair", False, "-0.4 points")
    failed = claims.evaluate(_claim("3"), *_accuracies(0.02, 0.002),
                             checks=[Check("teacher converged", True, "val plateau"), kd_fails])
    before, after = claims.table(rows), claims.table(rows + [failed])
    assert after["p_adjusted"][:3].tolist() == before["p_adjusted"].tolist()
    assert after["verdict"][:3].tolist() == before["verdict"].tolist()
    row = after.iloc[3]
    assert row["verdict"] == "not tested at this profile" and math.isnan(row["p"]) and math.isnan(row["p_adjusted"])
    assert row["note"] == "precondition failed: KD beats training alone on this pair"
    assert row["precondition"] == ("teacher converged: passed (val plateau); "
                                   "KD beats training alone on this pair: FAILED (-0.4 points)")
    assert row["ours"].startswith("ours - control = +2 points")  # the effect is still shown
    no_data = claims.evaluate(_claim("4"), None, None, checks=[kd_fails])
    assert no_data["verdict"] == "not tested at this profile" and no_data["ours"] == "-"
    with pytest.raises(ValueError, match="not_tested"):
        claims.evaluate(_claim("4"), None, None)


def test_holm_turns_a_raw_p_of_003_inconclusive_among_three_claims():
    ours, base = _with_p(0.03)
    row = claims.evaluate(_claim("x", scale=1.0), ours, base)
    assert row["p"] == pytest.approx(0.03, abs=1e-12) and row["verdict"] == "reproduced"  # before Holm
    assert claims.table([row])["verdict"][0] == "reproduced"
    others = [claims.evaluate(_claim(i, scale=1.0), *_with_p(0.6)) for i in ("y", "z")]
    df = claims.table([row] + others)
    assert df["p_adjusted"][0] == pytest.approx(0.09) and df["verdict"].tolist() == ["inconclusive"] * 3
    assert "p = 0.03 < 0.05 before Holm adjustment over 3 claims (0.09 after)" in df["note"][0]
    against = claims.evaluate(_claim("w", scale=1.0), base, ours)  # the same evidence against the claim
    assert against["verdict"] == "not reproduced" and against["p_opposite"] == pytest.approx(0.03, abs=1e-12)
    df = claims.table([against] + others)
    assert df["p_opposite_adjusted"][0] == pytest.approx(0.09) and df["verdict"][0] == "inconclusive"
    assert "p_opposite = 0.03 < 0.05 before Holm adjustment over 3 claims (0.09 after)" in df["note"][0]
    assert "not on the claim's side" in df["note"][0]


def test_direction_minus_one_tests_control_minus_ours():
    smaller = _claim("5", text="pruning lowers the loss", control="unpruned", scale=1.0, units="nats", direction=-1)
    ours, control = [1.0, 1.1, 0.9, 1.05], [2.0, 2.2, 2.1, 2.0]
    row = claims.table([claims.evaluate(smaller, ours, control)]).iloc[0]
    assert row["verdict"] == "reproduced" and row["effect"] == pytest.approx(1.0625)
    assert row["ours"].startswith("control - ours = +1.06 nats")
    larger = claims.table([claims.evaluate(_claim("6", scale=1.0), ours, control)]).iloc[0]
    assert larger["verdict"] == "not reproduced" and larger["effect"] == pytest.approx(-1.0625)


def test_margins_are_in_display_units():
    ours, base = _accuracies(-0.002, 0.0005)  # 0.2 points lower
    kept = claims.evaluate(_claim("7", kind="non_inferiority", margin=1.0), ours, base)
    direct = stats.compare(100 * ours, 100 * base, kind="non_inferiority", margin=1.0)
    assert kept["p"] == pytest.approx(direct["p"]) and kept["effect"] == pytest.approx(direct["effect"])
    assert kept["note"] == "non-inferiority margin 1 points"
    tight = claims.evaluate(_claim("8", kind="non_inferiority", margin=0.1), ours, base)
    flat = claims.evaluate(_claim("9", kind="equivalence", margin=0.5), ours, base)
    df = claims.table([kept, tight, flat])
    assert df["verdict"].tolist() == ["reproduced", "not reproduced", "reproduced"]


def test_ratio_and_deterministic_claims():
    fewer = _claim("10", kind="superiority", ratio=True, direction=-1, units="x", control="channel pruning")
    ours, control = [1.0, 1.2, 0.9], [4.0, 4.4, 4.1]  # parameters at the breakpoint
    ratio = claims.evaluate(fewer, ours, control)
    assert ratio["ours"].startswith("control / ours = 4.0") and ratio["effect"] == pytest.approx(
        np.log(np.array(control) / ours).mean())
    smaller = _claim("11", kind="deterministic", direction=-1, scale=1.0, units="MB", control="fp32 model")
    size = claims.evaluate(smaller, 3.1, 12.0)
    assert size["verdict"] == "reproduced" and math.isnan(size["p"]) and size["effect"] == pytest.approx(8.9)
    assert size["ours"] == "3.1 MB vs threshold 12 MB (claimed below), measured once"
    df = claims.table([ratio, size])
    assert df["verdict"].tolist() == ["reproduced", "reproduced"] and math.isnan(df["p_adjusted"][1])
    assert df["p_adjusted"][0] == pytest.approx(ratio["p"])  # a family of one: the deterministic row is not in it
    with pytest.raises(ValueError, match="deterministic"):
        claims.evaluate(smaller, [3.1, 3.2], 12.0)


def test_inconclusive_notes_for_wrong_side_and_unreachable_n():
    wrong = claims.evaluate(_claim("12"), *_accuracies(-0.002, 0.02, n=3))
    tiny = claims.evaluate(_claim("13", scale=1.0), [2.0, 1.0, 3.001], [1.0, 2.0, 3.0])
    df = claims.table([wrong, tiny])
    assert df["verdict"].tolist() == ["inconclusive", "inconclusive"]
    assert "not on the claim's side" in df["note"][0]
    assert "more than 10,000 seeds would be needed" in df["note"][1]


def test_not_tested_rows_and_validation():
    row = claims.not_tested(_claim("14"), "needs ImageNet (paper profile)")
    df = claims.table([row])
    assert df["verdict"][0] == claims.NOT_TESTED and df["note"][0] == "needs ImageNet (paper profile)"
    assert claims.VERDICTS == ("reproduced", "not reproduced", "inconclusive", "not tested at this profile")
    with pytest.raises(ValueError, match="reason"):
        claims.not_tested(_claim("14"), "")
    for kw, message in [({"kind": "better"}, "unknown kind"), ({"kind": "non_inferiority"}, "claim 15: .*margin > 0"),
                        ({"direction": 0}, "direction"), ({"scale": 0.0}, "scale"),
                        ({"kind": "deterministic", "margin": 1.0}, "deterministic")]:
        with pytest.raises(ValueError, match=message):
            _claim("15", **kw)
    with pytest.raises(ValueError, match="not a row"):
        claims.table([{"id": "1", "verdict": "maybe"}])
    with pytest.raises(ValueError, match="duplicate"):
        claims.table([row, row])


def test_identical_arms_give_no_verdict_even_where_a_margin_would_make_it_hold():
    """Both arms equal in every unit (the same run on both sides, or models at chance): non-inferiority would hold by
    construction; the row is inconclusive and stays out of the Holm family."""
    c = Claim("x", "pruned keeps accuracy", "p", "seed", "unpruned", kind="non_inferiority", margin=1.0, scale=100.0)
    row = claims.evaluate(c, [0.1, 0.1, 0.1], [0.1, 0.1, 0.1])
    assert row["verdict"] == stats.INCONCLUSIVE and math.isnan(row["p"]) and "identical" in row["note"]
    table = claims.table([row, claims.evaluate(Claim("y", "t", "p", "seed", "c"), [1.0, 2.1, 3.2], [0.0, 1.0, 2.0])])
    assert table.set_index("id").loc["x", "verdict"] == stats.INCONCLUSIVE
    assert math.isnan(table.set_index("id").loc["x", "p_adjusted"])


def test_an_exact_tie_between_distinct_models_is_evidence():
    """int8 scoring exactly its fp32 model's accuracy in every seed (two runs per seed): within a 1-point margin."""
    c = Claim("x", "int8 keeps accuracy", "p", "seed", "fp32", kind="non_inferiority", margin=1.0, scale=100.0)
    row = claims.evaluate(c, [0.95, 0.96, 0.94], [0.95, 0.96, 0.94], distinct_arms=True)
    assert row["verdict"] == stats.REPRODUCED
    assert claims.evaluate(c, [0.95, 0.96, 0.94], [0.95, 0.96, 0.94])["verdict"] == stats.INCONCLUSIVE


def test_a_rate_claim_is_an_exact_binomial_bound_in_the_holm_family():
    """'Almost no run reaches its cap' (rate below 10 points): 0 of 45 clears the margin before Holm (p = 2 x 0.9^45 =
    0.0175) but not at Holm's strictest step over 3 claims (0.0167): inconclusive, with the event-free runs needed
    (0.9^46 < 0.0167 / 2 < 0.9^45)."""
    rate = Claim("r", "no run is capped", "Sec. X", "run", "none", kind="rate", margin=10.0, scale=100.0,
                 units="points (% of runs)")
    nulls = [Claim(i, "ours beats control", "Sec. Y", "seed", "control") for i in ("s", "u")]
    rows = [claims.evaluate(rate, [0] * 45, 0.0)] + [claims.evaluate(c, [2.0, 1.0, 1.5], [1.5, 1.5, 1.5]) for c in nulls]
    assert rows[0]["ours"].startswith("0 of 45 = 0 points (% of runs) (95% CI 0 to 7.87, exact)")
    t = claims.table(rows).set_index("id")
    assert math.isclose(t.loc["r", "p"], 2 * 0.9 ** 45) and t.loc["r", "verdict"] == "inconclusive"
    assert "at least 46 runs without a single event" in t.loc["r", "note"]
    assert claims.table([claims.evaluate(rate, [0] * 60, 0.0)]).verdict[0] == "reproduced"
    with pytest.raises(ValueError, match="0/1 outcome"):
        claims.evaluate(rate, [0, 2, 1], 0.0)
    with pytest.raises(ValueError, match="percentage points"):
        Claim("q", "t", "p", "run", "none", kind="rate", margin=0.1)
