"""Park & No 2022: the paper's claims, one row each, with verdicts from kdlib.claims on our runs.

Inputs are tidy tables, so the claims are testable on synthetic data: `runs` has one row per student run (teacher,
pruning_ratio, student, seed, test_top1, run, and agreement for the runs measured), `teachers` one row per teacher
run (teacher, pruning_ratio, test_top1, true_label_prob) and `checks` the teacher-level preconditions (plateau).
The control of "pruned beats unpruned" is the equal-budget dense teacher ("dense 0.36": the unpruned teacher
retrained by as many rewinding rounds at 0% sparsity), one control run per ratio and seed, never reused.
"""
from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd

from .. import claims as kc
from ..claims import Check, Claim

SEED = "seed (students share init, data and order across conditions; one teacher chain)"
SEED_MEAN = SEED + ", mean over the pruning ratios run"
EQUAL = "the same student distilled from the equal-budget dense teacher (as many rewinding rounds, 0% sparsity)"
POINTS = {"scale": 100.0, "units": "points"}
GPU_ONLY = "needs the TinyImageNet ResNet18 teacher chain: run at the paper profile (GPU)"
CLAIMS = [
    Claim("1", "A student distilled from a pruned teacher beats one distilled from the unpruned teacher (VGG19 -> VGG11)",
          "Table 1", SEED_MEAN, EQUAL, **POINTS),
    Claim("2", "... even where the pruned teacher is less accurate than its control (VGG19 -> VGG11)",
          "Sec. 3.1 Remark (ResNet18 teachers lose accuracy when pruned, Tables 2, 3, 5)",
          SEED + ", mean over the ratios whose pruned teacher is less accurate", EQUAL, **POINTS),
    Claim("3", "Distillation beats training the student alone (VGG19 -> VGG11)", "Table 1",
          SEED, "the same student trained alone, same schedule", **POINTS),
    Claim("4", "A pruned teacher gives smoother labels: a lower probability on the true training label (Sec. 3.2, eq. 7)",
          "eq. 7 (an argument, no table)", "teacher pair (pruned vs dense after r rounds; one chain: nested, not independent)",
          "the equal-budget dense teacher after as many rounds", direction=-1, scale=100.0, units="probability points"),
    Claim("5a", "Self-distillation: VGG19 learns more from a pruned VGG19 than from the unpruned one",
          "Table 2", SEED_MEAN, EQUAL, **POINTS),
    Claim("5b", "Self-distillation: ResNet18 learns more from a pruned ResNet18 (TinyImageNet)",
          "Table 2", SEED_MEAN, EQUAL, **POINTS),
    Claim("6a", "Across architectures: ResNet18 -> VGG16 learns more from the pruned teacher", "Table 3",
          SEED_MEAN, EQUAL, **POINTS),
    Claim("6b", "Across architectures: ResNet18 -> MobileNetV2 learns more from the pruned teacher",
          "Table 3", SEED_MEAN, EQUAL, **POINTS),
    Claim("7a", "The ST student with its pruned teacher beats the manual VGG19-CL1 student (59% teacher)",
          "Tables 4 and 6, Sec. 5.2", SEED, "VGG19-CL1 distilled from the same 59% teacher", **POINTS),
    Claim("7b", "The ST student with its pruned teacher beats the manual VGG19-CL2 student (59% teacher)",
          "Tables 4 and 6, Sec. 5.2", SEED, "VGG19-CL2 distilled from the same 59% teacher", **POINTS),
    Claim("8a", "ST students distilled from their pruned teachers beat the same students trained from scratch (VGG19)",
          "Table 4, Sec. 5.1 ('by huge margin')", SEED_MEAN, "the ST student trained alone", **POINTS),
    Claim("8b", "ST students distilled from their pruned teachers beat scratch (ResNet18, TinyImageNet)",
          "Table 5, Sec. 5.1", SEED_MEAN, "the ST student trained alone", **POINTS),
    Claim("9a", "An ST student learns more from its pruned teacher than from the unpruned one (VGG19)",
          "Table 4, Sec. 5.2", SEED_MEAN, EQUAL, **POINTS),
    Claim("9b", "An ST student learns more from its pruned teacher than from the unpruned one (ResNet18)",
          "Table 5, Sec. 5.2", SEED_MEAN, EQUAL, **POINTS),
    Claim("10", "A pruned VGG19 teaches VGG11 better than a pruned VGG19DBL of the same sparsity",
          "Table 1, Sec. 5.2", SEED_MEAN,
          "VGG11 distilled from VGG19DBL pruned to the same sparsity", **POINTS),
    Claim("11a", "With SynFlow as the pruner, the ST student still learns more from the pruned teacher",
          "Fig. 3 right (values not extracted)", SEED_MEAN, "the same ST student distilled from the unpruned teacher",
          **POINTS),
    Claim("11b", "The pruning algorithm does not matter: SynFlow and LR rewinding give the same gain",
          "Fig. 3 right, Sec. 5.3", SEED_MEAN, "the gain of the LR-rewinding ST student at the same sparsity",
          kind="equivalence", margin=0.3, **POINTS),
    Claim("12a", "Too much pruning hurts: the ST gain peaks at 79%, above 87%", "Fig. 3 left, Sec. 5.3", SEED,
          "the gain (pruned minus unpruned teacher) of the ST87 student", **POINTS),
    Claim("12b", "Too much pruning hurts: the ST gain at 79% is above that at 91%", "Fig. 3 left, Sec. 5.3", SEED,
          "the gain of the ST91 student", **POINTS),
    Claim("13a", "Agreement is not accuracy: in VGG19 self-distillation the pruned teacher's student agrees more with it",
          "Sec. 3.1, appendix (values not extracted)", SEED_MEAN, "agreement of the equal-budget dense teacher's student",
          **POINTS),
    Claim("13b", "... while in ResNet18 self-distillation the pruned teacher's student agrees less with it",
          "Sec. 3.1, appendix (values not extracted)", SEED_MEAN, "agreement of the equal-budget dense teacher's student",
          direction=-1, **POINTS),
    Claim("14", "Prune, then distill also works at scale (ResNet50 on ImageNet)", "Sec. 5.3 and appendix (not extracted)",
          "seed", "the unpruned teacher"),
]
MARGIN_11B = "0.3 points: about half the mean gain of Table 4's VGG19-ST students over the unpruned teacher (shown)"
GAP = (1.0, 10.0)  # the teacher must beat the student trained alone by 1 to 10 points (KD has something to transfer,
# and the student learns): the paper's VGG19 -> VGG11 gap is 3.6 points
RATIOS = ("0.36", "0.59", "0.79")
# The paper's evidence, from data/paper/park2022.csv: (table, ours row, control row) per ratio, (teacher, ratio, student).
_T = lambda table, a, b: [(table, tuple(x.format(r=r, p=round(100 * float(r))) for x in a),
                           tuple(x.format(r=r, p=round(100 * float(r))) for x in b)) for r in RATIOS]
EVIDENCE = {
    "1": _T(1, ("VGG19", "{r}", "VGG11"), ("VGG19", "none", "VGG11")),
    "3": [(1, ("VGG19", "none", "VGG11"), ("none", "-", "VGG11"))],
    "5a": _T(2, ("VGG19", "{r}", "VGG19"), ("VGG19", "none", "VGG19")),
    "5b": _T(2, ("ResNet18", "{r}", "ResNet18"), ("ResNet18", "none", "ResNet18")),
    "6a": _T(3, ("ResNet18", "{r}", "VGG16"), ("ResNet18", "none", "VGG16")),
    "6b": _T(3, ("ResNet18", "{r}", "MobileNetV2"), ("ResNet18", "none", "MobileNetV2")),
    "7a": [((4, 6), ("VGG19", "0.59", "VGG19-ST59"), ("VGG19", "0.59", "VGG19-CL1"))],
    "7b": [((4, 6), ("VGG19", "0.59", "VGG19-ST59"), ("VGG19", "0.59", "VGG19-CL2"))],
    "8a": _T(4, ("VGG19", "{r}", "VGG19-ST{p}"), ("none", "-", "VGG19-ST{p}")),
    "8b": _T(5, ("ResNet18", "{r}", "ResNet18-ST{p}"), ("none", "-", "ResNet18-ST{p}")),
    "9a": _T(4, ("VGG19", "{r}", "VGG19-ST{p}"), ("VGG19", "none", "VGG19-ST{p}")),
    "9b": _T(5, ("ResNet18", "{r}", "ResNet18-ST{p}"), ("ResNet18", "none", "ResNet18-ST{p}")),
    "10": _T(1, ("VGG19", "{r}", "VGG11"), ("VGG19DBL", "{r}", "VGG11")),
}


def paper_effects(paper: pd.DataFrame) -> pd.DataFrame:
    """Per claim with table evidence: the paper's differences (points) and the sd of a difference of two of its
    cells, sqrt(std_a^2 + std_b^2) (its three runs per cell are not paired)."""
    cell = paper.set_index(["table", "teacher", "pruning_ratio", "student"])
    out = []
    for cid, rows in EVIDENCE.items():
        for table, a, b in rows:
            ta, tb = table if isinstance(table, tuple) else (table, table)
            x, y = cell.loc[(ta, *a)], cell.loc[(tb, *b)]
            out.append({"id": cid, "table": table, "ours": " / ".join(a), "control": " / ".join(b),
                        "effect": x.student_accuracy - y.student_accuracy,
                        "sd": math.hypot(x.student_std, y.student_std)})
    return pd.DataFrame(out)


def power(effects: pd.DataFrame, family: int) -> pd.DataFrame:
    """Seeds needed per claim for 80% power (stats.planned_n) if our effect and spread were the paper's: at alpha 0.05,
    and at Holm's strictest level alpha / `family`."""
    from .. import stats
    g = effects.groupby("id", sort=False).agg(effect=("effect", "mean"), sd=("sd", "mean")).reset_index()
    n = lambda e, sd, a: stats.planned_n(e, sd, alpha=a) if e > 0 else math.nan
    return g.assign(**{"n at alpha 0.05": [n(e, sd, 0.05) for e, sd in zip(g.effect, g.sd)],
                       f"n at alpha 0.05/{family}": [n(e, sd, 0.05 / family) for e, sd in zip(g.effect, g.sd)]})


def evidence(effects: pd.DataFrame, claim: Claim) -> str:
    """The claim's paper column with the paper's differences appended."""
    d = effects[effects.id == claim.id]
    return claim.paper if d.empty else f"{claim.paper}: " + " / ".join(f"{e:+.2f}" for e in d.effect) + " points"


# ---------------------------------------------------------------- our values, one per unit
def _cell(runs: pd.DataFrame, key: tuple, value: str) -> pd.DataFrame:
    t, c, s = key
    d = runs[(runs.teacher == t) & (runs.pruning_ratio == c) & (runs.student == s)]
    if d.seed.duplicated().any():
        raise ValueError(f"two runs of {key} share a seed")
    return d.set_index("seed")[[value, "run"]]


def side(runs: pd.DataFrame, groups: list[list[tuple]], value: str = "test_top1") -> tuple[pd.Series, list]:
    """Per seed, the mean over `groups` of sum(sign * value) over a group's (sign, key) terms; and the run ids used."""
    parts, used = [], []
    if not groups:
        return pd.Series(dtype=float), []
    for group in groups:
        terms = [(sign, _cell(runs, key, value)) for sign, key in group]
        if any(t.empty for _, t in terms):
            return pd.Series(dtype=float), []
        parts.append(sum(sign * t[value] for sign, t in terms))
        used += [r for _, t in terms for r in t.run]
    return pd.concat(parts, axis=1).dropna().mean(axis=1), used


def paired(runs: pd.DataFrame, ours: list, control: list, value: str = "test_top1") -> tuple[list, list]:
    """ours and control per seed on the seeds both have, each control run used once and never on both sides."""
    a, used_a = side(runs, ours, value)
    b, used_b = side(runs, control, value)
    if len(set(used_b)) != len(used_b) or set(used_a) & set(used_b):
        raise ValueError("a control run is used twice in one claim")
    seeds = sorted(set(a.index) & set(b.index))
    return [float(a[s]) for s in seeds], [float(b[s]) for s in seeds]


# ---------------------------------------------------------------- preconditions
def kd_works(runs: pd.DataFrame, teacher: str, students: list[str]) -> Check:
    """KD from the unpruned teachers (pre-trained, and retrained by rewinding rounds at 0% sparsity) beats training
    alone on this pair: per seed, the mean over those KD runs (and over `students`) vs the students trained alone."""
    name = f"KD beats training alone on {teacher} -> {', '.join(students)}"
    unpruned = sorted(c for c in set(runs.pruning_ratio) if c == "none" or c.startswith("dense"))
    have = set(zip(runs.teacher, runs.pruning_ratio, runs.student))
    keys = [[(teacher, c, s) for c in unpruned if (teacher, c, s) in have] for s in students]
    ours = [[(1 / len(k), key) for key in k] for k in keys]  # the mean over the unpruned teachers
    a, b = paired(runs, [g for g in ours if g], [[(1, ("none", "-", s))] for s, g in zip(students, ours) if g])
    if len(a) < 2:
        return Check(name, False, f"{len(a)} seed(s) with both runs: too few to check")
    return kc.check_superior(name, a, b)


def gap(runs: pd.DataFrame, teachers: pd.DataFrame, teacher: str, student: str) -> Check:
    """The unpruned teacher beats the student trained alone by GAP[0] to GAP[1] points (paper: 3.6 for VGG11)."""
    name = f"{teacher} beats {student} trained alone by {GAP[0]:g} to {GAP[1]:g} points"
    t = teachers[(teachers.teacher == teacher) & (teachers.pruning_ratio == "none")].test_top1
    s = runs[(runs.pruning_ratio == "-") & (runs.student == student)].test_top1
    if t.empty or s.empty:
        return Check(name, False, "teacher or student-alone runs missing")
    g = 100 * (t.mean() - s.mean())
    return Check(name, GAP[0] <= g <= GAP[1], f"{100 * t.mean():.2f} vs {100 * s.mean():.2f} (means over runs): "
                                              f"gap {g:+.2f} points")


def _ratios(runs: pd.DataFrame, teacher: str, student, kinds=("{r}", "dense {r}")) -> list[str]:
    """The ratios r for which every condition `kinds` of `teacher` -> student(r) was run."""
    have = set(zip(runs.teacher, runs.pruning_ratio, runs.student))
    st = student if callable(student) else (lambda r: student)
    return [r for r in sorted({c.split()[-1] for c in runs.pruning_ratio if c[-1].isdigit()})
            if all((teacher if k != "-" else "none", k.format(r=r), st(r)) in have for k in kinds)]


def _st(name: str, synflow: bool = False):
    return lambda r: f"{name}-ST{round(100 * float(r))}" + (" (SynFlow)" if synflow else "")


def _test(claim: Claim, runs: pd.DataFrame, ours: list, control: list, checks: list, why: str,
          value: str = "test_top1") -> dict:
    """A row: not tested when the runs are missing (`why`) or fewer than 2 seeds have them all, else evaluated."""
    if not ours:
        return kc.not_tested(claim, why)
    a, b = paired(runs, ours, control, value)
    if len(a) < 2:
        return kc.not_tested(claim, f"{len(a)} seed(s) with every run of this claim: an interval needs at least 2")
    return kc.evaluate(claim, a, b, checks)


def _vs(runs: pd.DataFrame, teacher: str, student, ours: str = "{r}", control: str = "dense {r}") -> tuple[list, list]:
    """Groups of `teacher` -> student at condition `ours` and at `control`, for every ratio r where both were run."""
    st = student if callable(student) else (lambda r: student)
    key = lambda k, r: ("none" if k == "-" else teacher, k.format(r=r), st(r))
    if "{r}" not in ours + control:  # one row each, no ratio
        have = all(not _cell(runs, key(k, ""), "test_top1").empty for k in (ours, control))
        return ([[(1, key(ours, ""))]], [[(1, key(control, ""))]]) if have else ([], [])
    rs = _ratios(runs, teacher, st, (ours, control))
    return [[(1, key(ours, r))] for r in rs], [[(1, key(control, r))] for r in rs]


def _plateau(plateau: dict[str, Check], *names: str) -> list[Check]:
    return [plateau.get(n, Check(f"{n} trained to a plateau", False, "not measured")) for n in names]


def _st_names(runs: pd.DataFrame, teacher: str) -> list[str]:
    return [_st(teacher)(r) for r in _ratios(runs, teacher, _st(teacher), ("-", "none"))]


def _less_accurate(claim: Claim, runs, teachers, checks) -> dict:
    """Claim 2: only the ratios whose pruned VGG19 is less accurate (test) than its equal-budget control."""
    acc = teachers.groupby(["teacher", "pruning_ratio"]).test_top1.mean()
    rs = _ratios(runs, "VGG19", "VGG11")
    per_seed = teachers[teachers.teacher == "VGG19"].pivot_table(index="seed", columns="pruning_ratio", values="test_top1")

    def reliably_weaker(r: str) -> bool:  # paired by seed (each seed its own chain), not a difference of two means
        both = per_seed[[f"dense {r}", r]].dropna() if {r, f"dense {r}"} <= set(per_seed) else per_seed.iloc[:0]
        return len(both) >= 2 and kc.check_superior("", both[f"dense {r}"], both[r]).passed
    weaker = [r for r in rs if reliably_weaker(r)]
    detail = ", ".join(f"{r}: {100 * acc.get(('VGG19', r), math.nan):.2f} vs "
                       f"{100 * acc.get(('VGG19', 'dense ' + r), math.nan):.2f}" for r in rs)
    check = Check("a pruned VGG19 reliably less accurate than its equal-budget control (paired by seed, 95% CI)",
                  bool(weaker), detail or "none run")
    if rs and not weaker:
        return kc.evaluate(claim, None, None, [check])
    return _test(claim, runs, [[(1, ("VGG19", r, "VGG11"))] for r in weaker],
                 [[(1, ("VGG19", f"dense {r}", "VGG11"))] for r in weaker], [check] + checks,
                 "Table 1's equal-budget controls were not run")


def _smoothness(claim: Claim, teachers: pd.DataFrame, checks: list) -> dict:
    """Claim 4: the true-label probability on training images, pruned teacher vs its equal-budget dense teacher. One
    value per seed (mean over ratios) when every seed has its own teacher chain; else one per ratio (nested chains)."""
    t = teachers[(teachers.teacher == "VGG19")].dropna(subset=["true_label_prob"])
    p = t.pivot_table(index="seed", columns="pruning_ratio", values="true_label_prob")
    rs = [c for c in p.columns if c[0].isdigit() and f"dense {c}" in p.columns]
    if len(p) >= 2:  # per seed
        ours, control = p[rs].mean(axis=1).tolist(), p[[f"dense {r}" for r in rs]].mean(axis=1).tolist()
        claim = replace(claim, unit="seed (its own teacher chain), mean over the pruning ratios")
    elif len(p) == 1:  # one shared teacher chain: its ratios are nested rounds of one run, not independent units
        return kc.not_tested(claim, "one teacher chain (the paper's design): its pruning ratios are successive rounds "
                                    "of one run, not independent units; set teacher_per_seed to test this claim")
    else:
        ours, control = [], []
    if not rs or len(ours) < 2:
        return kc.not_tested(claim, f"{len(ours) if rs else 0} unit(s) with a pruned teacher and its equal-budget "
                                    f"control: an interval needs 2")
    return kc.evaluate(claim, ours, control, checks)


def _gain(teacher: str, student: str, pruned: str) -> list[tuple]:
    return [(1, (teacher, pruned, student)), (-1, (teacher, "none", student))]


def _synflow(by_id: dict, runs: pd.DataFrame, checks: list) -> dict:
    """Claims 11a/b (Fig. 3 right): SynFlow's ST students vs the unpruned teacher, and their gain vs LR rewinding's."""
    sf = _st("VGG19", synflow=True)
    rs = _ratios(runs, "VGG19", sf, ("synflow {r}", "none"))
    both = [r for r in rs if r in _ratios(runs, "VGG19", _st("VGG19"), ("{r}", "none"))]
    why = "Fig. 3 right (SynFlow teachers) was not run"
    gains = []  # "the same gain" says something only if both pruners give a gain: each must beat the unpruned teacher
    for name, groups in (("SynFlow", [_gain("VGG19", sf(r), f"synflow {r}") for r in both]),
                         ("LR rewinding", [_gain("VGG19", _st("VGG19")(r), r) for r in both])):
        vals, what = side(runs, groups)[0].tolist(), f"the {name} teacher's ST student gains over the unpruned teacher's"
        gains.append(kc.check_superior(what, vals, [0.0] * len(vals)) if len(vals) >= 2 else Check(what, False, "n < 2"))
    return {"11a": _test(by_id["11a"], runs, *_vs(runs, "VGG19", sf, "synflow {r}", "none"), checks, why),
            "11b": _test(by_id["11b"], runs, [_gain("VGG19", sf(r), f"synflow {r}") for r in both],
                         [_gain("VGG19", _st("VGG19")(r), r) for r in both], checks + gains, why)}


def _too_much(by_id: dict, runs: pd.DataFrame, checks: list) -> dict:
    """Claims 12a/b (Fig. 3 left): the ST gain at 79% vs at 87% and at 91%, per seed."""
    st, have = _st("VGG19"), set(_ratios(runs, "VGG19", _st("VGG19"), ("{r}", "none")))
    out = {}
    for cid, r in (("12a", "0.87"), ("12b", "0.91")):
        ok = {"0.79", r} <= have
        out[cid] = _test(by_id[cid], runs, [_gain("VGG19", st("0.79"), "0.79")] if ok else [],
                         [_gain("VGG19", st(r), r)], checks, f"Fig. 3 left lacks the 79% or {float(r):.0%} teacher")
    return out


def rows(runs: pd.DataFrame, teachers: pd.DataFrame, plateau: dict[str, Check], paper: pd.DataFrame) -> list[dict]:
    """Every claim of the paper as one row (kdlib.claims.evaluate / not_tested), before Holm (report.save_claims)."""
    c, effects = {x.id: x for x in CLAIMS}, paper_effects(paper)
    vgg, res = _plateau(plateau, "VGG19"), _plateau(plateau, "ResNet18")
    kd = lambda t, *s: [kd_works(runs, t, list(s))]
    st_kd = vgg + kd("VGG19", *_st_names(runs, "VGG19"))
    out = {"1": _test(c["1"], runs, *_vs(runs, "VGG19", "VGG11"), vgg + kd("VGG19", "VGG11") +
                      [gap(runs, teachers, "VGG19", "VGG11")], "Table 1's equal-budget controls were not run"),
           "2": _less_accurate(c["2"], runs, teachers, vgg + kd("VGG19", "VGG11")),
           "3": _test(c["3"], runs, *_vs(runs, "VGG19", "VGG11", "none", "-"), vgg, "Table 1 was not run"),
           "4": _smoothness(c["4"], teachers, vgg),
           "5a": _test(c["5a"], runs, *_vs(runs, "VGG19", "VGG19"), vgg + kd("VGG19", "VGG19"),
                       "Table 2's VGG19 rows with equal-budget controls were not run"),
           "5b": _test(c["5b"], runs, *_vs(runs, "ResNet18", "ResNet18"), res + kd("ResNet18", "ResNet18"), GPU_ONLY),
           "6a": _test(c["6a"], runs, *_vs(runs, "ResNet18", "VGG16"), res + kd("ResNet18", "VGG16"), GPU_ONLY),
           "6b": _test(c["6b"], runs, *_vs(runs, "ResNet18", "MobileNetV2"), res + kd("ResNet18", "MobileNetV2"), GPU_ONLY),
           "8a": _test(c["8a"], runs, *_vs(runs, "VGG19", _st("VGG19"), "{r}", "-"), vgg, "Table 4 was not run"),
           "8b": _test(c["8b"], runs, *_vs(runs, "ResNet18", _st("ResNet18"), "{r}", "-"), res, GPU_ONLY),
           "9a": _test(c["9a"], runs, *_vs(runs, "VGG19", _st("VGG19")), st_kd, "Table 4's equal-budget controls were not run"),
           "9b": _test(c["9b"], runs, *_vs(runs, "ResNet18", _st("ResNet18")),
                       res + kd("ResNet18", *_st_names(runs, "ResNet18")), GPU_ONLY),
           "13a": _test(c["13a"], runs, *_vs(runs, "VGG19", "VGG19"), vgg, "Table 2's VGG19 rows were not run", "agreement"),
           "13b": _test(c["13b"], runs, *_vs(runs, "ResNet18", "ResNet18"), res, GPU_ONLY, "agreement"),
           "14": kc.not_tested(c["14"], "the appendix (setup and results) is not in the extracted paper text")}
    for cid, cl in (("7a", "VGG19-CL1"), ("7b", "VGG19-CL2")):
        have = not _cell(runs, ("VGG19", "0.59", cl), "test_top1").empty
        out[cid] = _test(c[cid], runs, [[(1, ("VGG19", "0.59", "VGG19-ST59"))]] if have else [],
                         [[(1, ("VGG19", "0.59", cl))]], vgg, "Table 6's 59% rows were not run")
    dbl = [r for r in _ratios(runs, "VGG19", "VGG11", ("{r}",)) if r in _ratios(runs, "VGG19DBL", "VGG11", ("{r}",))]
    out["10"] = _test(c["10"], runs, [[(1, ("VGG19", r, "VGG11"))] for r in dbl], [[(1, ("VGG19DBL", r, "VGG11"))] for r in dbl],
                      vgg + _plateau(plateau, "VGG19DBL") + kd("VGG19", "VGG11") + kd("VGG19DBL", "VGG11"),
                      "no pruned VGG19DBL was run")
    out.update(_synflow(c, runs, st_kd))
    out.update(_too_much(c, runs, st_kd))
    return [{**out[x.id], "paper": evidence(effects, x)} for x in CLAIMS]
