"""Malihi & Heidemann 2024's figures (Figs. 1-6) and paper-vs-ours tables (Tables 1-3): ours always computed, the
paper's values read from data/paper/malihi2024.csv and labelled as the paper's."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import ticker

from .. import plots, report, stats
from .malihi2024 import ID, PAPER_DATASET

COLORS = {"weight": "tab:blue", "channel": "tab:orange", "distilled (unpruned)": "0.55"}
NAMES = {"fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}


def _percent_log_axis(axis) -> None:
    """A log axis with labels only at 1-2-5 decades, as percentages (no overlapping minor labels)."""
    axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}%"))
    axis.set_minor_formatter(ticker.NullFormatter())


# ---------------------------------------------------------------- tables
QUANTITIES = {("teacher", "acc_before"): "acc_teacher", ("student", "acc_before"): "acc_student_distilled",
              ("teacher", "params_before"): "params_teacher_before", ("student", "params_before"): "params_student_before",
              ("teacher", "acc_breakpoint"): "acc_teacher_breakpoint",
              ("student", "acc_breakpoint"): "acc_student_breakpoint",
              ("teacher", "params_breakpoint"): "params_teacher_breakpoint",
              ("student", "params_breakpoint"): "params_student_breakpoint"}


def paper_table(table: str) -> pd.DataFrame:
    """The paper's Table 1 or 2 (and the text's numbers) in long form: accuracies in %, parameters as counts."""
    p = report.paper_numbers(ID)
    p = p[p.table.isin([table, "text"]) & p.quantity.str.startswith(("acc", "params"))].copy()
    big = p.quantity.str.endswith("_1e7")
    p.loc[big, "value"] = p.loc[big, "value"] * 1e7
    p["quantity"] = p.quantity.str.removesuffix("_1e7")
    want = "cifar100" if table == "1" else "cifar10"
    p = p[p.dataset == want].groupby(["pair", "method", "quantity"]).value.first().reset_index()
    return p.rename(columns={"pair": "paper_pair", "value": f"paper ({want})"})


def table12(pairs: pd.DataFrame, cfg: dict, dataset: str) -> pd.DataFrame:
    """Tables 1-2 for one of our datasets: our per-pair values (seeds averaged) beside the paper's, joined on the
    paper's pair each of ours stands for (accuracy in %, parameters as counts)."""
    d = pairs[(pairs.dataset == dataset) & pairs.role.isin(["teacher", "student"])]
    rows = [{"pair": r.pair, "paper_pair": cfg["pairs"][r.pair]["paper_pair"], "method": r.method,
             "quantity": q, f"ours ({dataset})": (100 if q.startswith("acc") else 1) * r[col]}
            for _, r in d.iterrows() for (role, col), q in QUANTITIES.items() if role == r.role]
    ours = pd.DataFrame(rows)
    table = "1" if PAPER_DATASET[dataset] == "cifar100" else "2"
    return ours.merge(paper_table(table), on=["paper_pair", "method", "quantity"], how="left")


def table3(pairs: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Table 3 (ours): the STUDENT's parameters at its breakpoint per teacher, KD before pruning as the paper
    credits it; the seven other methods' columns were lost in the extraction (report.paper_numbers: missing)."""
    d = pairs[pairs.role == "student"].pivot_table(index=["dataset", "pair"], columns="method",
                                                   values="params_breakpoint").reset_index()
    d.insert(2, "teacher", d.pair.map(lambda p: cfg["pairs"][p]["teacher"]["name"]))
    return d.rename(columns={"weight": "KD + weight pruning", "channel": "KD + channel pruning"})



# ---------------------------------------------------------------- figures
def paper_breakpoints() -> pd.DataFrame:
    """The paper's breakpoints as fractions of its unpruned teacher's parameters (Table 1, CIFAR-100, and the text's
    ResNet101->ResNet50 channel number): the x-positions marked on Figs. 1-2."""
    p = report.paper_numbers(ID)
    p = p[(p.dataset == "cifar100") & p.value.notna()]
    v = p.set_index(["pair", "method", "quantity"]).value.groupby(level=[0, 1, 2]).first()
    teacher = v.xs("params_teacher_before_1e7", level=2).droplevel(1).groupby(level=0).first()
    rows = []
    for (pair, method, q), value in v.items():
        role = {"params_student_breakpoint_1e7": "student", "params_teacher_breakpoint_1e7": "teacher"}.get(q)
        if role and pair in teacher:
            rows.append({"paper_pair": pair, "method": method, "role": role, "percent": 100 * value / teacher[pair]})
    return pd.DataFrame(rows)


def pruning_curves(sweep: pd.DataFrame, cfg: dict, dataset: str, figure: str, paper_bp: pd.DataFrame):
    """Figs. 1-2: test accuracy vs remaining parameters (% of the pair's unpruned teacher, log axis), teacher and
    student, a row per method and a column per pair; mean +- 1 SD over seeds; the paper's breakpoints as arrows."""
    pairs = list(cfg["pairs"])
    d = sweep[sweep.dataset == dataset]
    full = d[(d.role == "teacher") & (d.level == 0)].groupby("pair").params.first()
    d = d[d.role.isin(["teacher", "student"])].assign(percent=lambda x: 100 * x.params / x.pair.map(full),
                                                      acc=lambda x: 100 * x.test_top1)
    fig, axes = plt.subplots(2, len(pairs), figsize=(2.7 * len(pairs), 5.6), squeeze=False, sharey="col")
    for row, method in enumerate(("weight", "channel")):
        for col, pair in enumerate(pairs):
            ax = axes[row][col]
            for role, c in d[(d.pair == pair) & (d.method == method)].groupby("role"):
                s = c.groupby("level").agg(x=("percent", "mean"), y=("acc", "mean"), sd=("acc", "std"), n=("acc", "size"))
                plots.curve(ax, s.x, s.y, s.sd.fillna(0), label=f"{role} (n = {s.n.max()})", marker=".",
                            color="0.45" if role == "teacher" else COLORS[method])
            marks = paper_bp[(paper_bp.paper_pair == cfg["pairs"][pair]["paper_pair"]) & (paper_bp.method == method)]
            for m in marks.itertuples():
                ax.annotate("", (m.percent, 1), xycoords=("data", "axes fraction"), xytext=(m.percent, 0.88),
                            textcoords=("data", "axes fraction"),
                            arrowprops={"arrowstyle": "->", "color": "0.45" if m.role == "teacher" else "k"})
            ax.set_xscale("log")
            _percent_log_axis(ax.xaxis)
            ax.set_title(f"{pair}\n(paper: {cfg['pairs'][pair]['paper_pair']})", fontsize=7)
            ax.set_xlabel("remaining parameters (% of teacher)", fontsize=7)
            ax.tick_params(labelsize=6)
            if col == 0:
                ax.set_ylabel(f"{method} pruning\ntest accuracy (%)")
                ax.legend(fontsize=6)
    fig.suptitle(f"{figure}: {NAMES.get(dataset, dataset)}, accuracy vs remaining parameters (band: +-1 SD over "
                 f"seeds where n > 1; arrows: the paper's breakpoints, CIFAR-100, Table 1; black student, grey teacher)",
                 fontsize=9)
    fig.tight_layout()
    return fig


def efficiency_bars(bp: pd.DataFrame, cfg: dict, dataset: str, figure: str):
    """Figs. 3-4: performance efficiency (eq. 2) at the breakpoint relative to the distilled, unpruned student of
    the same pair (= 1), log axis; mean +- 1 SD over seeds; the paper's ratio (Table 1 / text) beside ours."""
    s = bp[(bp.dataset == dataset) & (bp.role == "student")].assign(ratio=lambda x: x.efficiency / x.efficiency_before)
    summary = stats.summarise(s, ["pair", "method"], "ratio")
    paper = _paper_ratios()
    pairs = list(cfg["pairs"])
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(pairs)), 3.8))
    for i, method in enumerate(("weight", "channel")):
        m = summary[summary.method == method].set_index("pair").reindex(pairs)
        x = np.arange(len(pairs)) + (i - 0.5) * 0.38
        ax.bar(x, m["mean"], 0.36, yerr=m["std"], capsize=2, color=COLORS[method], label=f"ours: {method}")
        theirs = [paper.get((cfg["pairs"][p]["paper_pair"], method), np.nan) for p in pairs]
        ax.plot(x, theirs, "D", mfc="none", mec="k", label=f"paper (CIFAR-100): {method}" if i == 0 else
                "paper (CIFAR-100, text): channel")
    ax.axhline(1, color=COLORS["distilled (unpruned)"], lw=1, ls="--", label="distilled, unpruned student (= 1)")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.set_xticks(range(len(pairs)), pairs, rotation=25, ha="right", fontsize=7)
    n = s.groupby("pair").seed.nunique().max()
    ax.set(ylabel="efficiency / distilled student's", title=f"{figure}: {NAMES.get(dataset, dataset)}, performance "
           f"efficiency at the breakpoint (w1 = w2 = 0.5; n = {n} seed(s) per pair, bars +-1 SD)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def _paper_ratios() -> dict:
    """(paper pair, method) -> the paper's efficiency at the breakpoint over the distilled student's (CIFAR-100)."""
    p = report.paper_numbers(ID)
    v = p[(p.dataset == "cifar100") & p.value.notna()].groupby(["pair", "method", "quantity"]).value.first()
    out = {}
    for pair in v.index.get_level_values(0).unique():
        dense = v.get((pair, "weight", "acc_student_distilled")), v.get((pair, "weight", "params_student_before_1e7"))
        for method in ("weight", "channel"):
            at = v.get((pair, method, "acc_student_breakpoint")), v.get((pair, method, "params_student_breakpoint_1e7"))
            if None not in dense + at:
                out[(pair, method)] = (at[0] / at[1]) / (dense[0] / dense[1])
    return out


def layer_removal(layers: pd.DataFrame, dataset: str):
    """Fig. 5: the fraction of weights removed per layer of the student network at each method's breakpoint."""
    pairs = list(dict.fromkeys(layers.pair))
    fig, axes = plt.subplots(2, len(pairs), figsize=(4.2 * len(pairs), 5.0), squeeze=False, sharey=True)
    for row, method in enumerate(("weight", "channel")):
        for col, pair in enumerate(pairs):
            ax, d = axes[row][col], layers[(layers.pair == pair) & (layers.method == method)].reset_index(drop=True)
            ax.bar(d.index, 100 * d.removed, color=COLORS[method], width=0.8)
            level = d.level.iloc[0] if len(d) else 0.0
            if level == 0:
                ax.text(0.5, 0.5, "breakpoint at level 0:\nno layer pruned", transform=ax.transAxes, ha="center")
            ax.set(ylim=(0, 100), xlabel="layer of the student network (input -> output)",
                   title=f"({'abc'[col] if row == 0 else 'def'[col]}) {method} pruning at {100 * level:.0f}%: {pair}")
            ax.title.set_fontsize(8)
            if col == 0:
                ax.set_ylabel("weights removed (%)")
    fig.suptitle(f"Fig. 5: {NAMES.get(dataset, dataset)}, removed weights per layer at the breakpoint (one seed)",
                 fontsize=9)
    fig.tight_layout()
    return fig


def ttest_plot(pairs: pd.DataFrame, datasets: list[str]):
    """Fig. 6: each pair's efficiency with weight vs channel pruning (seeds averaged; a line per pair), our paired
    t-test over pairs in the paper's orientation (channel - weight) beside the paper's."""
    paper = report.paper_numbers(ID).query("table == 'fig6'").pivot(index="dataset", columns="quantity",
                                                                           values="value")
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.6 * len(datasets), 4.0), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        s = pairs[(pairs.dataset == dataset) & (pairs.role == "student")]
        w, c = (s[s.method == m].set_index("pair").efficiency * 1e8 for m in ("weight", "channel"))
        c = c.reindex(w.index)
        for pair in w.index:
            ax.plot([0, 1], [c[pair], w[pair]], "-o", color="0.6", ms=4)
        r = stats.compare(c, w) if len(w) >= 2 else None
        ours = f"ours: t = {r['effect'] / (r['sd'] / np.sqrt(r['n'])):.2f}, p = {r['p']:.2g}, df = {r['n'] - 1}" \
            if r and r["sd"] > 0 else "ours: n < 2 or no spread"
        theirs = PAPER_DATASET.get(dataset, dataset)
        ref = f"paper ({NAMES[theirs]}): t = {paper.loc[theirs, 't']:.2f}, p = {paper.loc[theirs, 'p']:.2g}, df = 9"
        ax.set_yscale("log")
        ax.set_xticks([0, 1], ["channel pruning", "weight pruning"])
        ax.set(xlim=(-0.3, 1.3), ylabel="efficiency (%-accuracy per 1e6 parameters)",
               title=f"{NAMES.get(dataset, dataset)}: {len(w)} pairs\n{ours}\n{ref}")
        ax.title.set_fontsize(8)
    fig.suptitle("Fig. 6: paired t-test of efficiency, channel - weight (a line per pair)", fontsize=9)
    fig.tight_layout()
    return fig


def training_curves(histories: dict, title: str):
    """Validation accuracy per epoch of every unpruned training (the plateau and 'students learn' checks)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), sharey=True)
    for ax, role in zip(axes, ("teacher", "student", "alone")):
        for name, h in histories.get(role, {}).items():
            ax.plot(h.epoch + 1, 100 * h.val_top1, label=name)
        ax.set(xlabel="epoch", title={"teacher": "teachers", "student": "SimKD students",
                                      "alone": "students trained alone (no KD)"}[role])
        ax.legend(fontsize=6)
    axes[0].set_ylabel("validation accuracy (%)")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- checks and costs
def architecture_counts() -> pd.DataFrame:
    """Table 1's 'P before pruning' (x 1e7) beside our counts of the paper's architectures: whole networks with
    1000-class ImageNet heads (what the paper's numbers match) and the student network without a classifier (what
    kdlib prunes and counts for a SimKD student; its own classifier is unused by SimKD)."""
    from .. import metrics, models
    from .malihi2024 import PAIRS
    count = lambda m: metrics.count_params(m)["total"] / 1e7
    p = report.paper_numbers(ID).query("table == '1' and method == 'weight'")
    p = p.pivot(index="pair", columns="quantity", values="value")
    rows = []
    for pair, v in PAIRS.items():
        t, s = (models.build(v[r]["name"], 1000) for r in ("teacher", "student"))
        rows.append({"pair": pair, "P(t) ours, 1000 classes": count(t), "P(t) paper": p.params_teacher_before_1e7[pair],
                     "P(s) ours, 1000 classes": count(s), "P(s) paper": p.params_student_before_1e7[pair],
                     "P(s) ours, student network (no classifier)": count(s.features)})
    return pd.DataFrame(rows).round(2)


def training_histories(runner, cfg: dict, dataset: str) -> dict:
    """{role: {pair or teacher name: history}} of the unpruned trainings of one dataset."""
    from .malihi2024 import trainings
    out: dict = {}
    for (d, pair, role, seed), spec in trainings(cfg).items():
        if d == dataset:
            name = f"{cfg['pairs'][pair]['teacher']['name']} x{cfg['pairs'][pair]['teacher']['width']:g}" \
                if role == "teacher" else f"{pair} s{seed}"
            out.setdefault(role, {})[name] = runner.run(spec).history()
    return out


def run_costs(runner, specs_: list) -> pd.DataFrame:
    """Per stage: distinct runs (parents included), mean seconds per optimizer step and peak memory, as recorded
    when each run was computed (kdlib's seconds_per_step and peak_rss_mib)."""
    from .. import specs as kspecs
    seen, rows, todo = set(), [], list(specs_)
    while todo:
        s = todo.pop()
        if (rid := kspecs.run_id(s)) in seen:
            continue
        seen.add(rid)
        todo += kspecs.parents(s)
        run = runner.run(s)
        rows.append({"stage": s.stage + (" (last layer)" if getattr(s, "last_layer_only", False) else ""),
                     "seconds_per_step": run.metrics.get("seconds_per_step"), "peak_rss_mib": run.meta.get("peak_rss_mib")})
    return pd.DataFrame(rows).groupby("stage").agg(runs=("stage", "size"), seconds_per_step=("seconds_per_step", "mean"),
                                                   peak_rss_mib=("peak_rss_mib", "max")).round(3)


def clock(since: dict | None = None) -> dict:
    """Wall and CPU seconds of this process (threads included) and the 1-minute load average; with `since`,
    the time elapsed since that reading: the notebook's own cost on this (shared) machine."""
    import os
    import resource
    import time
    u = resource.getrusage(resource.RUSAGE_SELF)
    now = {"wall_s": time.time(), "cpu_s": u.ru_utime + u.ru_stime, "load_1min": os.getloadavg()[0]}
    if since is None:
        return now
    return {"wall_s": round(now["wall_s"] - since["wall_s"], 1), "cpu_s": round(now["cpu_s"] - since["cpu_s"], 1),
            "load_1min_start": since["load_1min"], "load_1min_end": now["load_1min"]}
