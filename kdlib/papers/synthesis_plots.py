"""The synthesis notebook's tables and figures: results per recipe, the Pareto frontiers (accuracy against bytes
and against latency) and which recipe wins where, computed from the frontier."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import prune

LABELS = {"alone": "student alone", "kd": "KD (dense student)", "malihi_weight": "KD → L1 weight pruning (Malihi)",
          "malihi_channel": "KD → L1 channel pruning (Malihi)", "park": "pruned teacher → KD (Park & No)",
          "dg2pf": "KD → DG2PF (Fontana)", "one_shot": "KD → one-shot magnitude", "gmp": "KD → gradual magnitude"}
MARKERS = dict(zip(LABELS, "os^vDP*X"))


def budgets(cfg: dict) -> list[dict]:
    """Each recipe's training budget in epochs (teacher epochs are shared by every KD recipe)."""
    t, s, p = cfg["teacher_train"]["epochs"], cfg["student_train"]["epochs"], cfg["park"]
    dg = f"{cfg['dg2pf']['dgp']['epochs']} + {cfg['dg2pf']['pf']['epochs']} (at most; patience {cfg['dg2pf']['dgp']['patience']})"
    rounds = prune.lr_rewinding_rounds(max(cfg["targets"]), p["rate"])
    rows = [{"recipe": "alone", "teacher epochs": 0, "student epochs": s, "then": "-"},
            {"recipe": "kd", "teacher epochs": t, "student epochs": s, "then": "-"},
            *[{"recipe": r, "teacher epochs": t, "student epochs": s,
               "then": f"{cfg['malihi']['finetune']['epochs']} epochs, last layer only"} for r in ("malihi_weight", "malihi_channel")],
            {"recipe": "park", "teacher epochs": f"{t} + {p['rewind']['epochs']} per round (up to {rounds} rounds)",
             "student epochs": p["student_train"]["epochs"], "then": "-"},
            *[{"recipe": r, "teacher epochs": t, "student epochs": s, "then": f"DG2PF budget: {dg} epochs"}
              for r in ("dg2pf", "one_shot", "gmp")]]
    return [r for r in rows if r["recipe"] in cfg["recipes"]]


def results_table(deployed: dict, dense_weights: int) -> pd.DataFrame:
    """One row per (recipe, target, seed, precision): test top-1, deployable bytes (best format and dense), the
    fraction of the dense student's Conv/Linear weights no longer nonzero, and the run id."""
    rows = []
    for (recipe, target, seed), d in deployed.items():
        for p in ("fp32", "int8"):
            rows.append({"recipe": recipe, "target": target, "seed": seed, "precision": p,
                         "test_top1": d["test_top1"] if p == "fp32" else d["int8_test_top1"], "bytes": d[f"{p}_best"],
                         "bytes_dense_format": d[f"{p}_dense"], "fewer_nonzeros": 1 - d["nonzero_weights"] / dense_weights,
                         "run": d["run"]})
    return pd.DataFrame(rows)


def latency_table(measured: dict) -> pd.DataFrame:
    """One row per (architecture, precision, batch): median and IQR in ms, threads."""
    return pd.DataFrame([{"architecture": a, **m} for a, ms in measured.items() for m in ms])


def summary(results: pd.DataFrame, latency: pd.DataFrame, architecture) -> pd.DataFrame:
    """Per (recipe, target, precision): mean, sd and n of test top-1 (points), mean bytes and fewer-nonzeros, and the
    latency of its architecture at each measured batch (columns latency_b<batch>, ms)."""
    g = results.groupby(["recipe", "target", "precision"], sort=False)
    out = g.agg(acc=("test_top1", "mean"), sd=("test_top1", "std"), n=("test_top1", "count"), bytes=("bytes", "mean"),
                fewer_nonzeros=("fewer_nonzeros", "mean")).reset_index()
    out[["acc", "sd"]] = 100 * out[["acc", "sd"]].fillna(0.0)
    out["KiB"] = out.bytes / 1024
    out["architecture"] = [architecture(r, t) for r, t in zip(out.recipe, out.target)]
    for b, d in latency.groupby("batch"):
        ms = d.set_index(["architecture", "precision"]).median_ms
        out[f"latency_b{b}"] = [ms.get((a, p), np.nan) for a, p in zip(out.architecture, out.precision)]
    out["label"] = [f"{LABELS[r]}, {p}" + (f", {100 * t:g}%" if t else "") for r, t, p in
                    zip(out.recipe, out.target, out.precision)]
    return out


def frontier(summary_: pd.DataFrame, x: str, floor: float = 0.0) -> pd.DataFrame:
    """The Pareto frontier on (x lower is better, mean accuracy higher is better): each point no other point beats
    on both, among the points at or above `floor` (%; a collapsed model deploys nothing, however small it is).
    Sorted by x; ties in x keep the more accurate point."""
    d = summary_[summary_.acc >= floor].dropna(subset=[x]).sort_values([x, "acc"], ascending=[True, False])
    best, keep = -np.inf, []
    for i, acc in zip(d.index, d.acc):
        if acc > best:
            keep.append(i)
            best = acc
    return d.loc[keep].reset_index(drop=True)


def winners(front: pd.DataFrame, x: str, unit: str) -> pd.DataFrame:
    """Where each frontier point wins: from its x up to the next frontier point's x it is the most accurate model
    that fits (accuracy in points, mean +- sd over n seeds)."""
    rows = []
    for i, r in front.iterrows():
        upper = front[x].iloc[i + 1] if i + 1 < len(front) else np.inf
        rows.append({"axis": x, "lower": r[x], "upper": upper, "unit": unit, "recipe": r.recipe,
                     "target": r.target, "precision": r.precision, "acc": r.acc, "sd": r.sd, "n": r.n})
    return pd.DataFrame(rows, columns=["axis", "lower", "upper", "unit", "recipe", "target", "precision", "acc", "sd", "n"])


def best_per_target(summary_: pd.DataFrame) -> pd.DataFrame:
    """At each matched target (equal nonzero weights) and precision: the most accurate recipe, the runner-up and
    the gap between their means (points; the claims test the pre-registered pairs with paired seeds)."""
    rows = []
    for (t, p), d in summary_[summary_.target > 0].groupby(["target", "precision"]):
        d = d.sort_values("acc", ascending=False)
        second = d.iloc[1] if len(d) > 1 else None
        rows.append({"target": t, "precision": p, "best": LABELS[d.iloc[0].recipe], "acc": d.iloc[0].acc,
                     "sd": d.iloc[0].sd, "KiB": d.iloc[0].bytes / 1024,
                     "runner-up": LABELS[second.recipe] if second is not None else "-",
                     "gap (points)": d.iloc[0].acc - second.acc if second is not None else np.nan})
    return pd.DataFrame(rows)


def note(win: pd.DataFrame) -> str:
    """The winners table in words (computed, never typed)."""
    if win.empty:  # e.g. the dry run, whose models train a few steps
        return "no model is at or above the floor (chance + 20 points): no frontier"
    parts = []
    for r in win.itertuples():
        upper = "and above" if not np.isfinite(r.upper) else f"to {r.upper:.4g} {r.unit}"
        what = LABELS[r.recipe] + (f" at {100 * r.target:g}% fewer nonzeros" if r.target else "")
        parts.append(f"from {r.lower:.4g} {upper}: {what}, {r.precision} ({r.acc:.2f} ± {r.sd:.2f}%, n = {r.n})")
    return f"{win.axis.iloc[0]}: " + "; ".join(parts)


def pareto(summary_: pd.DataFrame, xs: dict, title: str, floor: float = 0.0):
    """Test top-1 (mean ± 1 SD over seeds) against each x of `xs` {column: axis label}, log x; fp32 filled, int8
    hollow and dotted; the frontier (of the points at or above `floor`, drawn dashed) as a step line. No paper
    reports this pair: there is no paper value to draw."""
    fig, axes = plt.subplots(1, len(xs), figsize=(5.6 * len(xs), 4.4), squeeze=False)
    for ax, (x, label) in zip(axes[0], xs.items()):
        for (recipe, precision), d in summary_.dropna(subset=[x]).groupby(["recipe", "precision"], sort=False):
            d = d.sort_values(x)
            ax.errorbar(d[x], d.acc, yerr=d.sd, marker=MARKERS[recipe], ls="-" if precision == "fp32" else ":",
                        mfc=None if precision == "fp32" else "white", capsize=2, ms=6,
                        label=f"{LABELS[recipe]}, {precision}", color=f"C{list(LABELS).index(recipe)}")
        front = frontier(summary_, x, floor)
        ax.step(front[x], front.acc, where="post", color="k", lw=1, alpha=0.5, label="Pareto frontier")
        if floor > 0:
            ax.axhline(floor, color="grey", ls="--", lw=0.8, label=f"{floor:g}%: chance + 20 points (below: collapsed, "
                                                                     "not on the frontier)")
        ax.set(xscale="log", xlabel=label, ylabel="test top-1 (%), mean ± 1 SD over seeds")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    n = sorted(set(summary_.n.astype(int)))
    fig.suptitle(f"{title}\nn = {'/'.join(map(str, n))} seeds per point; error bars ±1 SD; a target is the fraction of the "
                 "dense student's weights no longer nonzero", fontsize=9)
    fig.tight_layout()
    return fig


def teacher_curve(history: pd.DataFrame, title: str):
    """The teacher's training and validation accuracy per epoch (the plateau check, shown)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.plot(history.epoch + 1, 100 * history.train_top1, "--", label="train (augmented)")
    ax.plot(history.epoch + 1, 100 * history.val_top1, "-", label="validation")
    ax.set(xlabel="epoch", ylabel="top-1 (%)", title=title)
    ax.legend()
    return fig
