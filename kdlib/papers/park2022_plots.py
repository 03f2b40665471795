"""Park & No 2022: tables and figures out (summaries beside the paper's numbers, teacher measurements, Figs. 2-3)."""
from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import claims as kc
from .. import metrics, plots, prune, report, specs, stats
from . import park2022 as paper

TRAIN_BATCHES = 10  # eval batches of 512 training images for the true-label probability (Sec. 3.2)
DATASETS = {"cifar100": "CIFAR-100", "tinyimagenet": "TinyImageNet", "fashion_mnist": "Fashion-MNIST"}


def dataset(cfg: dict, group: str = "vgg") -> str:
    name = cfg[group]["data"]["name"]
    return DATASETS.get(name, name)


# ---------------------------------------------------------------- tables
def results(runner, cfg: dict, table: str) -> pd.DataFrame:
    """One row per student run of `table`: its keys, metrics, and its teacher's test top-1 (NaN when alone)."""
    df = runner.results(paper.cells(runner, cfg, table), paper.KEYS)
    keys = list(zip(df.teacher, df.pruning_ratio, df.seed))
    df["teacher_top1"] = [runner.run(paper.teacher_run(cfg, t, c, s)).metrics["test_top1"] if c != "-" else float("nan")
                          for t, c, s in keys]
    return df.assign(table=table)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, std (over seeds, ddof 1) and n of the student's test accuracy (%) per row of the paper's table, and its
    teachers' mean test accuracy (one teacher per seed at cpu)."""
    keys = paper.KEYS[:3]
    out = stats.summarise(df.assign(acc=100 * df.test_top1), keys, "acc")
    teacher = df.groupby(keys, dropna=False).teacher_top1.mean().mul(100).rename("teacher_accuracy")
    return out.merge(teacher.reset_index(), on=keys)


def paper_vs_ours(ours: pd.DataFrame, table: int, cfg: dict, group: str = "vgg") -> pd.DataFrame:
    """The paper's rows of `table` beside ours, joined on (teacher, pruning ratio, student), every value column
    headed by its source and dataset; the paper's rows of the teachers and students this profile runs. Our extra rows
    (equal-budget controls) have no paper value."""
    keys = paper.KEYS[:3]
    theirs = report.paper_numbers(paper.ID).query(f"table == {table} and status == 'ok'")
    theirs = theirs[theirs.student.isin(ours.student) & theirs.teacher.isin(set(ours.teacher) | {"none"})]
    cols = {"teacher_accuracy": "teacher acc. (%)", "student_accuracy": "student acc. (%)", "student_std": "student std"}
    name = lambda who, ds: {k: f"{v} ({who}, {ds})" for k, v in cols.items()}
    theirs = theirs[keys + list(cols)].rename(columns=name("paper", dataset(paper.PAPER, group)))
    ours = ours.rename(columns={"mean": "student_accuracy", "std": "student_std", "n": "n (ours)"})
    ours = ours[keys + list(cols) + ["n (ours)"]].rename(columns=name("ours", dataset(cfg, group)))
    return theirs.merge(ours, on=keys, how="outer").sort_values(keys, key=lambda s: s.astype(str))


# ---------------------------------------------------------------- teachers
def chain_epochs(runner, spec) -> int:
    """Training epochs from initialisation to this teacher (pre-training plus every rewinding round)."""
    total = 0
    while spec is not None:
        if spec.stage == "train":
            total += int(runner.run(spec).metrics["epochs_run"])
        spec = getattr(spec, "parent", None)
    return total


def teacher_specs(cfg: dict, name: str, cond: str) -> dict[int, object]:
    """{teacher seed: teacher run} of a condition over the profile's seeds (one run when the teacher is shared)."""
    return {paper.teacher_seed(cfg, name, s): paper.teacher_run(cfg, name, cond, s) for s in cfg["seeds"]}


def teachers(runner, cfg: dict, conditions: dict[str, list[str]], smoothness: tuple = ("VGG19",)) -> pd.DataFrame:
    """One row per teacher run: test/val top-1, sparsity, epochs, and (for `smoothness` teachers) the mean probability
    of the true label on (the first 5,120 of) its training images (Sec. 3.2, eq. 7: lower = smoother labels)."""
    out = []
    for name, conds in conditions.items():
        for cond in conds:
            for seed, spec in teacher_specs(cfg, name, cond).items():
                m = runner.run(spec).metrics
                row = {"teacher": name, "pruning_ratio": cond, "seed": seed, "test_top1": m["test_top1"],
                       "val_top1": m.get("val_top1"), "sparsity": m["sparsity"], "epochs": chain_epochs(runner, spec),
                       "true_label_prob": np.nan}
                if name in smoothness:
                    batches = itertools.islice(runner.eval_loader(spec, "train"), TRAIN_BATCHES)
                    row["true_label_prob"] = metrics.true_label_probability(runner.load(spec), batches)
                out.append(row)
    return pd.DataFrame(out)


def plateau(runner, cfg: dict, names: list[str]) -> dict[str, kc.Check]:
    """Precondition per teacher architecture: the pre-trained teachers' validation accuracy had levelled off (over seeds)."""
    out = {}
    for name in names:
        ok, detail = metrics.plateaued_seeds([runner.run(t).history() for t in teacher_specs(cfg, name, "none").values()])
        out[name] = kc.Check(f"{name} trained to a plateau", ok, detail)
    return out


def agreement(runner, cfg: dict, tables: list[str]) -> pd.DataFrame:
    """Top-1 agreement of every distilled student of `tables` with its own teacher on the test set (appendix)."""
    cache, out = {}, []

    def labels(spec):
        rid = specs.run_id(spec)
        if rid not in cache:
            cache[rid] = metrics.predictions(runner.load(spec), runner.eval_loader(spec, "test"))[0].argmax(1)
        return cache[rid]
    for table in tables:
        for key, spec in paper.cells(runner, cfg, table).items():
            if spec.kd is not None:
                out.append({"run": specs.run_id(spec), "agreement": float((labels(spec) == labels(spec.kd.teacher)).float().mean())})
    return pd.DataFrame(out, columns=["run", "agreement"]).drop_duplicates("run")


# ---------------------------------------------------------------- figures
def fig2(runner, cfg: dict, name: str, sparsity: float) -> tuple[plt.Figure, pd.DataFrame]:
    """Fig. 2: per conv layer, the dense teacher's weights, the pruned teacher's nonzeros and the ST student's weights
    (matched layer by layer, Sec. 4)."""
    seed = cfg["seeds"][0]
    dense, pruned_spec = runner.load(paper.teacher(cfg, name, seed)), paper.teacher_run(cfg, name, f"{sparsity:g}", seed)
    st = paper.st_model(runner, pruned_spec)
    info = runner.dataset(pruned_spec).info
    student = paper.models.build(st.name, info.num_classes, info.in_channels, plan=st.plan)
    convs = lambda m: [c for c in prune.layer_counts(m) if c["module"].__class__.__name__ == "Conv2d"]
    rows = [{"layer": i + 1, "teacher weights": d["weights"], "pruned teacher nonzeros": p["nonzero"],
             "ST student weights": s["weights"]}
            for i, (d, p, s) in enumerate(zip(convs(dense), convs(runner.load(pruned_spec)), convs(student)))]
    df = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(8, 3.4))
    for i, col in enumerate(df.columns[1:]):
        ax.bar(df.layer + (i - 1) * 0.27, df[col], 0.27, label=col)
    ax.set(yscale="log", xlabel=f"conv layer of {name}", ylabel="weights (count, log scale)",
           title=f"Fig. 2: {name} pruned to {sparsity:.0%} and its ST student ({dataset(cfg)}; seed {seed})")
    ax.legend(fontsize=8)
    return fig, df


def gains(runs: pd.DataFrame, pruned_prefix: str = "") -> pd.DataFrame:
    """Per ST student and seed: accuracy (%) from its pruned teacher, from the unpruned teacher, and the gain."""
    d = runs.assign(acc=100 * runs.test_top1, which=np.where(runs.pruning_ratio == "none", "unpruned", "pruned"))
    wide = d.pivot_table(index=["student", "seed"], columns="which", values="acc").dropna().reset_index()
    ratio = d[d.which == "pruned"].groupby("student").pruning_ratio.first().str.split().str[-1].astype(float)
    return wide.assign(gain=wide.pruned - wide.unpruned, sparsity=wide.student.map(ratio))


def fig3(lr: pd.DataFrame, synflow: pd.DataFrame, cfg: dict, optimum: float) -> tuple[plt.Figure, pd.DataFrame]:
    """Fig. 3: left, ST students' accuracy vs the teacher's pruning ratio (from the pruned and from the unpruned
    teacher) and their gain; right, the gain with LR-rewinding vs SynFlow teachers. Mean +- 1 SD over seeds."""
    g = pd.concat([gains(lr).assign(pruner="LR rewinding"), gains(synflow).assign(pruner="SynFlow")])
    table = g.groupby(["pruner", "sparsity", "student"]).agg(
        pruned=("pruned", "mean"), pruned_sd=("pruned", "std"), unpruned=("unpruned", "mean"),
        unpruned_sd=("unpruned", "std"), gain=("gain", "mean"), gain_sd=("gain", "std"), n=("seed", "count")).reset_index()
    table = table.fillna({c: 0.0 for c in ("pruned_sd", "unpruned_sd", "gain_sd")})
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1.6, 1]})
    t = table[table.pruner == "LR rewinding"].sort_values("sparsity")
    x = 100 * t.sparsity
    plots.curve(left, x, t.pruned, t.pruned_sd, label="ST student, pruned teacher")
    plots.curve(left, x, t.unpruned, t.unpruned_sd, label="ST student, unpruned teacher (baseline)", marker="s")
    left.axvline(100 * optimum, ls=":", color="C3", label=f"paper: optimum at {100 * optimum:g}%")
    n = int(t.n.min()) if len(t) else 0
    left.set(xlabel="teacher sparsity (%)", ylabel=f"student test accuracy (%, {dataset(cfg)})",
             title=f"Fig. 3 left (mean ± 1 SD over n = {n} seeds)")
    twin = left.twinx()
    twin.errorbar(x, t.gain, t.gain_sd, color="C2", ls="--", marker="^", capsize=3, label="gain (right axis)")
    twin.axhline(0, color="C2", lw=0.5)
    twin.set_ylabel("gain over the baseline (points)", color="C2")
    handles = left.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    left.legend(handles=handles, fontsize=7, loc="lower left")
    for i, (pruner, d) in enumerate(table.groupby("pruner")):
        right.bar(np.arange(len(d)) * 2.5 + i, d.gain, 1, yerr=d.gain_sd, capsize=3, label=pruner)
    right.set_xticks(np.arange(table.sparsity.nunique()) * 2.5 + 0.5,
                     [f"{100 * s:g}%" for s in sorted(table.sparsity.unique())])
    right.axhline(0, color="0.3", lw=0.5)
    right.set(xlabel="teacher sparsity", ylabel="gain over the unpruned teacher (points)",
              title="Fig. 3 right: pruning algorithm")
    right.legend(fontsize=7)
    fig.tight_layout()
    return fig, table


def table(runner, cfg: dict, profile: str, name: str, number: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run (or load) one table's students; save the summary as <name>.csv; return the runs and the paper-vs-ours
    comparison (the summary alone where the paper has no table of numbers). Empty when the profile skips it."""
    if not cfg["tables"].get(name):
        return pd.DataFrame(columns=paper.KEYS + ["test_top1", "run", "teacher_top1", "table"]), pd.DataFrame()
    runs = results(runner, cfg, name)
    s = report.save_table(summary(runs), profile, paper.ID, name)
    group = "resnet" if name in ("table3", "table5") or any(k.startswith("ResNet") for k in cfg["tables"][name]) else "vgg"
    return runs, (paper_vs_ours(s, number, cfg, group) if number else s)


def kd_checks(runs: pd.DataFrame, teachers_: pd.DataFrame) -> pd.DataFrame:
    """Does KD work on each pair? KD from the unpruned teacher vs training alone per seed (the precondition of every
    claim that presupposes KD), beside the teacher's accuracy."""
    out = []
    alone = runs[runs.pruning_ratio == "-"].set_index(["student", "seed"]).test_top1
    for (t, s), d in runs[runs.pruning_ratio == "none"].groupby(["teacher", "student"]):
        d = d.set_index("seed").test_top1
        seeds = [x for x in d.index if (s, x) in alone.index]
        if len(seeds) < 2:
            continue
        diff = 100 * (d[seeds].to_numpy() - alone.loc[[(s, x) for x in seeds]].to_numpy())
        r = stats.compare(diff, np.zeros(len(diff)))
        t_acc = teachers_[(teachers_.teacher == t) & (teachers_.pruning_ratio == "none")].test_top1
        out.append({"teacher": t, "student": s, "teacher acc. (%)": 100 * t_acc.mean() if len(t_acc) else np.nan,
                    "alone (%)": 100 * alone.loc[[(s, x) for x in seeds]].mean(), "KD (%)": 100 * d[seeds].mean(),
                    "KD - alone (points)": r["effect"], "95% CI low": r["ci_low"], "95% CI high": r["ci_high"],
                    "n": len(seeds), "KD works": r["verdict"] == stats.REPRODUCED})
    return pd.DataFrame(out)


# ---------------------------------------------------------------- teachers, appendix tables, timing
def teacher_conditions(cfg: dict) -> dict[str, list[str]]:
    """Every teacher condition some table of this profile uses, per teacher ("none" first)."""
    out: dict[str, list[str]] = {}
    for table in cfg["tables"]:
        for t, cond, _, stu in paper.rows(cfg, table):
            for c in (cond, stu[1] if isinstance(stu, tuple) else "-"):
                if c != "-" and c not in out.setdefault(t, ["none"]):
                    out[t].append(c)
    return out


def teacher_curves(runner, cfg: dict, names: list[str]) -> plt.Figure:
    """Validation accuracy per epoch: pre-training (plateau check), then the LR-rewinding chain of the sparsest
    pruned teacher and its equal-budget dense chain, epochs counted from initialisation."""
    fig, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        conds = teacher_conditions(cfg)[name]
        for kind, style in (("", "-"), ("dense ", "--")):
            ratios = [float(c[len(kind):]) for c in conds if c.startswith(kind) and c[len(kind)].isdigit()]
            seed = cfg["seeds"][0]
            spec = paper.teacher_run(cfg, name, f"{kind}{max(ratios):g}", seed) if ratios else paper.teacher(cfg, name, seed)
            chain = []
            while spec is not None:
                chain.insert(0, spec) if spec.stage == "train" else None
                spec = getattr(spec, "parent", None)
            h = pd.concat([runner.run(s).history() for s in chain], ignore_index=True)
            label = f"{kind or 'pruned '}rounds to {max(ratios):.0%}" if ratios else "pre-training"
            ax.plot(np.arange(1, len(h) + 1), 100 * h.val_top1, style, label=label)
        ax.axvline(runner.run(paper.teacher(cfg, name, seed)).metrics["epochs_run"], color="0.5", lw=0.8, ls=":")
        ax.set(xlabel="epoch (from initialisation; dotted: end of pre-training)", ylabel="validation top-1 (%)",
               title=f"{name} ({dataset(cfg, paper.group_of(cfg, name))}, the teacher of seed {seed})")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def agreement_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Appendix: the students' top-1 agreement with their own teacher (test set) beside their accuracy, mean over
    seeds. The paper's values were not extracted: ours only."""
    d = runs.dropna(subset=["agreement"]).assign(acc=100 * runs.test_top1, agreement=100 * runs.agreement)
    keys = paper.KEYS[:3]
    a = stats.summarise(d, keys, "agreement").rename(columns={"mean": "agreement (%)", "std": "agreement std"})
    acc = d.groupby(keys).agg(**{"student acc. (%)": ("acc", "mean"), "teacher acc. (%)": ("teacher_top1", "first")})
    return a.merge(acc.reset_index(), on=keys).assign(**{"teacher acc. (%)": lambda x: 100 * x["teacher acc. (%)"]})


def architectures(runs: pd.DataFrame) -> pd.DataFrame:
    """Appendix: every student's parameter count (ours) beside the paper's, where its text gives one (Sec. 5.2)."""
    text = report.paper_numbers("park2022_text").set_index("quantity").value
    d = runs.groupby("student").agg(params=("params_total", "first"), prunable=("params_prunable", "first")).reset_index()
    return d.assign(**{"params (paper, CIFAR-100)": d.student.map(lambda s: text.get(f"params_{s}", np.nan))})


def timing(runs: pd.DataFrame, teachers_: pd.DataFrame, runner, cfg: dict) -> pd.DataFrame:
    """Compute this profile's runs took (train seconds and seconds per optimizer step), by kind of run."""
    specs_ = {specs.run_id(s): s for t, conds in teacher_conditions(cfg).items()
              for c in conds for spec in teacher_specs(cfg, t, c).values() for s in _chain(spec)}
    rows = [{"kind": "teacher chains", **{k: runner.run(s).metrics.get(k, np.nan) for k in ("train_seconds", "seconds_per_step")}}
            for s in specs_.values() if s.stage == "train"]
    rows += [{"kind": f"students ({t})", "train_seconds": a, "seconds_per_step": b}
             for t, a, b in zip(runs.table, runs.train_seconds, runs.seconds_per_step)]
    out = pd.DataFrame(rows).groupby("kind").agg(runs=("train_seconds", "size"), train_seconds=("train_seconds", "sum"),
                                                 seconds_per_step=("seconds_per_step", "mean"))
    out.loc["total"] = [out.runs.sum(), out.train_seconds.sum(), np.nan]
    return out.round(3)


def _chain(spec) -> list:
    out = []
    while spec is not None:
        out.append(spec)
        spec = getattr(spec, "parent", None)
    return out
