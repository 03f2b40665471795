"""Plans: the run configs each paper's tables need, built from a notebook's profile config.

Only configs here (no training): `pipeline.run(cfg)` computes or loads each one. Seeds are paired across
conditions: seed s means the same student initialisation and the same data order in every condition.
"""
from __future__ import annotations

import numpy as np
import torch

from . import metrics, models, pipeline, prune, report


def _train(cfg: dict, key: str) -> dict:
    return {k: v for k, v in cfg[key].items() if k not in ("temperature", "alpha")}


# ---------------------------------------------------------------- Park & No 2022
def park_teacher(cfg: dict, teacher: str) -> dict:
    """The dense teacher `teacher` (a key of cfg["teachers"]), trained once with the pre-training schedule."""
    return pipeline.train_cfg(cfg["teachers"][teacher], cfg["data"], _train(cfg, "pretrain"), seed=cfg["teacher_seed"],
                              batch_size=cfg["batch_size"])


def park_pruned(cfg: dict, teacher: str, sparsity: float) -> dict:
    """The teacher after LR rewinding to `sparsity`: rounds of 20%-of-remaining global L1 pruning, each followed
    by retraining with the learning-rate schedule restarted (Renda et al. 2020; Park & No Sec. 3.1)."""
    run = park_teacher(cfg, teacher)
    rounds = prune.lr_rewinding_rounds(sparsity, cfg["rate"])
    for target in prune.geometric_targets(cfg["rate"], rounds):
        pruned = pipeline.child(run, "prune", method="l1_unstructured", sparsity=round(target, 6), evaluate=False)
        run = pipeline.child(pruned, "train", train=_train(cfg, "rewind"), batch_size=cfg["batch_size"])
    return run


def park_student(cfg: dict, student: dict, teacher_run: dict | None, seed: int) -> dict:
    """A student from random init, alone (teacher_run=None) or distilled (alpha on the soft term, T)."""
    extra = {}
    if teacher_run is not None:
        extra = {"teacher": teacher_run, "kd": {"method": "hinton", "temperature": cfg["kd"]["temperature"],
                                                "alpha": cfg["kd"]["alpha"]}}
    return pipeline.train_cfg(student, cfg["data"], _train(cfg, "kd"), seed=seed, batch_size=cfg["batch_size"],
                              **extra)


def park_conditions(cfg: dict, teacher: str, sparsities: list[float]) -> dict:
    """Teacher conditions keyed as the paper's "pruning ratio" column: "-" no teacher, "none" the unpruned
    teacher, "0.36" etc. the teacher pruned to that sparsity."""
    conditions = {"-": None, "none": park_teacher(cfg, teacher)}
    conditions.update({f"{s:g}": park_pruned(cfg, teacher, s) for s in sparsities})
    return conditions


def park_cost(cfg: dict, n_student_runs: int) -> dict:
    """Estimated GPU-hours of the paper profile: the teacher chain (pre-training + every rewinding round) and
    `n_student_runs` student trainings, from forward MACs on 32 px CIFAR-100 images."""
    x = torch.zeros(1, 3, 32, 32)
    setup = cfg["cifar100"]
    teacher = metrics.macs(models.build(setup["teachers"]["VGG19"]["name"], 100), x)["macs"]
    student = metrics.macs(models.build(cfg["students"]["VGG11"]["name"], 100), x)["macs"]
    rounds = prune.lr_rewinding_rounds(max(cfg["fig3_sparsities"]), setup["rate"])
    images = 45_000  # CIFAR-100 train minus the 10% validation split
    chain = report.gpu_hours(teacher, images, setup["pretrain"]["epochs"] + rounds * setup["rewind"]["epochs"])
    kd = report.gpu_hours(student + teacher / 3, images, setup["kd"]["epochs"]) * n_student_runs  # + teacher fwd
    return {"teacher chain (GPU-h)": chain, "student runs": n_student_runs, "students (GPU-h)": kd}


def _paired(df, cond_a: str, cond_b: str, by: str = "pruning_ratio", extra: list[str] | None = None):
    """Accuracies of condition a and b, aligned on seed (and `extra` columns)."""
    keys = ["seed"] + (extra or [])
    a = df[df[by] == cond_a].set_index(keys).test_top1
    b = df[df[by] == cond_b].set_index(keys).test_top1
    a, b = a.align(b, join="inner")
    return list(a), list(b)


def park_claims(t1, t4, t6, f3, teachers: dict, train_loader, cfg: dict) -> list[dict]:
    """The paper's five claims, each with a verdict computed from our runs (paired over seeds)."""
    ratios = [f"{s:g}" for s in cfg["sparsities"]]
    pairs = lambda df, a_conds, b, **kw: [sum(x, []) for x in zip(*[_paired(df, a, b, **kw) for a in a_conds])]
    a1, b1 = pairs(t1, ratios, "none")
    a4, b4 = [], []
    for s in cfg["sparsities"]:
        a, b = _paired(t4[t4.student == f"VGG19-ST{round(100 * s)}"], f"{s:g}", "none")
        a4, b4 = a4 + a, b4 + b
    rows = [report.claim("1. A student distilled from a pruned teacher beats one from the unpruned teacher",
                         "Tables 1-6: +0.2 to +1.6 points in every row", metrics.paired_difference(a1 + a4, b1 + b4))]
    a2, b2 = pairs(t1, ["none"] + ratios, "-")
    rows.append(report.claim("2. Distillation (from either teacher) beats training the student alone",
                             "Tables 1, 4, 5: e.g. VGG11 69.51 -> 72.02..72.76", metrics.paired_difference(a2, b2)))
    st = t4[(t4.student == "VGG19-ST59") & (t4.pruning_ratio == "0.59")].set_index("seed").test_top1
    cl = t6[t6.pruning_ratio == "0.59"].set_index(["student", "seed"]).test_top1
    a3 = [st[s] for name in ("VGG19-CL1", "VGG19-CL2") for s in st.index if (name, s) in cl.index]
    b3 = [cl[(name, s)] for name in ("VGG19-CL1", "VGG19-CL2") for s in st.index if (name, s) in cl.index]
    rows.append(report.claim("3. The ST student with its pruned teacher beats the manual CL1/CL2 students",
                             "Table 6 vs Table 4: ST59 73.81 vs CL1 71.43, CL2 73.39 (59% teacher)",
                             metrics.paired_difference(a3, b3) if a3 else None,
                             why_not="CL students with the 59% teacher were not run"))
    rows.append(_smoothness_claim(teachers, train_loader))
    top = f"{max(cfg['fig3_sparsities']):g}"
    a5, b5 = _paired(f3, "0.79", top) if top != "0.79" else ([], [])
    rows.append(report.claim(f"5. Too much pruning hurts: the 79% teacher teaches better than the "
                             f"{100 * max(cfg['fig3_sparsities']):g}% one",
                             "Fig. 3: optimum at 79%, lower at 87% and 91%",
                             metrics.paired_difference(a5, b5) if a5 else None,
                             why_not="no pruning ratio above 79% at this profile"))
    return rows


def _smoothness_claim(teachers: dict, train_loader) -> dict:
    """Claim 4, paired over training images: pruned teachers' true-label probability minus the unpruned one's."""
    probs = {c: metrics.predictions(m, train_loader) for c, m in teachers.items()}
    base_p, labels = probs.pop("none")
    base = base_p.gather(1, labels[:, None]).squeeze(1)
    a, b = [], []
    for p, _ in probs.values():
        a += p.gather(1, labels[:, None]).squeeze(1).tolist()
        b += base.tolist()
    return report.claim("4. Pruning lowers the teacher's true-label probability on the training data (smoother labels)",
                        "Sec. 3.2 (argument; no table)", metrics.paired_difference(a, b), direction=-1,
                        unit="probability points")


# ---------------------------------------------------------------- Kieu & Sood
def kieu_source(cfg: dict) -> dict | None:
    """The stand-in for ImageNet pre-training (cpu/smoke): the baseline trained on the source classes."""
    if cfg["source"] is None:
        return None
    return pipeline.train_cfg(cfg["baseline"], cfg["source"], cfg["finetune"], seed=0, batch_size=cfg["batch_size"])


def kieu_baseline(cfg: dict, strategy: str, seed: int) -> dict:
    """Sec. III-B's three strategies: 'head_only' (pretrained, only the new head trained), 'all_layers'
    (pretrained, everything trained) and 'scratch' (random init)."""
    if strategy not in ("head_only", "all_layers", "scratch"):
        raise ValueError(f"unknown strategy {strategy!r}; valid: head_only, all_layers, scratch")
    common = {"seed": seed, "batch_size": cfg["batch_size"]}
    if strategy == "scratch":
        return pipeline.train_cfg({**cfg["baseline"], "pretrained": False}, cfg["data"], cfg["finetune"], **common)
    head_only = {"last_layer_only": True} if strategy == "head_only" else {}
    if cfg["source"] is None:  # paper: torchvision's ImageNet weights, a new 525-way head
        return pipeline.train_cfg({**cfg["baseline"], "pretrained": True}, cfg["data"], cfg["finetune"],
                                  **common, **head_only)
    return {"stage": "train", "init": kieu_source(cfg), "data": cfg["data"], "reset_head": True,
            "train": cfg["finetune"], **common, **head_only}


def kieu_int8(cfg: dict, seed: int) -> dict:
    """The int8 PTQ comparison of the all-layers fine-tuned baseline, measured (and cached) on this machine."""
    return {"stage": "int8", "parent": kieu_baseline(cfg, "all_layers", seed), "quant": cfg["quant"],
            "machine": pipeline.machine_identity()}


def kieu_student(cfg: dict, student: str, seed: int, distilled: bool) -> dict:
    """SqueezeNet (or StudentNet) from random init, alone or distilled from the all-layers baseline (seed 0)."""
    kd = {k: cfg["kd"][k] for k in ("temperature", "alpha")}
    extra = {"teacher": kieu_baseline(cfg, "all_layers", 0), "kd": {"method": "hinton", **kd}} if distilled else {}
    train_cfg = {k: v for k, v in cfg["kd"].items() if k not in ("temperature", "alpha")}
    return pipeline.train_cfg(cfg["students"][student], cfg["data"], train_cfg, seed=seed,
                              batch_size=cfg["batch_size"], **extra)


def kieu_pruning(cfg: dict, scope: str, regulariser: str, seed: int) -> list[dict]:
    """Table III: from the all-layers baseline, iterations of L1 pruning (20% of the remaining weights,
    `scope` = 'layer' or 'global') each followed by fine-tuning with L1 or L2 regularisation."""
    run, chain = kieu_baseline(cfg, "all_layers", seed), []
    tune = {**cfg["prune"]["finetune"], **cfg["prune"]["regularisers"][regulariser]}
    for target in prune.geometric_targets(cfg["prune"]["rate"], cfg["prune"]["iterations"]):
        pruned = pipeline.child(run, "prune", method="l1_unstructured", sparsity=round(target, 6), scope=scope,
                                evaluate=False)
        run = pipeline.child(pruned, "train", train=tune, batch_size=cfg["batch_size"])
        chain.append(run)
    return chain


def kieu_claims(baselines, table1, students, pruning, cfg: dict) -> list[dict]:
    """Kieu & Sood's four claims with verdicts from our runs (paired over seeds)."""
    by_model = table1.pivot(index="seed", columns="model")
    fp32, int8 = by_model["test_top1"]["fp32 eager"], by_model["test_top1"]["int8 PT2E inductor"]
    rows = [report.noninferiority("1a. int8 PTQ keeps accuracy within a fraction of a point",
                                  "Table I: 98.63% -> 98.43%", metrics.paired_difference(int8, fp32), margin=0.005)]
    # int8 vs fp32 both compiled by Inductor: against fp32 eager the gain would be compilation's, not int8's
    t_fp32, t_int8 = by_model["median_ms"]["fp32 inductor"], by_model["median_ms"]["int8 PT2E inductor"]
    speed = metrics.paired_difference(np.log(t_fp32), np.log(t_int8))
    row = report.claim("1b. int8 PTQ cuts inference time (vs fp32, both compiled by Inductor)",
                       "Table I: 0.167 s -> 0.069 s (2.4x; batch and CPU not stated)", speed, unit="log-ratio", scale=1.0)
    eager = np.exp(np.log(by_model["median_ms"]["fp32 eager"] / t_int8).mean())
    row["ours"] = f"{np.exp(speed['mean']):.2f}x faster ({eager:.2f}x vs fp32 eager), batch {int(by_model['batch'].iloc[0, 0])}; " + row["ours"]
    rows.append(row)
    a, b = _paired(students.assign(k=students.distilled.astype(str)), "True", "False", by="k")
    rows.append(report.claim("2. KD lifts SqueezeNet well above the same network trained alone",
                             "Sec. III-D: ~60-70% -> 84%", metrics.paired_difference(a, b)))
    last = pruning.iteration.max()
    final = pruning[pruning.iteration == last].set_index(["scope", "regulariser", "seed"]).val_top1
    start = pruning[pruning.iteration == 0].set_index(["scope", "regulariser", "seed"]).val_top1
    final, start = final.align(start, join="inner")
    sparsity = pruning[pruning.iteration == last].global_sparsity.mean()
    row = report.noninferiority(f"3. Iterative pruning + fine-tuning reaches ~58% global sparsity at or above the "
                                f"baseline's accuracy (ours: {sparsity:.1f}% after {last} iterations)",
                                "Table III: 57.78%, 99.04% vs 97.83%", metrics.paired_difference(final, start),
                                margin=0.005)
    rows.append(row)
    all_layers = baselines.set_index(["strategy", "seed"]).test_top1
    a4 = [all_layers[("all_layers", s)] for other in ("head_only", "scratch") for s in cfg["seeds"]]
    b4 = [all_layers[(other, s)] for other in ("head_only", "scratch") for s in cfg["seeds"]]
    rows.append(report.claim("4. Fine-tuning all layers from pretrained weights beats head-only and from-scratch",
                             "Sec. III-B: all layers best (~98%); others not reported",
                             metrics.paired_difference(a4, b4)))
    return rows


# ---------------------------------------------------------------- Malihi & Heidemann 2024
def malihi_data(cfg: dict, dataset: str, pair: str) -> dict:
    size = cfg["pairs"][pair].get("image_size")
    return {**cfg["data"], "name": dataset, **({"image_size": size} if size else {})}


def malihi_teacher(cfg: dict, dataset: str, pair: str) -> dict:
    return pipeline.train_cfg(cfg["pairs"][pair]["teacher"], malihi_data(cfg, dataset, pair), cfg["teacher_train"],
                              seed=cfg["teacher_seed"], batch_size=cfg["batch_size"])


def malihi_student(cfg: dict, dataset: str, pair: str, seed: int) -> dict:
    """The SimKD student of a pair: backbone + projector + the teacher's frozen classifier, feature MSE only."""
    teacher = malihi_teacher(cfg, dataset, pair)
    spec = {**cfg["pairs"][pair]["student"], "simkd": {"teacher": teacher, "factor": cfg["simkd_factor"]}}
    return pipeline.train_cfg(spec, malihi_data(cfg, dataset, pair), cfg["kd"], seed=seed,
                              batch_size=cfg["batch_size"], teacher=teacher, kd={"method": "simkd"})


def malihi_sweep(cfg: dict, base: dict) -> dict:
    """Sec. 4.1: prune `base` to each level (weight: global L1 over all Conv/Linear weights; channel: L1 filters
    removed until that fraction of the parameters is gone), then fine-tune only the last layer."""
    out = {("weight", 0.0): base, ("channel", 0.0): base}
    for level in cfg["levels"]:
        weight = pipeline.child(base, "prune", method="l1_unstructured", sparsity=level, evaluate=False)
        channel = pipeline.child(base, "prune", method="channel_l1", param_reduction=level, evaluate=False)
        for method, pruned in (("weight", weight), ("channel", channel)):
            out[(method, level)] = pipeline.child(pruned, "train", train=cfg["finetune"], last_layer_only=True,
                                                  batch_size=cfg["batch_size"])
    return out


def malihi_cells(cfg: dict) -> dict:
    """Every sweep run: {(dataset, pair, role, seed, method, level): cfg}; role is 'teacher' or 'student'."""
    cells = {}
    for dataset in cfg["datasets"]:
        for pair in cfg["pairs"]:
            bases = [("teacher", cfg["teacher_seed"], malihi_teacher(cfg, dataset, pair))]
            bases += [("student", s, malihi_student(cfg, dataset, pair, s)) for s in cfg["seeds"]]
            for role, seed, base in bases:
                for (method, level), c in malihi_sweep(cfg, base).items():
                    cells[(dataset, pair, role, seed, method, level)] = c
    return cells


def malihi_breakpoints(sweep, tolerance: float) -> "pd.DataFrame":
    """Per curve (dataset, pair, role, seed, method): the breakpoint level chosen on validation accuracy
    (metrics.breakpoint_index), with test accuracy and remaining nonzero parameters there and before pruning."""
    import pandas as pd
    rows = []
    for key, curve in sweep.sort_values("level").groupby(["dataset", "pair", "role", "seed", "method"]):
        i = metrics.breakpoint_index(curve.val_top1.tolist(), tolerance)
        at, dense = curve.iloc[i], curve.iloc[0]
        rows.append({**dict(zip(["dataset", "pair", "role", "seed", "method"], key)), "level": at.level,
                     "acc_before": dense.test_top1, "params_before": dense.params_nonzero,
                     "acc_breakpoint": at.test_top1, "params_breakpoint": at.params_nonzero,
                     "efficiency": float(metrics.performance_efficiency(at.test_top1, at.params_nonzero))})
    return pd.DataFrame(rows)


def malihi_claims(bp, cfg: dict) -> list[dict]:
    """Malihi & Heidemann's four claims, paired over students (pair x seed) within each dataset."""
    students = bp[bp.role == "student"].set_index(["dataset", "pair", "seed", "method"])
    w = students.xs("weight", level="method")
    c = students.xs("channel", level="method")
    w, c = w.align(c, join="inner", axis=0)
    rows = [report.claim("1. Weight pruning reaches its breakpoint with fewer remaining parameters than channel pruning",
                         "Sec. 4.1: up to 4x fewer (e.g. ResNet-50: 0.5e7 vs 2.1e7)",
                         metrics.paired_difference(np.log(w.params_breakpoint), np.log(c.params_breakpoint)),
                         direction=-1, unit="log-ratio", scale=1.0)]
    ratio = np.exp(np.log(c.params_breakpoint / w.params_breakpoint).mean())
    rows[-1]["ours"] = f"channel keeps {ratio:.2f}x as many (geometric mean); " + rows[-1]["ours"]
    rows.append(report.claim("2. Weight pruning gives higher performance efficiency than channel pruning (t-test)",
                             "Fig. 6: CIFAR-10 t=-5.60 p=3.3e-4; CIFAR-100 t=-7.06 p=5.9e-5 (channel - weight)",
                             metrics.paired_difference(np.log(w.efficiency), np.log(c.efficiency)),
                             unit="log-ratio", scale=1.0))
    rows.append(report.noninferiority("3. At the breakpoint, weight-pruned students match or exceed the distilled, "
                                      "unpruned student", "Tables 1-2: e.g. ResNet-50 58.92 vs 59.12",
                                      metrics.paired_difference(w.acc_breakpoint, w.acc_before),
                                      margin=cfg["tolerance"]))
    rows[-1]["note"] += "; partly by construction: the breakpoint rule allows a drop of this size on validation"
    teachers = bp[(bp.role == "teacher") & (bp.method == "channel")].set_index(["dataset", "pair"]).acc_before
    teacher_acc = [teachers[(d, p)] for d, p, _ in c.index]
    rows.append(report.claim("4. Channel-pruned students are less accurate than their (unpruned) teachers",
                             "Sec. 4.1: all pairs except ResNet101->ResNet50",
                             metrics.paired_difference(list(c.acc_breakpoint), teacher_acc), direction=-1))
    return rows


def malihi_cost(pairs: dict, images: int = 45_000, epochs: int = 240, seeds: int = 10) -> "pd.Series":
    """GPU-hours per pair and dataset: teacher, `seeds` SimKD students (+ teacher forward), and the sweeps
    (2 methods x 9 levels x (1 + seeds) models, ~one forward pass each on train + test)."""
    import pandas as pd
    x = torch.zeros(1, 3, 32, 32)
    out = {}
    for name, pair in pairs.items():
        t = metrics.macs(models.build(pair["teacher"]["name"], 100), x)["macs"]
        s = metrics.macs(models.build(pair["student"]["name"], 100), x)["macs"]
        out[name] = (report.gpu_hours(t, images, epochs) + seeds * report.gpu_hours(s + t / 3, images, epochs)
                     + 18 * (1 + seeds) * report.gpu_hours(max(t, s) / 3, images + 10_000, 1))
    return pd.Series(out, name="GPU-hours per dataset")


def malihi_layer_removal(cells: dict, bp, dataset: str, pair: str, seed: int) -> "pd.DataFrame":
    """Fig. 5: per-layer fraction of removed weights of one student at its weight and channel breakpoints."""
    import pandas as pd
    levels = bp.set_index(["dataset", "pair", "role", "seed", "method"]).level
    dense = pipeline.load(cells[(dataset, pair, "student", seed, "weight", 0.0)])
    frames = []
    for method in ("weight", "channel"):
        level = levels[(dataset, pair, "student", seed, method)]
        pruned = pipeline.load(cells[(dataset, pair, "student", seed, method, level)])
        frames.append(pd.DataFrame(prune.removed_fraction_per_layer(dense, pruned)).assign(method=method, level=level))
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------- Fontana et al. 2024 (DG2PF)
def fontana_dense(cfg: dict, model: str) -> dict:
    """The trained dense model DG2PF starts from (one per model; its seed is fixed, as the paper starts from
    given pretrained weights)."""
    return pipeline.train_cfg(cfg["models"][model], cfg["data"], cfg["dense_train"], seed=0,
                              batch_size=cfg["batch_size"])


def fontana_dg2pf(cfg: dict, model: str, seed: int, **changes) -> dict:
    """One DG2PF run from the dense model, self-distilled; `changes` override DG2PF settings (the ablations)."""
    d = {**cfg["dg2pf"], **changes}
    d["dgp"], d["pf"] = {**d["dgp"], "seed": seed}, {**d["pf"], "seed": seed}
    return pipeline.child(fontana_dense(cfg, model), "dg2pf", dg2pf=d, seed=seed, batch_size=cfg["batch_size"])


def fontana_baselines(cfg: dict, model: str, sparsity: float, seed: int) -> dict:
    """Tables VI-VII baselines on the same dense model and sparsity: one-shot magnitude pruning + fine-tuning,
    gradual magnitude pruning (Zhu & Gupta, cubic schedule over s_e epochs) and iterative pruning."""
    dense, tune = fontana_dense(cfg, model), {**cfg["baseline_finetune"], "seed": seed}
    common = {"seed": seed, "batch_size": cfg["batch_size"]}
    one_shot = pipeline.child(pipeline.child(dense, "prune", method="l1_unstructured", sparsity=sparsity,
                                             evaluate=False), "train", train=tune, **common)
    gmp = pipeline.child(dense, "train", train=tune, gradual_magnitude={"sparsity": sparsity,
                                                                         "epochs": cfg["dg2pf"]["pruning_epochs"]}, **common)
    run, rounds = dense, cfg["iterative_rounds"]
    rate = 1 - (1 - sparsity) ** (1 / rounds)
    for target in prune.geometric_targets(rate, rounds):
        pruned = pipeline.child(run, "prune", method="l1_unstructured", sparsity=round(target, 6), evaluate=False)
        run = pipeline.child(pruned, "train", train={**tune, "epochs": max(1, tune["epochs"] // rounds)}, **common)
    return {"one-shot magnitude + FT": one_shot, "gradual magnitude (GMP) + FT": gmp, "iterative magnitude + FT": run}


def fontana_claims(runs, cfg: dict) -> list[dict]:
    """DG2PF's claims from the sweep/ablation/baseline runs (a DataFrame with columns study, setting, seed)."""
    def acc(study, setting):
        d = runs[(runs.study == study) & (runs.setting == setting)].set_index("seed").test_top1
        return d

    def diff(a, b):
        a, b = a.align(b, join="inner")
        return metrics.paired_difference(list(a), list(b))

    s = sorted(cfg["sparsities"])
    flat = [x for x in s if x <= 0.9]
    rows = [report.noninferiority(f"1a. Accuracy stays flat up to 90% sparsity ({100 * flat[-1]:g}% vs {100 * flat[0]:g}%)",
                                  "Table I: 92.80 (20%) ... 92.91 (90%)", diff(acc("sparsity", flat[-1]), acc("sparsity", flat[0])),
                                  margin=0.005)]
    beyond = [x for x in s if x > 0.9]
    rows.append(report.claim("1b. ... and drops beyond 90%", "Table I: 92.91 (90%) -> 91.26 (95%)",
                             diff(acc("sparsity", beyond[-1]), acc("sparsity", 0.9)) if beyond and 0.9 in s else None,
                             direction=-1, why_not="no sparsity above 90% at this profile"))
    se = sorted(cfg["ablations"]["pruning_epochs"])
    rows.append(report.claim(f"2. More pruning epochs help (s_e = {se[-1]} vs {se[0]})", "Table II: 90.16 (1) -> 91.49 (15)",
                             diff(acc("pruning_epochs", se[-1]), acc("pruning_epochs", se[0])) if len(se) > 1 else None,
                             why_not="a single s_e at this profile"))
    best = acc("simulated_sparsity", 0.1)
    pairs = [best.align(acc("simulated_sparsity", x), join="inner") for x in (0.0, 0.2)]
    rows.append(report.claim("3. A small simulated sparsity (10%) beats none and beats 20%",
                             "Table III: 91.26 (10%) vs 90.89 (0%) and 90.78 (20%)",
                             metrics.paired_difference(sum([list(a) for a, _ in pairs], []), sum([list(b) for _, b in pairs], []))))
    rows.append(report.claim("4a. Distillation (alpha > 0) beats alpha = 0", "Table IV: 91.42 (0.9) vs 89.68 (0)",
                             diff(acc("alpha", cfg["dg2pf"]["alpha"]), acc("alpha", 0.0))))
    taus = [t for t in cfg["ablations"]["temperature"] if t != cfg["dg2pf"]["temperature"]]
    rows.append(report.equivalence(f"4b. The result is insensitive to tau ({taus[-1]} vs {cfg['dg2pf']['temperature']})",
                                   "Table V: 92.59-92.79 for tau in 0.1..8", diff(acc("temperature", taus[-1]),
                                                                                   acc("temperature", cfg["dg2pf"]["temperature"])),
                                   margin=0.01))
    base = runs[runs.study == "baseline"]
    dg = acc("sparsity", cfg["comparison_sparsity"])
    a, b = [], []
    for method in ("one-shot magnitude + FT", "gradual magnitude (GMP) + FT"):
        x, y = dg.align(base[base.setting == method].set_index("seed").test_top1, join="inner")
        a, b = a + list(x), b + list(y)
    rows.append(report.claim("5. DG2PF beats one-shot and gradual magnitude pruning at equal sparsity",
                             "Tables VI-VII: e.g. ResNet-18 CIFAR-10 92.90 vs 92.04 (GMP)", metrics.paired_difference(a, b)))
    return rows
