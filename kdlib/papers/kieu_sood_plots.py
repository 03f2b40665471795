"""Kieu & Sood's tables and figures, ours beside the paper's values (data/paper/kieu_sood.csv): the Sec. III-B
strategies, Table I, Figs. 3-4 (SqueezeNet alone and distilled, per epoch), Table II and Table III. Columns name the
dataset; bands and bars are +-1 SD over seeds."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import models, plots, report, stats
from . import kieu_sood as paper


# ---------------------------------------------------------------- tables: paper vs ours
def paper_table(table: str) -> pd.DataFrame:
    """One table of the paper's numbers (data/paper/kieu_sood.csv), rows x quantities."""
    p = report.paper_numbers(paper.ID)
    return p[p.table == table].pivot(index="row", columns="quantity", values="value")


def _summary(df: pd.DataFrame, by: str, value: str, label: str) -> pd.DataFrame:
    """Mean, sd and n of `value` (a fraction) in percent, per `by`, headed with the dataset."""
    s = stats.summarise(df.assign(v=100 * df[value]), by, "v")
    return s.rename(columns={"mean": f"{value} (%), {label} (ours, mean)", "std": "sd", "n": "n seeds"})


def baselines_table(runs: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Ours per strategy beside the paper's (only all layers is reported)."""
    ours = _summary(runs, "strategy", "test_top1", paper.dataset_label(cfg))
    theirs = paper_table("III-B").accuracy.rename(f"accuracy (%), {paper.PAPER_DATA} (paper)")
    return ours.merge(theirs, left_on="strategy", right_index=True, how="left")


ROWS_I = {"fp32 inductor": "baseline", "int8 PT2E inductor": "quantized", "fp32 eager": "baseline, eager (ours only)"}


def table1(runs: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Ours (mean over seeds) beside the paper's Table I; the paper's batch, threads and CPU are not stated."""
    label = paper.dataset_label(cfg)
    ours = runs.assign(row=runs.model.map(ROWS_I), acc=100 * runs.test_top1).groupby("row", sort=False).agg(
        **{f"accuracy (%), {label} (ours)": ("acc", "mean"), f"latency (ms), {label} (ours)": ("median_ms", "mean"),
           "latency sd (ms)": ("median_ms", "std"), "batch": ("batch", "first"), "threads": ("threads", "first"),
           "size (MiB, state_dict)": ("size_MiB", "mean"), "n seeds": ("seed", "nunique")})
    theirs = paper_table("I").rename(columns={"accuracy": f"accuracy (%), {paper.PAPER_DATA} (paper)",
                                              "inference_time": f"inference time (s), {paper.PAPER_DATA} (paper)"})
    return theirs.join(ours, how="outer").loc[list(ROWS_I.values())].reset_index(names="row")


def kd_table(students: pd.DataFrame, teachers: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Teacher, student alone and distilled: our test accuracy beside the paper's numbers (Sec. III-D, IV)."""
    role = students.distilled.astype(bool).map({True: "distilled", False: "alone"})
    runs = pd.concat([teachers.assign(row="teacher"), students.assign(row=role)])
    ours = _summary(runs, "row", "test_top1", paper.dataset_label(cfg)).set_index("row")
    theirs = paper_table("III-D").rename(columns=lambda q: f"{q.replace('_', ' ')} (%), {paper.PAPER_DATA} (paper)")
    return ours.join(theirs, how="left").loc[["teacher", "alone", "distilled"]].reset_index()


def sizes(model) -> dict:
    """Parameters, and size in MiB counted two ways: fp32 parameters only, and the state_dict (buffers too)."""
    params = sum(p.numel() for p in model.parameters())
    state = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    return {"parameters": params, "size (MiB), parameters only": params * 4 / 2**20,
            "size (MiB), state_dict": state / 2**20}


def table2(cfg: dict) -> pd.DataFrame:
    """Table II counted on the paper's architectures with a 525-way head, beside the paper's (profile-independent;
    StudentNet's architecture is not given: kdlib's `studentnet` is sized to match)."""
    arch = {"ResNet-50 (teacher)": paper.PAPER["baseline"]["name"]} | {f"{k} (student)": v["name"]
                                                                  for k, v in paper.PAPER["students"].items()}
    ours = pd.DataFrame([{"row": k, **sizes(models.build(v, 525))} for k, v in arch.items()]).set_index("row")
    theirs = paper_table("II").rename(columns={"parameters": "parameters (paper)", "size": "size (MB, paper)"})
    return ours.join(theirs).reset_index()


def table3(runs: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Ours per chain and iteration (mean over seeds) beside the paper's chain (Table III)."""
    label = paper.dataset_label(cfg)
    ours = runs.assign(val=100 * runs.val_top1, test=100 * runs.test_top1).groupby(["chain", "iteration"]).agg(
        **{f"global sparsity (%), {label} (ours)": ("global_sparsity", "mean"),
           f"validation accuracy (%), {label} (ours)": ("val", "mean"), "val sd": ("val", "std"),
           f"test accuracy (%), {label} (ours)": ("test", "mean"), "test sd": ("test", "std"),
           "n seeds": ("seed", "nunique")}).reset_index()
    theirs = paper_table("III").rename(columns=lambda q: f"{q.replace('_', ' ')} (%), {paper.PAPER_DATA} (paper)")
    theirs.index = theirs.index.astype(int)
    return ours.merge(theirs, left_on="iteration", right_index=True, how="left")


def profile_sizes(cfg: dict, int8_runs: pd.DataFrame) -> pd.DataFrame:
    """The models this profile trains, counted as Table II counts them, with the int8 model's serialized size."""
    from .. import data
    info = data.info(cfg["data"]["name"])
    classes = len(cfg["data"]["classes"]) if cfg["data"].get("classes") else info.num_classes
    arch = {"teacher (baseline)": cfg["baseline"]} | {f"{k} (student)": v for k, v in cfg["students"].items()}
    rows = [{"row": k, **sizes(models.build(v["name"], classes, info.in_channels, v["width"]))} for k, v in arch.items()]
    int8 = int8_runs[int8_runs.model == "int8 PT2E inductor"].size_MiB
    rows.append({"row": "teacher, int8 (Table I)", "size (MiB), state_dict": int8.mean() if len(int8) else np.nan})
    return pd.DataFrame(rows).assign(dataset=paper.dataset_label(cfg))


# ---------------------------------------------------------------- figures

LABELS = {"head_only": "head only\n(pretrained)", "all_layers": "all layers\n(pretrained)", "scratch": "all layers\n(random init)"}


def baselines(summary: pd.DataFrame, paper_all_layers: float, ours: str, theirs: str):
    """Sec. III-B: test accuracy per strategy (mean +- 1 SD over seeds); the paper's value only at its bar."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    x = np.arange(len(summary))
    ax.bar(x, summary["mean"], 0.6, yerr=summary["std"], capsize=4, color="C0",
           label=f"ours, {ours} (mean ± 1 SD, n = {int(summary['n'].min())} seeds)")
    i = list(summary.strategy).index("all_layers")
    ax.plot([i - 0.3, i + 0.3], [paper_all_layers] * 2, color="C3", lw=2.5, label=f"paper, {theirs} (all layers only)")
    ax.set_xticks(x, [LABELS.get(s, s) for s in summary.strategy])
    low = min((summary["mean"] - summary["std"]).min(), paper_all_layers)
    ax.set(ylabel="test accuracy (%)", ylim=(max(0, low - 10), 100.5), title="Baselines (Sec. III-B): fine-tuning strategies")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), fontsize=8)
    return fig


def _mean_band(ax, runs: list[pd.DataFrame], column: str, label: str, scale: float = 1.0, **kw):
    """The per-epoch mean of `column` over the seeds' histories with a +-1 SD band."""
    table = pd.concat([h.set_index("epoch")[column] for h in runs], axis=1) * scale
    plots.curve(ax, table.index + 1, table.mean(axis=1), table.std(axis=1).fillna(0), label=label, marker=".", **kw)


def curves(alone: list[pd.DataFrame], distilled: list[pd.DataFrame] | None, paper: dict, ours: str, title: str):
    """Figs. 3-4: accuracy (train and validation) and losses per epoch, mean +- 1 SD over seeds. The distilled
    student's training loss (alpha T^2 KL + (1 - alpha) CE) has its own axis; validation losses are cross-entropy."""
    runs = distilled if distilled is not None else alone
    fig, axes = plt.subplots(1, 3 if distilled is not None else 2, figsize=(13 if distilled is not None else 9, 3.6))
    acc = axes[0]
    _mean_band(acc, runs, "train_top1", "train", 100)
    _mean_band(acc, runs, "val_top1", "validation", 100)
    if distilled is not None:
        _mean_band(acc, alone, "val_top1", "validation, SqueezeNet alone", 100, color="0.5", ls="--")
    for text, value in paper.items():
        acc.axhline(value, ls=":", color="C3", lw=1.2)
        acc.annotate(f"paper: {text}", (1, value), fontsize=7, va="bottom", color="C3")
    acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    if distilled is None:
        _mean_band(axes[1], runs, "train_loss", "train")
        _mean_band(axes[1], runs, "val_loss", "validation")
        axes[1].set(xlabel="epoch", ylabel="cross-entropy (nats)", title="loss (cross-entropy)")
    else:
        _mean_band(axes[1], runs, "train_loss", "train (KD loss)", color="C2")
        axes[1].set(xlabel="epoch", ylabel="KD loss: α T² KL + (1 − α) CE", title="training loss (distillation)")
        _mean_band(axes[2], runs, "val_loss", "validation, distilled", color="C1")
        _mean_band(axes[2], alone, "val_loss", "validation, alone", color="0.5", ls="--")
        axes[2].set(xlabel="epoch", ylabel="cross-entropy (nats)", title="validation loss (cross-entropy)")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.suptitle(f"{title}: ours on {ours}, mean ± 1 SD over n = {len(runs)} seeds", fontsize=10)
    fig.tight_layout()
    return fig


def pruning(t3: pd.DataFrame, paper3: pd.DataFrame, primary: str, ours: str, theirs: str):
    """Table III as curves: global sparsity and validation accuracy per iteration, ours (the claimed chain and the
    unpruned equal-budget control, mean +- 1 SD over seeds) beside the paper's chain."""
    fig, (sp, acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    for chain, style in ((primary, "-"), ("unpruned", "--")):
        d = t3[t3.chain == chain]
        g = d.groupby("iteration")
        label = f"ours, {ours}: {'pruned ' + chain if chain != 'unpruned' else 'unpruned control'}"
        plots.curve(sp, g.global_sparsity.mean().index, g.global_sparsity.mean(), g.global_sparsity.std().fillna(0),
                    label=label, ls=style)
        v = g.val_top1.agg(["mean", "std"]) * 100
        plots.curve(acc, v.index, v["mean"], v["std"].fillna(0), label=label, ls=style)
    it = paper3.index.astype(int)
    sp.plot(it, paper3.global_sparsity, "s:", color="C3", label=f"paper, {theirs}")
    acc.plot(it, paper3.validation_accuracy, "s:", color="C3", label=f"paper, {theirs}")
    sp.set(xlabel="iteration (prune 20% of the remaining weights, then fine-tune)", ylabel="global sparsity (%)",
           title="sparsity")
    acc.set(xlabel="iteration", ylabel="validation accuracy (%)", title="validation accuracy (best epoch)")
    for ax in (sp, acc):
        ax.set_xticks(sorted(set(it) | set(t3.iteration)))
        ax.legend(fontsize=7)
    n = t3.groupby("chain").seed.nunique().min()
    fig.suptitle(f"Table III: iterative pruning with fine-tuning (mean ± 1 SD over n = {n} seeds)", fontsize=10)
    fig.tight_layout()
    return fig
