"""Plots shared by the notebooks: curves and bars of ours (mean +- std over seeds) beside the paper's values."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd


def style() -> None:
    plt.rcParams.update({"figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
                         "axes.spines.right": False, "legend.frameon": False})


def mean_std(df: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean, std and count of `value` per group (std over seeds; 0 with one seed)."""
    g = df.groupby(by, dropna=False)[value]
    return g.agg(mean="mean", std="std", n="count").reset_index().fillna({"std": 0.0})


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
