"""Plans: the run configs each paper's tables need, built from a notebook's profile config.

Only configs here (no training): `pipeline.run(cfg)` computes or loads each one. Seeds are paired across
conditions: seed s means the same student initialisation and the same data order in every condition.
"""
from __future__ import annotations

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
