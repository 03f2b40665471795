"""Malihi & Heidemann 2024's claims on the one verdict engine (kdlib.claims): one row per claim and dataset.

Units (notebook-contract.md section 7): a cross-architecture claim is tested over teacher-student PAIRS, seeds
averaged (df = pairs - 1, as the paper's Fig. 6 t-test); a claim whose control is the teacher is tested over
TEACHERS (the students of a teacher averaged), and the 'adapts to KD' claim over STUDENT ARCHITECTURES (the pairs of
one student averaged), so that no baseline replicate (a teacher, or a student trained alone) serves two units.
Input: `per_pair` rows (malihi2024.per_pair) and the unpruned trainings (malihi2024.training_table).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import claims, stats
from .. import data as kdata
from ..claims import Check, Claim
from .malihi2024 import FAMILIES

PAIR_UNIT = "teacher-student pair (seeds averaged)"
MIN_UNITS = 3  # a restricted claim (only pairs that meet its precondition) needs at least this many units


def _claims(cfg: dict) -> dict[str, Claim]:
    """The paper's claims, declared once; margins and thresholds come from the config (see SOURCES)."""
    m = cfg["margin_points"]
    pts = dict(scale=100.0, units="points")
    return {
        "1": Claim("1", "Weight pruning reaches its breakpoint with fewer remaining student parameters than channel "
                   "pruning (up to 4x fewer)", "Sec. 4.1: 'as high as a factor of four'; ResNet101->ResNet50 "
                   "0.5e7 vs 2.1e7", PAIR_UNIT, "channel pruning of the same distilled student", direction=-1,
                   ratio=True),
        "2": Claim("2", "Weight pruning gives higher performance efficiency (eq. 2) than channel pruning (paired t-test "
                   "over pairs)", "Fig. 6: CIFAR-10 t = -5.60, p = 3.3e-4; CIFAR-100 t = -7.06, p = 5.9e-5 (channel "
                   "- weight, 10 pairs)", PAIR_UNIT, "channel pruning of the same distilled student", scale=1e8,
                   units="%-accuracy per 1e6 parameters"),
        "3": Claim("3", "Weight pruning's efficiency exceeds channel pruning's in every architecture family",
                   "abstract, Sec. 6: 'across all four architecture types'", "teacher-student pair of the family "
                   "(seeds averaged); the weakest family decides (intersection-union test)",
                   "channel pruning of the same distilled student", ratio=True),
        "4": Claim("4", "At the breakpoint, weight-pruned students are comparable to or better than the distilled, "
                   "unpruned student", "Sec. 4.1, Table 1: e.g. ResNet101->ResNet50 58.92 vs 59.12",
                   PAIR_UNIT, "the same student unpruned, with the same last-layer fine-tuning (level 0)",
                   kind="non_inferiority", margin=m, **pts),
        "5": Claim("5", "At the breakpoint, weight-pruned students are comparable to or better than their teachers "
                   "(at the teachers' breakpoint)", "Sec. 4.1: ResNet101->ResNet50 58.92 vs the teacher's 54.34",
                   "teacher (its students and seeds averaged)", "the teacher weight-pruned to its breakpoint",
                   kind="non_inferiority", margin=m, **pts),
        "6": Claim("6", "Channel-pruned students are less accurate than their teachers (all pairs but "
                   "ResNet101->ResNet50)", "Sec. 4.1", "teacher (its students and seeds averaged)",
                   "the teacher channel-pruned to its breakpoint", direction=-1, **pts),
        "7": Claim("7", "Channel pruning's efficiency exceeds the distilled student's, modestly", "Sec. 4.2, Figs. 3-4",
                   PAIR_UNIT, "the same student unpruned, same fine-tuning (level 0)", ratio=True),
        "8": Claim("8", "Weight pruning adapts better to KD than channel pruning: its efficiency advantage over "
                   "channel pruning is larger with KD than without", "abstract, Sec. 5",
                   "student architecture (its pairs and seeds averaged)", "the same student trained alone (no KD), "
                   "pruned and fine-tuned the same way", scale=1.0, units="log efficiency ratio"),
        "9": Claim("9", "Pruned models keep their accuracy: channel-pruned students at the breakpoint are comparable "
                   "to the distilled, unpruned student", "abstract; Sec. 4.1 ('reached with comparable accuracy')",
                   PAIR_UNIT, "the same student unpruned, same fine-tuning (level 0)", kind="non_inferiority",
                   margin=m, **pts),
        "10": Claim("10", "KD then weight pruning needs fewer parameters than seven published compression methods",
                    "Table 3, Sec. 4.4", "-", "the seven methods' numbers (Table 3)"),
    }


def _with_id(claim: Claim, dataset: str) -> Claim:
    from dataclasses import replace
    return replace(claim, id=f"{claim.id}-{dataset}")


def _col(pairs: pd.DataFrame, role: str, method: str, column: str) -> pd.Series:
    d = pairs[(pairs.role == role) & (pairs.method == method)]
    return d.set_index("pair")[column]


# ---------------------------------------------------------------- preconditions
def check_learn(pairs: pd.DataFrame, gap: float, floor: float = 0.0) -> Check:
    """Every pair's distilled student (level 0, seeds averaged) within `gap` points of its teacher, and every
    student and teacher at least `floor` (a fraction: chance + 20 points) on the test set: two models stuck at chance
    are within any gap of each other."""
    s, t = _col(pairs, "student", "weight", "acc_before"), _col(pairs, "teacher", "weight", "acc_before")
    diff = 100 * (s - t)
    bad = diff[diff < -gap]
    low = sorted(set(s.index[s < floor]) | set(t.index[t < floor]))
    detail = f"worst {diff.min():+.2f} points ({diff.idxmin()})" + (f"; below: {', '.join(bad.index)}" if len(bad) else "")
    detail += f"; lowest accuracy {100 * min(s.min(), t.min()):.1f}% (floor {100 * floor:.0f}%)"
    detail += f"; under the floor: {', '.join(low)}" if low else ""
    return Check(f"distilled students within {gap:g} points of their teachers and above {100 * floor:.0f}% (every pair)",
                 bad.empty and not low, detail)


def check_plateau(trained: pd.DataFrame, cfg: dict, dataset: str) -> Check:
    """Every teacher's validation accuracy had levelled off (metrics.plateaued)."""
    t = trained[(trained.dataset == dataset) & (trained.role == "teacher")]
    t = t.assign(teacher=[label(cfg["pairs"][p]["teacher"]) for p in t.pair]).drop_duplicates("teacher")
    bad = sorted(t.teacher[~t.plateaued.astype(bool)])
    return Check("teachers trained to a plateau", not bad, f"{len(t) - len(bad)} of {len(t)} teachers"
                 + (f"; not: {', '.join(bad)}" if bad else ""))


def label(model: dict) -> str:
    """A readable name of an architecture at a width (one unit of the teacher / student-architecture claims)."""
    return f"{model['name']} x{model.get('width', 1.0):g}"


def restrict(name: str, ok: pd.Series) -> tuple[list[str], Check]:
    """The units meeting a precondition (claims are tested only there) and the check: passed with >= MIN_UNITS."""
    used, dropped = list(ok.index[ok]), list(ok.index[~ok])
    detail = f"{len(used)} of {len(ok)} units" + (f"; left out: {', '.join(map(str, dropped))}" if dropped else "")
    return used, Check(f"{name} (claim tested on those units only; needs >= {MIN_UNITS})", len(used) >= MIN_UNITS, detail)


# ---------------------------------------------------------------- units
def by_teacher(pairs: pd.DataFrame, cfg: dict, method: str, keep: list[str] | None = None) -> pd.DataFrame:
    """One row per teacher: its students' breakpoint accuracy averaged over its pairs, and the teacher's own."""
    key = {p: label(v["teacher"]) for p, v in cfg["pairs"].items()}
    s = _col(pairs, "student", method, "acc_breakpoint")
    t = _col(pairs, "teacher", method, "acc_breakpoint")
    d = pd.DataFrame({"student": s, "teacher": t.reindex(s.index)})
    d = d.loc[[p for p in d.index if keep is None or p in keep]]
    d["unit"] = [key[p] for p in d.index]
    g = d.groupby("unit", sort=False)
    if (g.teacher.nunique() > 1).any():
        raise ValueError("one teacher with two different breakpoint accuracies: not one replicate")
    return g.agg(student=("student", "mean"), teacher=("teacher", "first"), pairs=("student", "size"))


def by_student(pairs: pd.DataFrame, cfg: dict, keep: list[str] | None = None) -> pd.DataFrame:
    """One row per student architecture: log(weight / channel efficiency) with KD (its pairs averaged) and alone."""
    key = {p: label(v["student"]) for p, v in cfg["pairs"].items()}
    gap = lambda role: np.log(_col(pairs, role, "weight", "efficiency") / _col(pairs, role, "channel", "efficiency"))
    acc = lambda role: _col(pairs, role, "weight", "acc_before")
    d = pd.DataFrame({"kd": gap("student"), "alone": gap("alone"), "acc_kd": acc("student"), "acc_alone": acc("alone")})
    d = d.loc[[p for p in d.index if keep is None or p in keep]]
    d["unit"] = [key[p] for p in d.index]
    g = d.groupby("unit", sort=False)
    if (g.alone.nunique() > 1).any():
        raise ValueError("one student trained alone with two different results: not one replicate")
    return g.agg(kd=("kd", "mean"), alone=("alone", "first"), acc_kd=("acc_kd", "mean"), acc_alone=("acc_alone", "first"))


def _families(pairs: pd.DataFrame) -> dict:
    """Per family with >= 2 pairs: its weight and channel efficiencies (per pair) and compare() of their log-ratio."""
    out = {}
    for fam, d in pairs[pairs.role == "student"].groupby("family", sort=False):
        w, c = _col(d, "student", "weight", "efficiency"), _col(d, "student", "channel", "efficiency")
        if len(w) >= 2:
            out[fam] = (w, c.reindex(w.index), stats.ratio_effect(w, c.reindex(w.index)))
    return out


# ---------------------------------------------------------------- the claims table
def _evaluate(claim: Claim, ours, base, checks: list[Check]) -> dict:
    """claims.evaluate, or 'not tested' when fewer than 2 units are left (a smoke run, a failed restriction)."""
    if len(ours) < 2 and all(c.passed for c in checks):
        return claims.not_tested(claim, f"n = {len(ours)} unit(s) at this profile: an interval needs >= 2")
    if len(ours) < 2:
        return claims.evaluate(claim, None, None, checks)
    return claims.evaluate(claim, list(ours), list(base), checks)


def _dataset_rows(pairs: pd.DataFrame, trained: pd.DataFrame, cfg: dict, dataset: str) -> list[dict]:
    c = {k: _with_id(v, dataset) for k, v in _claims(cfg).items()}
    p = pairs[pairs.dataset == dataset]
    floor = 1 / kdata.info(dataset).num_classes + 0.20  # chance + 20 points
    learn, plateau = check_learn(p, cfg["learn_gap_points"], floor), check_plateau(trained, cfg, dataset)
    col = lambda role, method, column: _col(p, role, method, column)
    w, ch = col("student", "weight", "params_breakpoint"), col("student", "channel", "params_breakpoint")
    rows = [_note(_evaluate(c["1"], w, ch.reindex(w.index), [learn]),
                  f"largest channel / weight ratio over pairs: {(ch / w).max():.2f}x ({(ch / w).idxmax()})")]
    we, ce = col("student", "weight", "efficiency"), col("student", "channel", "efficiency")
    rows.append(_note(_evaluate(c["2"], we, ce.reindex(we.index), [learn]), _paper_t(we, ce.reindex(we.index))))
    rows.append(_family_row(c["3"], p, learn))
    wa = col("student", "weight", "acc_breakpoint")
    rows.append(_evaluate(c["4"], wa, col("student", "weight", "acc_before").reindex(wa.index), [learn]))
    t = by_teacher(p, cfg, "weight")
    rows.append(_evaluate(c["5"], t.student, t.teacher, [learn, plateau]))
    above = col("student", "channel", "min_level") > 0
    kept, pruned = restrict("channel breakpoint above level 0 in every seed", above)
    t = by_teacher(p, cfg, "channel", kept)
    rows.append(_evaluate(c["6"], t.student, t.teacher, [learn, plateau, pruned]))
    ratio = (ce / col("student", "channel", "efficiency_before").reindex(ce.index))
    rows.append(claims.not_tested(c["7"], "holds by construction: a breakpoint above level 0 removes >= 10% of the "
                                  "parameters while the breakpoint rule caps the accuracy loss, so efficiency rises; "
                                  f"measured: {ratio.min():.2f}x to {ratio.max():.2f}x over {len(ratio)} pairs"
                                  if len(ratio) else "holds by construction (see the efficiency definition)"))
    s = by_student(p, cfg)
    works, kd = restrict("KD beats training alone (level-0 accuracy, seeds averaged)", s.acc_kd > s.acc_alone)
    s = s.loc[works]
    if kd.passed and not cfg["sweep_alone"]:
        rows.append(claims.not_tested(c["8"], f"KD beats training alone here ({kd.detail}), but the students trained "
                                      "alone are not pruned at this profile (sweep_alone: time budget)"))
    else:
        rows.append(_evaluate(c["8"], s.kd, s.alone, [learn, kd]))
    ca = col("student", "channel", "acc_breakpoint").loc[kept]
    rows.append(_evaluate(c["9"], ca, col("student", "channel", "acc_before").reindex(ca.index), [learn, pruned]))
    rows.append(claims.not_tested(c["10"], "the seven methods' numbers in Table 3 were lost in the text extraction "
                                  "(data/paper/malihi2024.csv: missing) and none of them is run here"))
    return rows


def _family_row(claim: Claim, p: pd.DataFrame, learn: Check) -> dict:
    """Claim 3 as one intersection-union test: it holds only if it holds in every family, so its p is the
    largest of the families' (the weakest family's data are tested; the note lists every family)."""
    fams = _families(p)
    if not fams:
        return claims.not_tested(claim, "no architecture family has 2 or more pairs at this profile")
    missing = [f for f in FAMILIES if f not in fams]
    if missing:  # "in every family" needs every family: two stand-ins do not speak for four
        shown = "; ".join(f"{f}: {r['ratio']:.2f}x over {r['n']} pairs, p = {r['p']:.3g} (unadjusted)"
                          for f, (_, _, r) in fams.items())
        return claims.not_tested(claim, f"the paper's {', '.join(missing)} famil{'y' if len(missing) == 1 else 'ies'} "
                                        f"not run with >= 2 pairs at this profile; run here: {shown}")
    weakest = max(fams, key=lambda f: fams[f][2]["p"] if fams[f][2]["effect"] > 0 else 2.0)
    w, c, _ = fams[weakest]
    shown = "; ".join(f"{f}: {r['ratio']:.2f}x over {r['n']} pairs, p = {r['p']:.3g}" for f, (_, _, r) in fams.items())
    lone, absent = sorted(set(p.family) - set(fams)), [f for f in FAMILIES if f not in set(p.family)]
    return _note(claims.evaluate(claim, list(w), list(c), [learn]), f"weakest family: {weakest}; families: {shown}"
                 + (f"; fewer than 2 pairs: {', '.join(lone)}" if lone else "")
                 + (f"; the paper's {', '.join(absent)} not at this profile" if absent else ""))


def _note(row: dict, text: str) -> dict:
    """`row` with `text` added to its note."""
    return {**row, "note": "; ".join(t for t in (row["note"], text) if t)}


def _paper_t(weight: pd.Series, channel: pd.Series) -> str:
    """The paired t statistic in the paper's orientation (channel - weight) with its df, for Fig. 6."""
    d = np.asarray(channel, float) - np.asarray(weight, float)
    if len(d) < 2 or d.std(ddof=1) == 0:
        return ""
    return f"t(channel - weight) = {d.mean() / (d.std(ddof=1) / np.sqrt(len(d))):.2f}, df = {len(d) - 1}"


def rows(pairs: pd.DataFrame, trained: pd.DataFrame, cfg: dict) -> list[dict]:
    """Every claim for every dataset of the profile (kdlib.report.save_claims applies Holm over them)."""
    return [r for d in cfg["datasets"] for r in _dataset_rows(pairs, trained, cfg, d)]


def power_table(cfg: dict, power: float = 0.8) -> pd.DataFrame:
    """How many pairs the paper's own effect sizes need (stats.planned_n): Fig. 6's paired t over 10 pairs gives
    dz = |t| / sqrt(10); at alpha 0.05 and at Holm's strictest step over this profile's tested claims."""
    from .. import report
    from .malihi2024 import ID
    fig6 = report.paper_numbers(ID).query("table == 'fig6'").pivot(index="dataset", columns="quantity", values="value")
    m = (len(_claims(cfg)) - 1) * len(cfg["datasets"])
    rows = []
    for dataset, r in fig6.iterrows():
        dz = abs(r.t) / np.sqrt(10)
        rows.append({"paper's dataset": dataset, "paper's t (df 9)": r.t, "dz = |t| / sqrt(10)": round(dz, 2),
                     "pairs needed, alpha 0.05": stats.planned_n(dz, 1.0, power=power),
                     f"pairs needed, alpha 0.05 / {m}": stats.planned_n(dz, 1.0, alpha=0.05 / m, power=power),
                     "pairs at this profile": len(cfg["pairs"])})
    return pd.DataFrame(rows)
