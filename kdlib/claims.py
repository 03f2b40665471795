"""Claims tables from declarations: one row per claim with our evidence and a verdict from kdlib.stats, Holm-adjusted
over one paper's tested claims (notebook-contract.md section 7)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from kdlib import stats

NOT_TESTED = "not tested at this profile"
VERDICTS = (stats.REPRODUCED, stats.NOT_REPRODUCED, stats.INCONCLUSIVE, NOT_TESTED)
KINDS = stats.KINDS + ("deterministic", "rate")
POWER, MAX_N = 0.8, 10_000
ROW = ["id", "claim", "paper", "ours", "unit", "n", "control", "p", "p_opposite", "precondition", "verdict", "note",
       "kind", "margin", "effect", "ci_low", "ci_high", "sd"]
COLUMNS = ROW[:8] + ["p_adjusted"] + ROW[8:9] + ["p_opposite_adjusted"] + ROW[9:]


@dataclass(frozen=True)
class Claim:
    """One claim of a paper (one row). `unit`: the unit of replication in words; `control`: what ours is compared
    against; `kind`: superiority, non_inferiority, equivalence (stats.compare), deterministic (one measured value
    against a threshold) or rate (an event claimed rarer than `margin`: ours is one 0/1 outcome per unit, exact
    binomial, stats.rate_below; in percentage points: scale 100); `margin`: in `units`, i.e. after multiplying the
    data by `scale` (100 shows accuracy fractions in points); `direction`: +1 claims ours > control, -1 claims ours < control (control - ours is then
    tested and shown, so a positive effect always supports the claim); `ratio`: compare log(ours) - log(control)
    (stats.ratio_effect; the margin is then a log-ratio and `scale` is not used)."""
    id: str
    text: str
    paper: str
    unit: str
    control: str
    kind: str = "superiority"
    margin: float = 0.0
    scale: float = 1.0
    units: str = ""
    direction: int = 1
    ratio: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id}: unknown kind {self.kind!r}; valid: {', '.join(KINDS)}")
        if self.kind == "deterministic" and (self.margin != 0 or self.ratio):
            raise ValueError(f"claim {self.id}: a deterministic claim takes no margin or ratio (use the threshold)")
        if self.kind == "rate" and not (self.scale == 100 and 0 < self.margin < 100):
            raise ValueError(f"claim {self.id}: a rate claim is in percentage points (scale 100) with a margin in "
                             f"(0, 100), got scale {self.scale!r}, margin {self.margin!r}")
        if self.kind not in ("deterministic", "rate"):
            try:
                stats.check_design(self.kind, self.margin)
            except ValueError as e:
                raise ValueError(f"claim {self.id}: {e}") from None
        if self.direction not in (1, -1):
            raise ValueError(f"claim {self.id}: direction must be +1 (ours > control) or -1, got {self.direction!r}")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"claim {self.id}: scale must be finite and > 0, got {self.scale!r}")


@dataclass(frozen=True)
class Check:
    """A precondition of a claim (e.g. "KD beats training alone on this pair"); a failed one means "not tested"."""
    name: str
    passed: bool
    detail: str = ""


def check_superior(name: str, ours: Sequence[float], baseline: Sequence[float], *, scale: float = 100.0,
                   units: str = "points", alpha: float = 0.05) -> Check:
    """A precondition that holds when `ours` is reliably above `baseline` (stats.compare says reproduced), e.g.
    "KD beats training alone on this pair"; the detail gives the difference and its interval."""
    r = stats.compare(np.asarray(ours, float) * scale, np.asarray(baseline, float) * scale, alpha=alpha)
    detail = f"{r['effect']:+.2f} {units} ({100 * (1 - alpha):g}% CI {r['ci_low']:+.2f} to {r['ci_high']:+.2f}), n = {r['n']}"
    return Check(name, r["verdict"] == stats.REPRODUCED, detail)


def check_at_least(name: str, value: float, threshold: float, what: str = "") -> Check:
    """A precondition on one measured value (e.g. "the teacher reaches 85% test accuracy")."""
    return Check(name, bool(value >= threshold), f"{what}{value:.4g} (needs >= {threshold:.4g})")


def _units(claim: Claim) -> str:
    return f" {claim.units}" if claim.units else ""


def _statistics(claim: Claim, ours, baseline, alpha: float) -> dict:
    """stats result oriented so that a positive effect is the claim's direction; data scaled to `units`."""
    if claim.kind == "deterministic":
        if np.ndim(ours) or np.ndim(baseline):
            raise ValueError(f"claim {claim.id} is deterministic: ours is one measured value, baseline the threshold")
        r = stats.deterministic(float(ours) * claim.scale, float(baseline) * claim.scale, direction=claim.direction)
        e = claim.direction * r["effect"]
        return {**r, "effect": e, "ci_low": e, "ci_high": e}
    if claim.kind == "rate":
        events = np.asarray(ours, dtype=float)
        if events.ndim != 1 or not np.isin(events, (0, 1)).all():
            raise ValueError(f"claim {claim.id} is a rate: ours is one 0/1 outcome per unit")
        r = stats.rate_below(int(events.sum()), len(events), claim.margin / claim.scale, alpha=alpha)
        scaled = {k: r[k] * claim.scale for k in ("effect", "ci_low", "ci_high", "sd", "margin")}
        return {**r, **scaled}
    a, b = (ours, baseline) if claim.direction == 1 else (baseline, ours)
    if claim.ratio:
        return stats.ratio_effect(a, b, kind=claim.kind, margin=claim.margin, alpha=alpha)
    a, b = np.asarray(a, dtype=float) * claim.scale, np.asarray(b, dtype=float) * claim.scale
    return stats.compare(a, b, kind=claim.kind, margin=claim.margin, alpha=alpha)


def _describe(claim: Claim, r: dict, alpha: float) -> str:
    """Our evidence in words: the difference tested, its interval and n."""
    u, level = _units(claim), f"{100 * (1 - alpha):g}% CI"
    if claim.kind == "deterministic":
        side = "above" if claim.direction == 1 else "below"
        return f"{r['value']:.4g}{u} vs threshold {r['threshold']:.4g}{u} (claimed {side}), measured once"
    if claim.kind == "rate":
        return (f"{r['count']} of {r['n']} = {r['rate'] * claim.scale:.3g}{u} ({level} {r['rate_low'] * claim.scale:.3g} "
                f"to {r['rate_high'] * claim.scale:.3g}, exact), claimed below {claim.margin:g}{u}")
    if claim.ratio:
        name = "ours / control" if claim.direction == 1 else "control / ours"
        return (f"{name} = {r['ratio']:.3g}x ({level} {r['ratio_low']:.3g}x to {r['ratio_high']:.3g}x; "
                f"geometric mean), n = {r['n']}")
    name = "ours - control" if claim.direction == 1 else "control - ours"
    return f"{name} = {r['effect']:+.3g}{u} ({level} {r['ci_low']:+.3g} to {r['ci_high']:+.3g}), n = {r['n']}"


def _design_note(claim: Claim) -> str:
    u = _units(claim) if not claim.ratio else " (log-ratio)"
    return {"non_inferiority": f"non-inferiority margin {claim.margin:g}{u}",
            "equivalence": f"equivalence margin +-{claim.margin:g}{u}",
            "deterministic": "measured once (no sampling variance): not in the Holm family",
            "rate": f"exact binomial (Clopper-Pearson), claimed rate below {claim.margin:g}{u}"}.get(claim.kind, "")


def _row(claim: Claim, **values) -> dict:
    nan = math.nan
    row = {"id": claim.id, "claim": claim.text, "paper": claim.paper, "ours": "-", "unit": claim.unit, "n": 0,
           "control": claim.control, "p": nan, "p_opposite": nan, "precondition": "none", "verdict": NOT_TESTED,
           "note": "", "kind": claim.kind, "margin": claim.margin, "effect": nan, "ci_low": nan, "ci_high": nan,
           "sd": nan}
    return {**row, **values}


def evaluate(claim: Claim, ours: Sequence[float] | float | None, baseline: Sequence[float] | float | None,
             checks: Iterable[Check] = (), *, alpha: float = 0.05, distinct_arms: bool = False) -> dict:
    """One row: our effect with its interval, p, p_opposite and the verdict before Holm adjustment (table() applies
    it); a failed check makes the claim "not tested" (p NaN, out of the Holm family; data may then be None).
    `distinct_arms`: the caller knows the two arms are different models in every unit, so an exact tie in every unit
    is a measurement (e.g. int8 scoring exactly its fp32 model's accuracy), not the same run on both sides."""
    checks = tuple(checks)
    failed = [c.name for c in checks if not c.passed]
    precondition = "; ".join(f"{c.name}: {'passed' if c.passed else 'FAILED'}" + (f" ({c.detail})" if c.detail else "")
                             for c in checks) or "none"
    if ours is None or baseline is None:
        if not failed:
            raise ValueError(f"claim {claim.id}: no data and no failed check; use not_tested(claim, reason)")
        return _row(claim, precondition=precondition, note="precondition failed: " + ", ".join(failed))
    r = _statistics(claim, ours, baseline, alpha)
    row = _row(claim, ours=_describe(claim, r, alpha), n=r["n"], p=r["p"], p_opposite=r["p_opposite"],
               precondition=precondition, verdict=r["verdict"], note=_design_note(claim),
               **{k: r[k] for k in ("effect", "ci_low", "ci_high", "sd")})
    if failed:
        row.update(verdict=NOT_TESTED, p=math.nan, p_opposite=math.nan,
                   note="precondition failed: " + ", ".join(failed))
    elif claim.kind not in ("deterministic", "rate") and r["sd"] == 0 and r["effect"] == 0 and not distinct_arms:
        # Both arms gave identical values in every unit (the same run on both sides, or models stuck at chance): the
        # interval is the point 0, and a non-inferiority or equivalence claim would hold by construction.
        row.update(verdict=stats.INCONCLUSIVE, p=math.nan, p_opposite=math.nan,
                   note="both arms identical in every unit (difference 0, sd 0): no evidence either way")
    return row


def not_tested(claim: Claim, reason: str) -> dict:
    """A row for a claim this profile cannot run; `reason` goes into the note."""
    if not reason:
        raise ValueError(f"claim {claim.id}: not_tested needs a reason")
    return _row(claim, note=reason)


def _plural(unit: str) -> str:
    noun = unit.split(" (")[0].strip() or "units"
    return noun if noun.endswith("s") else noun + "s"


def _side(row: pd.Series) -> bool:
    """Whether the row's observed effect lies on its claim's side (a rate row reads as non-inferiority)."""
    return stats.on_claim_side(row.effect, "non_inferiority" if row.kind == "rate" else row.kind, row.margin)


def _power_note(row: pd.Series, alpha: float, m: int) -> str:
    """How many units would give 80% power at Holm's strictest level (alpha / m) if the effect is as observed."""
    if not _side(row):
        return "the observed effect is not on the claim's side: no n gives 80% power"
    if row.kind == "rate":
        n = stats.runs_for_rate(row.margin / 100, alpha / m)  # rate claims are in percentage points
        return (f"at least {n} {_plural(row.unit)} without a single event would be needed at alpha = {alpha / m:.3g} "
                f"(alpha / {m}, Holm's strictest step)")
    level = alpha / m
    n = stats.planned_n(row.effect, row.sd, kind=row.kind, margin=row.margin, alpha=level, power=POWER, max_n=MAX_N)
    if n == MAX_N and stats.power(n, row.effect, row.sd, kind=row.kind, margin=row.margin, alpha=level) < POWER:
        needed = f"more than {MAX_N:,} {_plural(row.unit)} would be needed for"
    else:
        needed = f"n = {n} {_plural(row.unit)} would give"
    return (f"{needed} {POWER:.0%} power at alpha = {level:.3g} (alpha / {m}, Holm's strictest step) for an "
            f"effect of this size ({row.effect:+.3g}, sd {row.sd:.3g})")


def _final(row: pd.Series, alpha: float, m: int) -> tuple[str, str]:
    """The verdict after Holm adjustment, and the note (with a planned n when inconclusive)."""
    if row.p_adjusted < alpha and _side(row):
        return stats.REPRODUCED, row.note
    if row.p_opposite_adjusted < alpha:
        return stats.NOT_REPRODUCED, row.note
    notes = [row.note] if row.note else []
    holm = f"< {alpha:g} before Holm adjustment over {m} claims"
    if row.p < alpha and _side(row):
        notes.append(f"p = {row.p:.3g} {holm} ({row.p_adjusted:.3g} after)")
    elif row.p_opposite < alpha:
        notes.append(f"p_opposite = {row.p_opposite:.3g} {holm} ({row.p_opposite_adjusted:.3g} after)")
    notes.append(_power_note(row, alpha, m))
    return stats.INCONCLUSIVE, "; ".join(notes)


def table(rows: Iterable[dict], alpha: float = 0.05) -> pd.DataFrame:
    """ONE paper's claims table: Holm over its tested claims (finite p), on p -> p_adjusted and on p_opposite ->
    p_opposite_adjusted; reproduced iff p_adjusted < alpha on the claim's side, not reproduced iff
    p_opposite_adjusted < alpha, else inconclusive. Untested and deterministic rows keep their verdict. Use the alpha
    given to evaluate() (it sets the interval shown; the p-values do not depend on it)."""
    rows = [dict(r) for r in rows]
    for r in rows:
        missing = [k for k in ROW if k not in r]
        if missing or r["verdict"] not in VERDICTS:
            raise ValueError(f"claim {r.get('id')}: not a row from evaluate()/not_tested() (missing {missing}, "
                             f"verdict {r.get('verdict')!r}; valid verdicts: {VERDICTS})")
    df = pd.DataFrame(rows, columns=ROW)
    if df["id"].duplicated().any():
        raise ValueError(f"duplicate claim ids: {sorted(set(df['id'][df['id'].duplicated()]))}")
    tested = df["p"].notna() & (df["verdict"] != NOT_TESTED)
    df["p_adjusted"] = stats.holm(df["p"].where(tested))
    df["p_opposite_adjusted"] = stats.holm(df["p_opposite"].where(tested))
    m = int(tested.sum())
    final = {i: _final(df.loc[i], alpha, m) for i in df.index[tested]}
    df["verdict"] = [final[i][0] if i in final else v for i, v in df["verdict"].items()]
    df["note"] = [final[i][1] if i in final else v for i, v in df["note"].items()]
    return df[COLUMNS]
