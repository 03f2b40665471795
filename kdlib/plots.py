"""Plots shared by the notebooks: curves and bars of ours (mean +- std over seeds) beside the paper's values."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from . import stats


def style() -> None:
    plt.rcParams.update({"figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
                         "axes.spines.right": False, "legend.frameon": False})


def bars(ax, labels, ours_mean, ours_std, paper=None, *, ylabel: str, title: str = ""):
    """Grouped bars: ours (mean +- std) and, where given, the paper's value beside it."""
    x = range(len(labels))
    width = 0.4 if paper is not None else 0.7
    ax.bar([i - (width / 2 if paper is not None else 0) for i in x], ours_mean, width, yerr=ours_std, capsize=3,
           label="ours (mean ± std)")
    if paper is not None:
        ax.bar([i + width / 2 for i in x], paper, width, label="paper", color="0.6")
    ax.set_xticks(list(x), labels, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    return ax


def curve(ax, x, mean, std=None, *, label: str, marker: str = "o", **kw):
    """A line with a shaded +- std band."""
    line, = ax.plot(x, mean, marker=marker, label=label, **kw)
    if std is not None:
        ax.fill_between(x, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                        alpha=0.2, color=line.get_color())
    return line


def training_curves(histories: dict, paper_lines: dict | None = None):
    """Accuracy and loss per epoch, train and validation, one line style per run (Kieu & Sood Figs. 3-4)."""
    fig, (acc, loss) = plt.subplots(1, 2, figsize=(10, 3.5))
    for (label, h), style in zip(histories.items(), ("--", "-", ":", "-.")):
        epoch = h.epoch + 1
        acc.plot(epoch, 100 * h.train_top1, style, label=f"{label}: train")
        acc.plot(epoch, 100 * h.val_top1, style, label=f"{label}: validation")
        loss.plot(epoch, h.train_loss, style, label=f"{label}: train (its training loss)")
        loss.plot(epoch, h.val_loss, style, label=f"{label}: validation (cross-entropy)")
    for text, value in (paper_lines or {}).items():
        acc.axhline(value, ls=":", color="0.5", lw=1)
        acc.annotate(text, (1, value), fontsize=7, va="bottom")
    acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    loss.set(xlabel="epoch", ylabel="loss", title="loss")
    acc.legend(fontsize=7)
    loss.legend(fontsize=7)
    return fig


def pruning_curves(sweep: pd.DataFrame, pairs: list[str], title: str):
    """Figs. 1-2 of Malihi & Heidemann: test accuracy vs remaining parameters, a row per method, a column per pair."""
    fig, axes = plt.subplots(2, len(pairs), figsize=(4.2 * len(pairs), 6.5), squeeze=False, sharey=True)
    agg = sweep.groupby(["pair", "role", "method", "level"]).agg(
        params=("params_nonzero", "mean"), acc=("test_top1", "mean"), std=("test_top1", "std")).reset_index().fillna(0)
    for row, method in enumerate(["weight", "channel"]):
        for col, pair in enumerate(pairs):
            ax = axes[row][col]
            for role, d in agg[(agg.pair == pair) & (agg.method == method)].groupby("role"):
                curve(ax, d.params, 100 * d.acc, 100 * d["std"], label=role)
            ax.set(xscale="log", xlabel="remaining parameters", ylabel=f"{method} pruning: test accuracy (%)", title=pair)
            ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def grouped_bars(df: pd.DataFrame, x: str, hue: str, value: str, *, ylabel: str, title: str):
    """Bars of mean +- std of `value` per (x, hue), hue side by side."""
    s = stats.summarise(df, [x, hue], value)
    hues = list(dict.fromkeys(s[hue]))
    xs = list(dict.fromkeys(s[x]))
    width = 0.8 / len(hues)
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(xs)), 3.5))
    for i, h in enumerate(hues):
        d = s[s[hue] == h].set_index(x).reindex(xs)
        ax.bar([j + width * (i - (len(hues) - 1) / 2) for j in range(len(xs))], d["mean"], width, yerr=d["std"],
               capsize=2, label=h)
    ax.set_xticks(range(len(xs)), xs, rotation=15)
    ax.set(ylabel=ylabel, title=title)
    ax.legend(fontsize=7)
    return fig
