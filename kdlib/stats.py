"""Verdicts on claims from paired differences, one value per independent unit (a seed, a teacher-student pair).

A claim is *reproduced* when the two-sided 95% confidence interval of our mean difference (ours minus the control)
lies entirely on the side the paper claims: above zero for "better than" (superiority), above minus a stated margin
for "no worse than" (non-inferiority), inside plus-or-minus a stated margin for "no different from" (equivalence).
It is *not reproduced* when the interval lies entirely on the other side (below zero, below minus the margin, or
wholly outside the margin band), and *inconclusive* when the interval straddles the line: our runs are too few or
too noisy to tell, and `planned_n` says how many units would give an 80% chance of a clear answer if the true effect
were the one observed. Each verdict comes with a p-value that agrees with it (p < alpha exactly when the interval
clears the line), so that a Holm adjustment over a paper's claims (kdlib.claims) can only make verdicts more cautious.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
KINDS = ("superiority", "non_inferiority", "equivalence")
_NODES = np.polynomial.legendre.leggauss(96)  # Gauss-Legendre rule for the equivalence power integral


def check_design(kind: str, margin: float, alpha: float = 0.05) -> None:
    """Raise a ValueError naming what is wrong with a kind / margin / alpha combination."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}")
    if not math.isfinite(float(margin)) or margin < 0:
        raise ValueError(f"margin must be a finite number >= 0, got {margin!r}")
    if kind == "superiority" and margin != 0:
        raise ValueError(f"superiority takes no margin (got {margin}); 'no worse than by m' is kind='non_inferiority'")
    if kind != "superiority" and margin == 0:
        raise ValueError(f"{kind} needs a margin > 0 (with margin 0 the claim cannot hold or is a superiority claim)")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def on_claim_side(effect: float, kind: str, margin: float = 0.0) -> bool:
    """Whether a true mean difference `effect` satisfies the claim (> 0, > -margin, or |effect| < margin)."""
    if kind == "equivalence":
        return abs(effect) < margin
    return effect > (-margin if kind == "non_inferiority" else 0.0)


def _t(num, se):
    """num / se with a zero standard error mapped to +-inf (or 0 when num is 0 too)."""
    num, se = np.broadcast_arrays(np.asarray(num, float), np.asarray(se, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        infinite = np.where(num > 0, np.inf, np.where(num < 0, -np.inf, 0.0))
        return np.where(se > 0, num / np.where(se > 0, se, 1.0), infinite)


def from_summary(effect, sd, n, *, kind: str = "superiority", margin: float = 0.0, alpha: float = 0.05) -> dict:
    """Interval, p-values and verdict from the mean and sd of n paired differences (vectorised over arrays)."""
    check_design(kind, margin, alpha)
    effect, sd, n = np.broadcast_arrays(*(np.asarray(x, float) for x in (effect, sd, n)))
    if not (np.isfinite(effect).all() and np.isfinite(sd).all() and (sd >= 0).all() and (n >= 2).all()):
        raise ValueError("from_summary needs finite effects, finite sds >= 0 and n >= 2")
    df, se = n - 1, sd / np.sqrt(n)
    q = stats.t.ppf(1 - alpha / 2, df)
    low, high = effect - q * se, effect + q * se
    if kind == "equivalence":  # TOST, each one-sided test at alpha/2
        t_low, t_high = _t(effect + margin, se), _t(effect - margin, se)
        p = np.minimum(1.0, 2 * np.maximum(stats.t.sf(t_low, df), stats.t.cdf(t_high, df)))
        p_opposite = np.minimum(1.0, 2 * np.minimum(stats.t.cdf(t_low, df), stats.t.sf(t_high, df)))
        yes, no = (low > -margin) & (high < margin), (low > margin) | (high < -margin)
    else:
        line = -margin if kind == "non_inferiority" else 0.0
        t = _t(effect - line, se)
        p, p_opposite = 2 * stats.t.sf(np.abs(t), df), np.minimum(1.0, 2 * stats.t.cdf(t, df))
        yes, no = low > line, high < line
    verdict = np.where(yes, REPRODUCED, np.where(no, NOT_REPRODUCED, INCONCLUSIVE))
    out = {"effect": effect, "ci_low": low, "ci_high": high, "sd": sd, "n": n, "p": p, "p_opposite": p_opposite,
           "verdict": verdict}
    out = {k: (v.item() if v.ndim == 0 else v) for k, v in out.items()}
    return {"kind": kind, "margin": float(margin), "alpha": float(alpha), **out}


def _paired(ours: Sequence[float], baseline: Sequence[float]) -> np.ndarray:
    a, b = np.asarray(ours, dtype=float), np.asarray(baseline, dtype=float)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"ours and baseline must be flat sequences, got shapes {a.shape} and {b.shape}")
    if len(a) != len(b):
        raise ValueError(f"ours has {len(a)} values and baseline {len(b)}: they must be paired by index")
    if len(a) < 2:
        raise ValueError(f"need at least 2 paired units for an interval, got {len(a)}")
    for name, v in (("ours", a), ("baseline", b)):
        if not np.isfinite(v).all():
            raise ValueError(f"{name} has non-finite values at positions {np.flatnonzero(~np.isfinite(v)).tolist()}")
    return a - b


def compare(ours: Sequence[float], baseline: Sequence[float], *, kind: str = "superiority", margin: float = 0.0,
            alpha: float = 0.05) -> dict:
    """Paired t-test of the claim about ours - baseline, on one two-sided (1 - alpha) t interval.

    Verdicts: superiority reproduced iff ci_low > 0, not reproduced iff ci_high < 0; non_inferiority the same
    against -margin; equivalence reproduced iff -margin < ci_low and ci_high < margin, not reproduced iff the
    interval lies wholly outside (ci_low > margin or ci_high < -margin); otherwise inconclusive.
    p: superiority, the two-sided paired t-test of diff = 0 (scipy.stats.ttest_rel); non_inferiority, the
    two-sided test of diff = -margin; equivalence, TOST = min(1, 2 max(p_lower, p_upper)) of the one-sided tests
    of diff <= -margin and diff >= margin. So p < alpha iff the interval clears the line (the side is the verdict's).
    p_opposite, the evidence against the claim, twice a one-sided p: min(1, 2 P(T <= t)) with t = (effect -
    line) / se for superiority (line 0) and non_inferiority (line -margin), i.e. the two-sided p when the effect is
    on the wrong side and 1 otherwise; for equivalence min(1, 2 min(P(T <= t_lower), P(T >= t_upper))) with
    t_lower = (effect + margin) / se, t_upper = (effect - margin) / se: the Bonferroni test of |diff| > margin. So p_opposite < alpha iff the verdict is "not reproduced".
    Differences all equal (sd 0): the interval is the point and p, p_opposite are 0 or 1.
    """
    d = _paired(ours, baseline)
    out = from_summary(float(d.mean()), float(d.std(ddof=1)), len(d), kind=kind, margin=margin, alpha=alpha)
    return {**out, "n": len(d)}


def ratio_effect(ours: Sequence[float], baseline: Sequence[float], *, kind: str = "superiority", margin: float = 0.0,
                 alpha: float = 0.05) -> dict:
    """compare() of log(ours) - log(baseline), for claims about ratios ("4x fewer parameters").

    The effect is the mean log-ratio (the log of the geometric-mean ratio), the margin is a log-ratio too
    (log(1.1) for 10%); `ratio`, `ratio_low`, `ratio_high` are exp() of effect and interval, for display.
    """
    for name, v in (("ours", ours), ("baseline", baseline)):
        v = np.asarray(v, dtype=float)
        if (v <= 0).any():
            raise ValueError(f"ratio_effect needs positive values; {name} has {v[v <= 0].tolist()}")
    out = compare(np.log(np.asarray(ours, float)), np.log(np.asarray(baseline, float)), kind=kind, margin=margin,
                  alpha=alpha)
    return {**out, "ratio": math.exp(out["effect"]), "ratio_low": math.exp(out["ci_low"]),
            "ratio_high": math.exp(out["ci_high"])}


def deterministic(value: float, threshold: float, *, direction: int = 1) -> dict:
    """A claim measured once without sampling variance (a model's size): reproduced iff direction * (value -
    threshold) > 0, else not reproduced. Same keys as compare(); effect = value - threshold, n = 1, p NaN."""
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 (value above threshold) or -1 (below), got {direction!r}")
    if not (math.isfinite(value) and math.isfinite(threshold)):
        raise ValueError(f"value and threshold must be finite, got {value!r} and {threshold!r}")
    effect = float(value - threshold)
    return {"kind": "deterministic", "margin": 0.0, "alpha": math.nan, "effect": effect, "ci_low": effect,
            "ci_high": effect, "sd": 0.0, "n": 1, "p": math.nan, "p_opposite": math.nan,
            "verdict": REPRODUCED if direction * effect > 0 else NOT_REPRODUCED, "value": float(value),
            "threshold": float(threshold), "direction": direction}


def rate_below(count: int, n: int, margin: float, *, alpha: float = 0.05) -> dict:
    """A claim that an event is rare: `count` of `n` independent units had it, claimed rate < `margin` (a fraction).
    Exact binomial: the Clopper-Pearson interval, and one-sided exact p-values doubled (the two-sided convention of
    compare()), so that reproduced iff the interval's upper end is below the margin. Oriented like a non-inferiority
    difference: effect = -rate, interval [-upper, -lower], the claim's line at -margin. Same keys as compare()."""
    if not (isinstance(count, (int, np.integer)) and isinstance(n, (int, np.integer)) and 0 <= count <= n and n >= 1):
        raise ValueError(f"rate_below needs integer 0 <= count <= n and n >= 1, got count={count!r}, n={n!r}")
    if not 0 < margin < 1:
        raise ValueError(f"rate_below needs a margin in (0, 1), got {margin!r}")
    low = stats.beta.ppf(alpha / 2, count, n - count + 1) if count > 0 else 0.0
    high = stats.beta.ppf(1 - alpha / 2, count + 1, n - count) if count < n else 1.0
    p = min(1.0, 2 * stats.binom.cdf(count, n, margin))            # H0: rate >= margin
    p_opposite = min(1.0, 2 * stats.binom.sf(count - 1, n, margin))  # H0: rate <= margin
    verdict = REPRODUCED if high < margin else NOT_REPRODUCED if low > margin else INCONCLUSIVE
    rate = count / n
    return {"kind": "non_inferiority", "margin": float(margin), "alpha": float(alpha), "effect": -rate,
            "ci_low": -float(high), "ci_high": -float(low), "sd": math.sqrt(rate * (1 - rate)), "n": int(n),
            "p": float(p), "p_opposite": float(p_opposite), "verdict": verdict, "count": int(count), "rate": rate,
            "rate_low": float(low), "rate_high": float(high)}


def runs_for_rate(margin: float, alpha: float) -> int:
    """Units without a single event needed before rate_below can call the rate below `margin` at level `alpha`."""
    return math.ceil(math.log(alpha / 2) / math.log(1 - margin))


def holm(pvalues: Iterable[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down; controls the family-wise error). NaN = not tested: left NaN
    and not counted in the family."""
    p = np.asarray(list(pvalues), dtype=float)
    if ((p < 0) | (p > 1)).any():
        raise ValueError(f"p-values must lie in [0, 1] (or be NaN for untested claims), got {p.tolist()}")
    out = np.full(p.shape, math.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    out[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return out.tolist()


def _tost_power(n: np.ndarray, effect: float, sd: float, margin: float, q: np.ndarray) -> np.ndarray:
    """P(|mean| < margin - q s / sqrt(n)): the mean is normal, s / sd a chi / sqrt(df); integrated over the chi
    variable by Gauss-Legendre on its central (1 - 2e-12) range, cut where the interval outgrows the band."""
    df, sig = n - 1, sd / np.sqrt(n)
    lo = stats.chi.ppf(1e-12, df)
    hi = np.minimum(stats.chi.ppf(1 - 1e-12, df), margin * np.sqrt(df) / (q * sig))
    x, w = _NODES
    half, mid = (hi - lo)[:, None] / 2, (hi + lo)[:, None] / 2
    s = mid + half * x
    c = margin - q[:, None] * sig[:, None] * s / np.sqrt(df)[:, None]
    inside = stats.norm.cdf((c - effect) / sig[:, None]) - stats.norm.cdf((-c - effect) / sig[:, None])
    total = (half * w * inside * stats.chi.pdf(s, df[:, None])).sum(axis=1)
    return np.where(hi > lo, np.clip(total, 0.0, 1.0), 0.0)


def _power(n, effect: float, sd: float, kind: str, margin: float, alpha: float) -> np.ndarray:
    n = np.atleast_1d(np.asarray(n, dtype=float))
    if sd == 0:
        return np.full(n.shape, float(on_claim_side(effect, kind, margin)))
    q = stats.t.ppf(1 - alpha / 2, n - 1)
    if kind == "equivalence":
        return _tost_power(n, effect, sd, margin, q)
    line = -margin if kind == "non_inferiority" else 0.0
    return stats.nct.sf(q, n - 1, (effect - line) * np.sqrt(n) / sd)


def _check_truth(effect: float, sd: float, kind: str, margin: float, alpha: float) -> None:
    check_design(kind, margin, alpha)
    if not (math.isfinite(effect) and math.isfinite(sd)) or sd < 0:
        raise ValueError(f"effect must be finite and sd finite and >= 0, got effect={effect!r}, sd={sd!r}")


def power(n: int, effect: float, sd: float, *, kind: str = "superiority", margin: float = 0.0,
          alpha: float = 0.05) -> float:
    """P(compare says "reproduced") with n units if the differences are normal(effect, sd): exact, from the
    noncentral t (superiority, non-inferiority) or a numerical integral over the sample sd (equivalence/TOST)."""
    _check_truth(effect, sd, kind, margin, alpha)
    if int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    return float(_power([n], effect, sd, kind, margin, alpha)[0])


def planned_n(effect: float, sd: float, *, kind: str = "superiority", margin: float = 0.0, alpha: float = 0.05,
              power: float = 0.8, max_n: int = 10_000) -> int:
    """Smallest n >= 2 with power(n) >= `power`; max_n when none up to max_n is (or the effect is not on the claim's
    side), so the caller says "more than max_n"."""
    _check_truth(effect, sd, kind, margin, alpha)
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power!r}")
    if int(max_n) != max_n or max_n < 2:
        raise ValueError(f"max_n must be an integer >= 2, got {max_n!r}")
    if not on_claim_side(effect, kind, margin):
        return int(max_n)
    for lo, hi in ((2, 100), (101, 1000), (1001, int(max_n))):  # every n is checked: no monotonicity assumed
        ns = np.arange(lo, min(hi, int(max_n)) + 1)
        if ns.size:
            hits = np.flatnonzero(_power(ns, effect, sd, kind, margin, alpha) >= power)
            if hits.size:
                return int(ns[hits[0]])
    return int(max_n)


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        raise ValueError("mean_std needs at least one value")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def summarise(df: pd.DataFrame, by: str | list[str], value: str) -> pd.DataFrame:
    """Mean, std (ddof=1; 0 with one value) and n of `value` per group of `by`."""
    out = df.groupby(by, dropna=False)[value].agg(mean="mean", std="std", n="count").reset_index()
    out.loc[out["n"] == 1, "std"] = 0.0
    return out
