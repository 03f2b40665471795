"""Fontana et al. 2024 (DG2PF): the paper-vs-ours tables (I-VII) and figures (Figs. 1-2, the ablations, Table VI)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from .. import dg2pf, prune, stats
from .fontana2024 import DATASETS, LABELS, label

# our method names -> the paper's row for the same method (Table VI's Gradual Pruning* is Zhu & Gupta's GMP)
PAPER_METHOD = {"DG2PF": "DG2PF", "gradual magnitude (GMP)": "Gradual Pruning [27] (reimpl. by [63])"}


def _ours(df: pd.DataFrame, by: list[str], value: str = "test_top1") -> pd.DataFrame:
    s = stats.summarise(df.drop_duplicates(by + ["seed"]).assign(acc=100 * df[value]), by, "acc")
    return s.rename(columns={"mean": "ours", "std": "ours_std"})


def ablation_table(ab: pd.DataFrame, paper: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Tables I-V: the paper's acc@1 (mean +- std of 3 seeds, CIFAR-10) beside ours (mean +- std over our seeds),
    joined on (table, setting); the base's variants appear under Table IV."""
    ab = ab[ab.study != "base"].copy()
    unpruned = (ab.study == "variant") & (ab.setting == "unpruned")  # Table I's s = 0: the unpruned control
    ab["table"] = ["I" if u else LABELS[s][0] if s in LABELS else "IV" for s, u in zip(ab.study, unpruned)]
    ab["setting"] = [label("sparsity", 0.0) if u else label(s, v) if s in LABELS else v
                     for s, v, u in zip(ab.study, ab.setting, unpruned)]
    ours = _ours(ab, ["table", "setting"]).merge(
        ab.groupby(["table", "setting"]).params_prunable_nonzero.mean().rename("ours nonzero weights").reset_index())
    theirs = paper[paper.table.isin(["I", "II", "III", "IV", "V"])][["table", "setting", "params", "pruned", "std"]]
    out = theirs.merge(ours, on=["table", "setting"], how="outer")
    out = out.rename(columns={"pruned": "paper acc@1 (%), CIFAR-10", "std": "paper std", "params": "paper params",
                              "ours": f"ours acc@1 (%), {DATASETS[dataset]}", "ours_std": "ours std", "n": "ours n"})
    order = {t: i for i, t in enumerate(["I", "II", "III", "IV", "V"])}
    key = out.setting.map(lambda s: float(s.split("=")[1]) if "=" in s else np.inf)
    return out.assign(_t=out.table.map(order), _k=key).sort_values(["_t", "_k"]).drop(columns=["_t", "_k"])


def ablation_figure(table: pd.DataFrame, dataset: str):
    """Tables I-V as the change of acc@1 against the smallest setting both the paper and we ran (points): ours
    mean +- 1 SD over seeds, the paper's (3 seeds) beside; Table IV also draws our undistilled control."""
    ours_col = [c for c in table.columns if c.startswith("ours acc@1")][0]
    paper_col = "paper acc@1 (%), CIFAR-10"
    fig, axes = plt.subplots(1, 5, figsize=(18, 3.6))
    for ax, (study, (t, _)) in zip(axes, LABELS.items()):
        d = table[(table.table == t) & table.setting.str.contains("=")].copy()
        d["x"] = d.setting.map(lambda s: float(s.split("=")[1]))
        shared = d.dropna(subset=[ours_col, paper_col]).sort_values("x")
        if not len(shared):
            ax.set_title(f"Table {t}: no setting run by both")
            continue
        ref = shared.iloc[0]
        for col, std, name, fmt in ((ours_col, "ours std", f"ours ({DATASETS[dataset]}, mean ± 1 SD)", "o-"),
                                    (paper_col, "paper std", "paper (CIFAR-10, mean ± 1 SD, n = 3)", "s--")):
            e = d.dropna(subset=[col]).sort_values("x")
            ax.errorbar(e.x, e[col].astype(float) - float(ref[col]), yerr=e[std].astype(float), fmt=fmt, capsize=3,
                        label=name)
        control = table[(table.table == t) & (table.setting == "no teacher")].dropna(subset=[ours_col])
        if len(control):
            ax.axhline(float(control[ours_col].iloc[0]) - float(ref[ours_col]), color="C0", ls=":",
                       label="ours: no teacher (undistilled control)")
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set(xscale="log" if study == "temperature" else "linear", xlabel=study.replace("_", " "),
               ylabel=f"acc@1 change vs {ref.setting} (points)", title=f"Table {t}")
        ax.legend(fontsize=6)
    n = int(table["ours n"].max()) if table["ours n"].notna().any() else 0
    fig.suptitle(f"Tables I-V: DG2PF ablations on ResNet-18 (ours: {DATASETS[dataset]}, n = {n} seeds; paper: CIFAR-10)")
    fig.tight_layout()
    return fig


def table6(cmp: pd.DataFrame, dense: pd.DataFrame, paper: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Table VI: our DG2PF and equal-budget controls (baseline = our dense model) beside the paper's rows."""
    ours = _ours(cmp, ["model", "method"]).merge(dense[["model", "test_top1"]], on="model")
    ours = ours.assign(baseline=100 * ours.pop("test_top1"))
    ours["difference"] = ours.ours - ours.baseline
    ours["paper_method"] = ours.method.map(PAPER_METHOD)
    theirs = paper[paper.table == "VI"][["model", "method", "baseline", "pruned", "difference"]]
    out = theirs.merge(ours, left_on=["model", "method"], right_on=["model", "paper_method"], how="outer",
                       suffixes=(" (paper)", " (ours)"))
    out["method"] = out["method (ours)"].fillna(out["method (paper)"])
    ds = DATASETS[dataset]
    out = out.rename(columns={"baseline (paper)": "paper baseline, CIFAR-10", "pruned": "paper pruned, CIFAR-10",
                              "difference (paper)": "paper difference", "baseline (ours)": f"ours baseline, {ds}",
                              "ours": f"ours pruned, {ds}", "ours_std": "ours std", "difference (ours)": "ours difference",
                              "n": "ours n"})
    cols = ["model", "method", "paper baseline, CIFAR-10", "paper pruned, CIFAR-10", "paper difference",
            f"ours baseline, {ds}", f"ours pruned, {ds}", "ours std", "ours difference", "ours n"]
    return out[cols].sort_values(["model", "method"]).reset_index(drop=True)


def table6_figure(table: pd.DataFrame, dataset: str):
    """Table VI as pruned - dense (points) per method: ours mean +- 1 SD over seeds, the paper's beside it."""
    d = table.dropna(subset=["ours difference"])
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(d)), 3.6))
    x = np.arange(len(d))
    ax.bar(x - 0.2, d["ours difference"], 0.4, yerr=d["ours std"], capsize=3,
           label=f"ours ({DATASETS[dataset]}, mean ± 1 SD, n = {int(d['ours n'].max())} seeds)")
    paper = pd.to_numeric(d["paper difference"], errors="coerce")
    ax.bar(x + 0.2, paper.fillna(0), 0.4, color="0.6", label="paper (CIFAR-10; no bar: not reported)")
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_xticks(x, [f"{m}\n{k}" for m, k in zip(d.model, d.method)], fontsize=7)
    ax.set(ylabel="pruned minus dense acc@1 (points)", title="Table VI: DG2PF vs equal-budget controls")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def table7(imnet: pd.DataFrame | None, paper: pd.DataFrame) -> pd.DataFrame:
    """Table VII: the paper's rows (quoted), with our DG2PF beside its row where ImageNet was run."""
    theirs = paper[paper.table == "VII"][["model", "setting", "method", "baseline", "pruned", "difference"]]
    theirs = theirs.rename(columns={"baseline": "paper baseline, ImageNet", "pruned": "paper pruned, ImageNet",
                                    "difference": "paper difference"})
    if imnet is None or not len(imnet):
        return theirs.assign(ours="not run at this profile")
    ours = stats.summarise(imnet.assign(acc=100 * imnet.test_top1), ["model"], "acc").merge(
        imnet.groupby("model").baseline_top1.first().mul(100).rename("ours baseline, ImageNet").reset_index())
    ours = ours.rename(columns={"mean": "ours pruned, ImageNet", "std": "ours std", "n": "ours n"}).assign(method="DG2PF")
    ours["ours difference"] = ours["ours pruned, ImageNet"] - ours["ours baseline, ImageNet"]
    return theirs.merge(ours, on=["model", "method"], how="left")


def fig1(model, sparsity: float, what: str):
    """Fig. 1: histogram of every Conv/Linear weight with eq. (1)'s margins m_l, m_r at sparsity p."""
    w = np.concatenate([m.weight.detach().flatten().numpy() for _, m in prune.prunable(model)])
    m_l, m_r = dg2pf.margins(model, sparsity)
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    lo, hi = np.quantile(w, [0.0005, 0.9995])
    ax.hist(w[(w > lo) & (w < hi)], bins=200, color="C0", label=f"weights (n = {len(w):,}; 0.1% in the tails not drawn)")
    ax.axvspan(m_l, m_r, color="C3", alpha=0.15, label=f"pruned at p = {sparsity:g} (between the margins)")
    for m, name, side in ((m_l, "m_l", "right"), (m_r, "m_r", "left")):
        ax.axvline(m, color="C3", lw=1)
        ax.annotate(f"{name} = {m:.3g} ", (m, 0.5), xycoords=("data", "axes fraction"), fontsize=8, ha=side,
                    color="C3", rotation=90, va="center")
    ax.set(xlabel="weight value", ylabel="count of weights")
    ax.set_title(f"Fig. 1: eq. (1)'s margins at p = {sparsity:g}\n{what}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def _layer(model) -> tuple[str, object]:
    """Fig. 2's layer: the first 3x3 convolution with at least 32 kernels (depthwise ones count one per channel)."""
    return next((n, m) for n, m in prune.prunable(model) if m.weight.dim() == 4 and tuple(m.weight.shape[2:]) == (3, 3)
                and m.weight.shape[0] * m.weight.shape[1] >= 32)


def fig2(model, what: str, side: int = 8):
    """Fig. 2: the kept (yellow) and pruned (dark) weights of one layer, one 3x3 kernel per cell of a grid."""
    name, layer = _layer(model)
    mask = layer.weight_mask.bool() if hasattr(layer, "weight_mask") else layer.weight != 0
    out_c, in_c = mask.shape[:2]
    if in_c == 1:  # depthwise: one kernel per channel, row by row (the paper's MobileNetV2 layer)
        cells = [((k // side, k % side), mask[k, 0]) for k in range(min(out_c, side * side))]
    else:          # a full convolution: output channels down, input channels across
        cells = [((o, i), mask[o, i]) for o in range(min(side, out_c)) for i in range(min(side, in_c))]
    rows, cols = max(r for (r, _), _ in cells) + 1, max(c for (_, c), _ in cells) + 1
    grid = np.full((rows * 4 - 1, cols * 4 - 1), np.nan)
    for (r, c), kernel in cells:
        grid[4 * r: 4 * r + 3, 4 * c: 4 * c + 3] = kernel.float().numpy()
    fig, ax = plt.subplots(figsize=(5.2, 5.6))
    ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    xs, ys = np.arange(cols) * 4 + 1, np.arange(rows) * 4 + 1
    if in_c == 1:
        ax.set(xticks=xs, xticklabels=range(cols), yticks=ys, yticklabels=[cols * r for r in range(rows)],
               xlabel="channel (+ column)", ylabel="channel (first of the row)")
    else:
        ax.set(xticks=xs, xticklabels=range(cols), yticks=ys, yticklabels=range(rows),
               xlabel="input channel", ylabel="output channel")
    ax.grid(False)
    kept = float(mask.float().mean())
    ax.legend(handles=[Patch(color=plt.cm.viridis(1.0), label="kept"), Patch(color=plt.cm.viridis(0.0), label="pruned")],
              loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=8)
    ax.set_title(f"Fig. 2: {what}\nlayer {name} ({out_c}x{in_c} kernels of 3x3; {len(cells)} shown), "
                 f"{100 * (1 - kept):.1f}% of it pruned", fontsize=9)
    fig.tight_layout()
    return fig
