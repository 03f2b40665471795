"""Kieu & Sood's claims, one row each, with verdicts from kdlib.claims (notebook-contract.md section 7).

Every claim is paired by seed: seed s owns its own all-layers baseline (the KD teacher, the int8 model and the
start of the pruning chains), so no run is the control of two pairs. Inputs are tidy tables, one row per run
(`run` = its id), so the pairing can be audited: every row records the runs on each side.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import report
from ..claims import Check, Claim, check_superior, evaluate, not_tested

ID = "kieu_sood"
SEED = "seed (its own baseline, teacher and chains; paired by seed)"
FP32, INT8, FP32_EAGER = "fp32 inductor", "int8 PT2E inductor", "fp32 eager"
INT8_MARGIN = 1.0  # points; why: MARGINS
KD_MARGIN = 2.0    # points; why: MARGINS
MARGINS = {
    "2a": "1 point: MLPerf Inference's quality target for quantized models (99% of the fp32 accuracy) at these "
          "accuracies, five times the paper's own 0.2-point drop",
    "4": "the paper's own teacher-student gap (Table I baseline 98.63% - 84% distilled), which the paper calls "
         "'minimal accuracy loss'; a literal reading (a point or two) fails the paper's own numbers",
}


def paper_gap() -> float:
    """The teacher-student gap the paper calls minimal, in points, from data/paper (Table I, Sec. III-D)."""
    p = report.paper_numbers(ID).set_index(["table", "row", "quantity"]).value
    return float(p[("I", "baseline", "accuracy")] - p[("III-D", "distilled", "accuracy")])


def declared() -> dict[str, Claim]:
    """The claims, declared before any data: id -> Claim (unit, control, kind, margin, direction)."""
    pts = {"scale": 100.0, "units": "points"}
    return {c.id: c for c in [
        Claim("1a", "Fine-tuning all layers from pretrained weights beats training only the new head",
              "Sec. III-B: all layers best (~98%); head-only not reported", SEED, "head only, same epochs", **pts),
        Claim("1b", "Fine-tuning all layers from pretrained weights beats training from random init",
              "Sec. III-B: all layers best (~98%); scratch not reported", SEED, "from scratch, same epochs", **pts),
        Claim("2a", "int8 post-training quantization keeps the accuracy (non-inferior)", "Table I: 98.63% -> 98.43%",
              SEED, "the same model in fp32", kind="non_inferiority", margin=INT8_MARGIN, **pts),
        Claim("2b", "int8 post-training quantization cuts the inference time", "Table I: 0.1672 s -> 0.069 s (2.4x)",
              SEED, "the same model in fp32, both compiled, same batch and threads", direction=-1, ratio=True),
        Claim("3", "Quantization reduces the model size (fp32 / int8 serialized state_dict, buffers included)",
              "abstract, Sec. IV (no number given)", "architecture (deterministic)", "the fp32 model",
              kind="deterministic", units="x"),
        Claim("4", "KD transfers knowledge with minimal accuracy loss (distilled student vs its teacher)",
              "abstract; Sec. III-D: ~98% teacher -> 84% student", SEED, "its teacher (the all-layers baseline)",
              kind="non_inferiority", margin=KD_MARGIN, **pts),
        Claim("5", "KD lifts SqueezeNet well above the same network trained alone", "Sec. III-D, IV: 60-70% -> 84%",
              SEED, "SqueezeNet alone, same epochs", **pts),
        Claim("6", "Iterative pruning with fine-tuning ends more accurate than the unpruned model",
              "Table III: 57.78% sparsity, 99.04% vs 97.83%", SEED,
              "the same fine-tuning chain without pruning (equal budget)", **pts),
        Claim("7a", "Pruning performs best: its accuracy change beats quantization's",
              "abstract, Sec. IV: +1.21 (Table III) vs -0.20 points (Table I)", SEED,
              "int8's change from the same baseline; pruning's change is measured against the equal-budget unpruned "
              "chain (so its extra fine-tuning does not count); compression not matched (int8 4x smaller, pruning "
              "fewer nonzeros but dense storage)", **pts),
        Claim("7b", "Pruning performs best: its accuracy change beats distillation's",
              "abstract, Sec. IV: +1.21 (Table III) vs -14.6 points (Sec. III-D)", SEED,
              "the distilled student's change from its teacher; pruning's change against the equal-budget unpruned "
              "chain; compression not matched", **pts),
    ]}


# ---------------------------------------------------------------- pairing
def _by_seed(df: pd.DataFrame, value: str) -> pd.DataFrame:
    """One row per seed (value, run); a seed with two runs is an error (a replicate would be reused)."""
    if df["seed"].duplicated().any():
        raise ValueError(f"two runs for seeds {sorted(set(df.seed[df.seed.duplicated()]))}: pair one run per seed")
    return df.set_index("seed")[[value, "run"]]


def paired(ours: pd.DataFrame, control: pd.DataFrame, value: str = "test_top1") -> tuple[list, list, dict]:
    """Values paired by seed (seeds both sides have), and the runs used on each side."""
    a, b = _by_seed(ours, value), _by_seed(control, value)
    seeds = sorted(set(a.index) & set(b.index))
    return (a.loc[seeds, value].tolist(), b.loc[seeds, value].tolist(),
            {"seeds": seeds, "ours_runs": a.loc[seeds, "run"].tolist(), "control_runs": b.loc[seeds, "run"].tolist()})


def _row(claim: Claim, ours, control, used: dict, checks=(), models_differ: bool = False) -> dict:
    """evaluate() with at least 2 units, else not tested (n < 2 gives no interval); the runs used are kept. The arms
    are distinct where their runs differ in every seed, or where the caller says so (`models_differ`: int8 and fp32
    are two models measured in one run)."""
    if len(used["seeds"]) < 2:
        return {**not_tested(claim, f"n = {len(used['seeds'])} seed(s) at this profile: an interval needs 2"), **used}
    distinct = models_differ or all(a != b for a, b in zip(used["ours_runs"], used["control_runs"]))
    return {**evaluate(claim, ours, control, checks, distinct_arms=distinct), **used}


def _change(after: pd.DataFrame, before: pd.DataFrame) -> pd.DataFrame:
    """Per seed: accuracy after a technique minus before it (runs joined as 'after+before')."""
    a, b = _by_seed(after, "test_top1"), _by_seed(before, "test_top1")
    seeds = sorted(set(a.index) & set(b.index))
    return pd.DataFrame({"seed": seeds, "test_top1": (a.loc[seeds, "test_top1"] - b.loc[seeds, "test_top1"]).values,
                         "run": [f"{x}+{y}" for x, y in zip(a.loc[seeds, "run"], b.loc[seeds, "run"])]})


# ---------------------------------------------------------------- the claims
def teacher_checks(plateau: pd.DataFrame, teachers: pd.DataFrame, alone: pd.DataFrame) -> list[Check]:
    """A teacher worth distilling: trained to a plateau (over the seeds) and better than the student alone."""
    rows = plateau[plateau.seed.astype(str) == "all"]  # the seeds-level row (kieu_sood.plateau), else every seed
    rows = rows if len(rows) else plateau
    flat = Check("teachers trained to a plateau", bool(rows.plateaued.all()) and len(rows) > 0,
                 "; ".join(f"seed {s}: {d}" for s, d in zip(rows.seed, rows.detail)))
    t, a, used = paired(teachers, alone)
    better = check_superior("teacher beats the student alone", t, a) if len(used["seeds"]) >= 2 else \
        Check("teacher beats the student alone", False, "fewer than 2 seeds")
    return [flat, better]


def works_check(students: pd.DataFrame) -> Check:
    """KD beats training alone on the teacher-student pairs (paired by seed): the precondition of every claim
    that presupposes working distillation."""
    kd = students.distilled.astype(bool)
    s, a, used = paired(students[kd], students[~kd])
    name = "KD beats training alone on this pair"
    return check_superior(name, s, a) if len(used["seeds"]) >= 2 else Check(name, False, "fewer than 2 seeds")


def claims(baselines: pd.DataFrame, table1: pd.DataFrame, students: pd.DataFrame, table3: pd.DataFrame,
           plateau: pd.DataFrame, primary: str) -> list[dict]:
    """Every claim's row. baselines: strategy, seed, test_top1, run; table1: seed, model, test_top1, median_ms,
    batch, threads, size_MiB, run; students: distilled, seed, test_top1, run (SqueezeNet); table3: chain, seed,
    iteration, test_top1, run (chain 'unpruned' is the equal-budget control; `primary` names the claimed chain);
    plateau: seed, plateaued, detail (each seed's teacher, metrics.plateaued)."""
    c, rows = declared(), []
    strategy = lambda s: baselines[baselines.strategy == s]
    teacher = strategy("all_layers")
    for cid, other in (("1a", "head_only"), ("1b", "scratch")):
        rows.append(_row(c[cid], *paired(teacher, strategy(other))))
    model = lambda m: table1[table1.model == m]
    rows.append(_row(c["2a"], *paired(model(INT8), model(FP32)), models_differ=True))
    rows.append(_row(c["2b"], *paired(model(INT8), model(FP32), "median_ms"), checks=[timing_check(table1)],
                     models_differ=True))
    rows.append(size_row(c["3"], table1))
    distilled = students.distilled.astype(bool)
    alone, kd = students[~distilled], students[distilled]
    checks = teacher_checks(plateau, teacher, alone)
    s, a, used = paired(kd, alone)
    works = works_check(students)
    rows.append(_row(c["4"], *paired(kd, teacher), checks=[checks[0], works]))
    rows.append(_row(c["5"], s, a, used, checks=checks))
    last = table3[table3.iteration == table3.iteration.max()]
    pruned, control = last[last.chain == primary], last[last.chain == "unpruned"]
    rows.append(_row(c["6"], *paired(pruned, control)))
    gain = _change(pruned, control)  # net of the extra fine-tuning: the equal-budget chain without pruning
    rows.append(_row(c["7a"], *paired(gain, _change(model(INT8), model(FP32)))))
    rows.append(_row(c["7b"], *paired(gain, _change(kd, teacher)), checks=[works]))
    return rows


def timing_check(table1: pd.DataFrame) -> Check:
    """fp32 and int8 of each seed timed at the same batch and thread count (both compiled by Inductor)."""
    timed = table1[table1.model.isin([FP32, INT8])]
    same = timed.groupby("seed")[["batch", "threads"]].nunique().le(1).all().all()
    return Check("same batch and threads, compiled vs compiled", bool(same),
                 f"batch {sorted(map(int, timed.batch.unique()))}, threads {sorted(map(int, timed.threads.unique()))}")


def size_row(claim: Claim, table1: pd.DataFrame) -> dict:
    """The size ratio fp32 / int8 of the first seed's model (sizes do not depend on the seed)."""
    if table1.empty:
        return not_tested(claim, "no int8 model at this profile")
    first = table1[table1.seed == table1.seed.min()].set_index("model").size_MiB
    ratio = float(first[FP32] / first[INT8])
    return {**evaluate(claim, ratio, 1.0), "seeds": [int(table1.seed.min())]}


def paper_effects() -> dict[str, float]:
    """The effects the paper reports, in each claim's units (points; a log-ratio for 2b), from data/paper; claims
    whose paper effect is unknown (1a, 1b) or sits on the margin by construction (4) are left out."""
    p = report.paper_numbers(ID).set_index(["table", "row", "quantity"]).value
    t3 = lambda i: p[("III", str(i), "validation_accuracy")]
    prune_gain, int8_change = t3(4) - t3(0), p[("I", "quantized", "accuracy")] - p[("I", "baseline", "accuracy")]
    return {"2a": int8_change, "2b": float(np.log(p[("I", "baseline", "inference_time")] / p[("I", "quantized", "inference_time")])),
            "5": p[("III-D", "distilled", "accuracy")] - p[("III-D", "alone", "validation_accuracy")], "6": prune_gain,
            "7a": prune_gain - int8_change, "7b": prune_gain + paper_gap()}


def power_table(table: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Per tested claim: the paper's effect (ours where the paper gives none), our sd of the per-seed differences,
    and stats.planned_n at Holm's strictest level (alpha / tested claims), for 80% power."""
    from .. import stats
    tested = table[table.kind != "deterministic"].dropna(subset=["sd"])
    m, effects, rows = max(1, int(table.p.notna().sum())), paper_effects(), []
    for r in tested.itertuples():
        effect, source = (effects[r.id], "paper") if r.id in effects else (r.effect, "ours")
        n = stats.planned_n(effect, r.sd, kind=r.kind, margin=r.margin, alpha=alpha / m) if r.sd > 0 else np.nan
        rows.append({"id": r.id, "effect": effect, "effect from": source, "our sd": r.sd, "kind": r.kind,
                     "margin": r.margin, "planned n (80% power)": n, "our n": r.n})
    return pd.DataFrame(rows)
