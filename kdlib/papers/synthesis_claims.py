"""The synthesis notebook's claims: each a comparison of two recipes (or of a model and its int8 version) on the
same pair, paired over seeds, with kdlib.claims' verdict engine (Holm over the notebook's tested claims)."""
from __future__ import annotations

import math

import pandas as pd

from .. import claims, metrics, report, stats
from .. import data as kdata
from ..claims import Check, Claim

UNIT = "seed (paired: the seed of the KD student and of everything derived from it; one teacher for all)"
SOURCE = {"park": "Park & No 2022 (prune the teacher, then distil)", "malihi": "Malihi & Heidemann 2024 (distil, then prune)",
          "fontana": "Fontana et al. 2024 (DG2PF, Tables VI-VII)", "kieu": "Kieu & Sood (Table I; abstract and conclusion)"}


def definitions(cfg: dict) -> list[Claim]:
    """The claims, one comparison each (a claim with two controls is two rows)."""
    t, pts = f"{100 * cfg['primary_target']:g}%", {"scale": 100.0, "units": "points", "unit": UNIT}
    ni = {"kind": "non_inferiority", "margin": cfg["int8_margin"], **pts}
    speed = {"kind": "deterministic", "scale": 1.0, "units": "x", "unit": "one measurement per architecture (median of "
             "repeated batches on this CPU)", "paper": SOURCE["kieu"]}
    return [
        Claim("1", f"Park & No's recipe (prune the teacher, then KD) beats Malihi & Heidemann's (KD, then L1 weight pruning "
                   f"with last-layer fine-tuning) at equal nonzeros ({t} fewer): the two recipes as published",
              f"{SOURCE['park']} vs {SOURCE['malihi']}", control=f"KD -> L1 weight pruning + last-layer FT, {t}", **pts),
        Claim("1b", f"Pruning the teacher before KD beats pruning the KD student after, at equal nonzeros ({t}) with the "
                    "whole network fine-tuned: the order alone, without claim 1's fine-tuning gap",
              f"{SOURCE['park']} vs {SOURCE['malihi']}",
              control=f"KD -> one-shot magnitude pruning + DG2PF's budget of whole-network fine-tuning (no "
                      f"distillation), {t}", **pts),
        Claim("2", f"Pruning the teacher before KD beats pruning the student after KD by DG2PF at equal nonzeros ({t})",
              f"{SOURCE['park']} vs {SOURCE['fontana']}", control=f"KD -> DG2PF (self-distilled), {t}", **pts),
        Claim("3", f"After KD, L1 weight pruning beats L1 channel pruning at the same reduction ({t})", SOURCE["malihi"],
              control=f"KD -> L1 channel pruning + last-layer FT, {t} of the parameters removed", **pts),
        Claim("4", f"DG2PF beats one-shot magnitude pruning at equal sparsity, optimiser and epochs ({t})", SOURCE["fontana"],
              control="KD student -> one-shot global magnitude pruning + DG2PF's budget, no distillation", **pts),
        Claim("5", f"DG2PF beats gradual magnitude pruning at equal sparsity, optimiser and epochs ({t})", SOURCE["fontana"],
              control="KD student -> gradual (cubic) magnitude pruning + DG2PF's budget, no distillation", **pts),
        Claim("6", "int8 PTQ keeps the distilled student's accuracy", SOURCE["kieu"], control="the same model in fp32", **ni),
        Claim("7", f"int8 PTQ keeps the accuracy of a {t}-sparse student (DG2PF)", SOURCE["kieu"],
              control="the same model in fp32", **ni),
        Claim("8", "Pruning beats quantization at comparable size: the 80%-sparse DG2PF student in fp32 (sparse storage) "
                   "vs the distilled student in int8", SOURCE["kieu"], control="KD student, int8 (dense)", **pts),
        Claim("9", "int8 PTQ cuts CPU latency at batch 64 (dense student, both Inductor-compiled)",
              control="the fp32 model, Inductor-compiled", **speed),
        Claim("10", "int8 PTQ cuts CPU latency at batch 1 (dense student, both Inductor-compiled)",
              control="the fp32 model, Inductor-compiled", **speed),
    ]


def accuracies(results: pd.DataFrame, recipe: str, target: float, precision: str = "fp32") -> pd.Series:
    """Test top-1 per seed of one recipe at one target and precision."""
    rows = results[(results.recipe == recipe) & (results.target == target) & (results.precision == precision)]
    if rows.seed.duplicated().any():
        raise ValueError(f"{recipe} at {target} ({precision}) has a seed twice: one value per unit")
    return rows.set_index("seed").test_top1


def paired(results: pd.DataFrame, ours: tuple, control: tuple) -> tuple[list, list]:
    """Ours and the control aligned on seed: each seed once on each side (no replicate used twice)."""
    a, b = accuracies(results, *ours).align(accuracies(results, *control), join="inner")
    return list(a), list(b)


def checks(results: pd.DataFrame, teacher_history: pd.DataFrame, teacher_top1: float, cfg: dict) -> dict[str, Check]:
    """The preconditions: the teacher trained to a plateau, KD beating training alone on the pair (paired seeds),
    and students that learn (the KD student within cfg's gap of its teacher)."""
    c = cfg["checks"]
    flat, detail = metrics.plateaued(teacher_history, tolerance=c["plateau_tolerance"])
    kd, alone = paired(results, ("kd", 0.0), ("alone", 0.0))
    works = (claims.check_superior("KD beats training the student alone", kd, alone) if len(kd) >= 2 else
             Check("KD beats training the student alone", False, f"n = {len(kd)}: no interval"))
    mean_kd = 100 * sum(kd) / max(1, len(kd))
    floor = useful_floor(cfg)
    learns = claims.check_at_least(f"the KD student learns: within {c['student_gap']:g} points of its teacher and "
                                   f"above {floor:.0f}%", mean_kd, max(100 * teacher_top1 - c["student_gap"], floor),
                                   f"teacher {100 * teacher_top1:.2f}%; mean student test top-1 ")
    return {"plateau": Check("the teacher trained to a plateau", flat, detail), "kd": works, "learns": learns}


def useful_floor(cfg: dict) -> float:
    """Chance + 20 points (%): below it a model has collapsed (two models at chance agree trivially). The 'student
    learns' check, the claims' notes and the frontier's winners use it."""
    return 100 / kdata.info(cfg["data"]["name"]).num_classes + 20


NEEDS = {"1": ("plateau", "kd", "learns"), "1b": ("plateau", "kd", "learns"), "2": ("plateau", "kd", "learns"),
         "3": ("kd", "learns"), "4": ("learns",),
         "5": ("learns",), "6": ("learns",), "7": (), "8": ("learns",), "9": (), "10": ()}


def _comparisons(cfg: dict) -> dict:
    """Each sampled claim's (ours, control) as (recipe, target, precision)."""
    t = cfg["primary_target"]
    return {"1": (("park", t), ("malihi_weight", t)), "1b": (("park", t), ("one_shot", t)),
            "2": (("park", t), ("dg2pf", t)),
            "3": (("malihi_weight", t), ("malihi_channel", t)), "4": (("dg2pf", t), ("one_shot", t)),
            "5": (("dg2pf", t), ("gmp", t)), "6": (("kd", 0.0, "int8"), ("kd", 0.0)),
            "7": (("dg2pf", t, "int8"), ("dg2pf", t)), "8": (("dg2pf", 0.8), ("kd", 0.0, "int8"))}


def _speedup(latency: pd.DataFrame, batch: int) -> tuple[float | None, str, bool]:
    """fp32 / int8 median latency of the dense student at `batch`, the measurements in words, and whether the two
    timings are clear of each other (median +- IQR ranges disjoint): a timing is noisy, one median decides nothing."""
    d = latency[(latency.architecture == "dense student") & (latency.batch == batch)].set_index("precision")
    if not {"fp32", "int8"} <= set(d.index):
        return None, "", False
    words = "; ".join(f"{p} {d.median_ms[p]:.3g} ms (IQR {d.iqr_ms[p]:.2g})" for p in ("fp32", "int8"))
    lo = {p: d.median_ms[p] - d.iqr_ms[p] for p in ("fp32", "int8")}
    hi = {p: d.median_ms[p] + d.iqr_ms[p] for p in ("fp32", "int8")}
    clear = hi["int8"] < lo["fp32"] or hi["fp32"] < lo["int8"]
    return float(d.median_ms["fp32"] / d.median_ms["int8"]), f"{words}, {int(d.threads.iloc[0])} threads", bool(clear)


def _bytes(results: pd.DataFrame, recipe: str, target: float, precision: str = "fp32") -> float:
    rows = results[(results.recipe == recipe) & (results.target == target) & (results.precision == precision)]
    return float(rows.bytes.mean())


def claims_rows(results: pd.DataFrame, latency: pd.DataFrame, checks_: dict[str, Check], cfg: dict) -> list[dict]:
    """Every claim's row (kdlib.claims.evaluate or not_tested); report.save_claims applies Holm over them."""
    rows, comparisons = [], _comparisons(cfg)
    for claim in definitions(cfg):
        needed = [checks_[k] for k in NEEDS[claim.id]]
        if claim.kind == "deterministic":
            value, words, clear = _speedup(latency, 64 if claim.id == "9" else 1)
            if value is None:
                rows.append(claims.not_tested(claim, "latency not measured at this batch at this profile"))
                continue
            row = claims.evaluate(claim, value, 1.0, needed)
            if row["verdict"] != claims.NOT_TESTED and not clear:
                row = {**row, "verdict": stats.INCONCLUSIVE, "note": f"{row['note']}; the two timings overlap "
                                                                     f"(median +- IQR): too noisy to decide"}
            rows.append({**row, "note": f"{row['note']}; {words}"})
            continue
        ours, control = paired(results, *comparisons[claim.id])
        if len(ours) < 2:
            rows.append(claims.not_tested(claim, f"{len(ours)} paired seed(s) at this profile (a target or recipe "
                                                 f"this profile does not run, or one seed): no interval"))
            continue
        row = claims.evaluate(claim, ours, control, needed)
        collapsed = _collapsed(ours, control, useful_floor(cfg))
        if collapsed and row["verdict"] != claims.NOT_TESTED:
            row["note"] = f"{row['note']}; {collapsed}".lstrip("; ")
        if claim.id == "8":
            sizes = [_bytes(results, *c) / 1024 for c in comparisons["8"]]
            row["note"] = f"{row['note']}; deployable sizes {sizes[0]:.1f} KiB (ours) vs {sizes[1]:.1f} KiB (control)".lstrip("; ")
        rows.append(row)
    return rows


def _collapsed(ours: list, control: list, floor: float) -> str:
    """A note when either side's mean accuracy is below `floor`: the comparison then says that side's recipe fails
    here, not by how much the other is better."""
    low = [(side, 100 * sum(v) / len(v)) for side, v in (("ours", ours), ("the control", control))
           if 100 * sum(v) / len(v) < floor]
    return "; ".join(f"{side} at {mean:.1f}% is below {floor:.0f}% (chance + 20 points): a collapsed model, so the "
                     f"effect measures that collapse" for side, mean in low)


# ---------------------------------------------------------------- power analysis
def _park_anchor() -> tuple[str, float, float]:
    """Park & No Table 1 (CIFAR-100, VGG19 -> VGG11): pruned-teacher students minus the unpruned teacher's student;
    sd of a paired difference = sqrt(2) x the reported sd over three runs."""
    df = report.paper_numbers("park2022")
    t1 = df[(df.table.astype(str) == "1") & (df.student == "VGG11") & (df.teacher == "VGG19")]
    none = t1[t1.pruning_ratio == "none"].student_accuracy.iloc[0]
    pruned = t1[~t1.pruning_ratio.isin(["none", "-"])]
    return ("Park & No Table 1: VGG11 from pruned vs unpruned VGG19 (CIFAR-100)",
            float((pruned.student_accuracy - none).mean()), math.sqrt(2) * float(t1.student_std.mean()))


def _fontana_anchor() -> tuple[str, float, float]:
    """Fontana et al. Table VI (ResNet-18, CIFAR-10, 95%): DG2PF minus gradual pruning; sd from Table I's spread."""
    df = report.paper_numbers("fontana2024")
    r18 = df[(df.model == "ResNet-18") & (df.dataset == "cifar10") & (df.setting == "s=0.95")]
    vi = r18[r18.table == "VI"]
    dg = float(vi[vi.method == "DG2PF"].pruned.iloc[0])
    gmp = float(vi[vi.method.str.startswith("Gradual")].pruned.iloc[0])
    sd = math.sqrt(2) * float(r18[(r18.table == "I") & (r18.method == "DG2PF")]["std"].iloc[0])
    return "Fontana et al. Table VI: DG2PF vs gradual pruning (ResNet-18, CIFAR-10, 95%)", dg - gmp, sd


def power_table(cfg: dict) -> pd.DataFrame:
    """The seeds a power analysis asks for: n with 80% power at alpha / m (Holm's strictest step over the m sampled
    claims) for the effects the papers report, read from data/paper/*.csv; what this profile runs beside it."""
    m = sum(c.kind != "deterministic" for c in definitions(cfg))
    rows = []
    for claims_, anchor in (("1, 1b, 2", _park_anchor), ("4, 5", _fontana_anchor)):
        try:
            what, effect, sd = anchor()
            n = stats.planned_n(effect, sd, alpha=0.05 / m)
        except (KeyError, IndexError, ValueError, FileNotFoundError) as error:
            what, effect, sd, n = f"{anchor.__doc__.split(':')[0]}: not found ({error})", math.nan, math.nan, None
        rows.append({"claims": claims_, "paper effect": what, "effect (points)": effect, "sd of a paired difference": sd,
                     f"planned n (alpha = 0.05/{m})": n, "this profile runs": len(cfg["seeds"])})
    rows.append({"claims": "3, 6-8", "paper effect": "no matching effect with a spread: Malihi & Heidemann compare at each "
                 "method's breakpoint, Kieu & Sood report single runs", "effect (points)": math.nan,
                 "sd of a paired difference": math.nan, f"planned n (alpha = 0.05/{m})": None,
                 "this profile runs": len(cfg["seeds"])})
    return pd.DataFrame(rows)
