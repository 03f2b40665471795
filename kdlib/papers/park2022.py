"""Park & No 2022, "Prune Your Model Before Distill It" (ECCV): configuration, run plans, claims and cost.

Prune the teacher by LR rewinding (Renda et al. 2020), then distil it (Hinton KD) into a student: a given one
(VGG11), itself, or a sparsity-matched "ST" student built from the pruned teacher's nonzeros (Sec. 4).
"""
from __future__ import annotations

import torch

from .. import metrics, models, profiles, prune, report, specs, students
from ..specs import KD, Prune, Train

ID = "park2022"
TITLE = "Park & No 2022: Prune your model before distill it"
NOTEBOOK = "park2022_prune_then_distill.ipynb"
CITATION = "Park, J., No, A.: Prune Your Model Before Distill It. ECCV 2022. arXiv:2109.14960"

NESTEROV = {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "schedule": "multistep", "batch_size": 128}
PAPER = {
    "cifar100": {  # Sec. 3.1 + reference code experiments/hyperparam/cifar100/*.json
        "data": {"name": "cifar100", "val_fraction": 0.1, "train_per_class": None, "test_per_class": None},
        "teachers": {"VGG19": {"name": "cifar_vgg19", "width": 1.0}, "VGG19DBL": {"name": "cifar_vgg19dbl", "width": 1.0}},
        "pretrain": {**NESTEROV, "epochs": 200, "lr": 0.1, "weight_decay": 5e-4, "milestones": [60, 120, 160], "gamma": 0.2},
        "rewind": {**NESTEROV, "epochs": 130, "lr": 0.1, "weight_decay": 2e-4, "milestones": [39, 84], "gamma": 0.1,
                   "restore_best": False},                            # 0.65 x 200 epochs per round; last epoch kept
        "kd_train": {**NESTEROV, "epochs": 200, "lr": 0.1, "weight_decay": 5e-4, "milestones": [60, 120, 160], "gamma": 0.2},
        "kd": {"temperature": 10.0, "alpha": 0.95},                    # Sec. 3.1: alpha = 0.95, tau = 10
        "teacher_seed": 1000, "rate": 0.2},                            # LR rewinding: 20% of the rest per round
    "students": {"VGG11": {"name": "cifar_vgg11", "width": 1.0}, "VGG19-CL1": {"name": "cifar_vgg19cl1", "width": 1.0},
                 "VGG19-CL2": {"name": "cifar_vgg19cl2", "width": 1.0}},           # Table 6 plans: appendix / reference code
    "sparsities": [0.36, 0.59, 0.79], "fig3_sparsities": [0.2, 0.36, 0.59, 0.79, 0.87, 0.91], "seeds": [0, 1, 2],
    "table6_conditions": ["-", "none", "0.36", "0.59", "0.79"]}   # Tables 1-6, Fig. 3; three runs, mean +- std

SMALL = {"epochs": 5, "lr": 0.05, "schedule": "cosine", "milestones": [], "batch_size": 64}  # cpu: short cosine schedules
OVERRIDES = {
    "cpu": {"cifar100": {"data": {"name": "fashion_mnist", "train_per_class": 400, "test_per_class": 300},
                         "teachers": {"VGG19": {"width": 0.125}}, "pretrain": {**SMALL, "epochs": 15},
                         "rewind": {**SMALL, "epochs": 4}, "kd_train": SMALL, "teacher_seed": 0},
            "students": {"VGG11": {"width": 0.125}, "VGG19-CL1": {"width": 0.125}, "VGG19-CL2": {"width": 0.125}},
            "table6_conditions": ["0.59"], "fig3_sparsities": [0.2, 0.36, 0.59, 0.79, 0.91]},
    "smoke": {"cifar100": {"data": {"train_per_class": 12, "test_per_class": 10}, "pretrain": {"epochs": 1, "milestones": []},
                           "rewind": {"epochs": 1, "milestones": []}, "kd_train": {"epochs": 1, "milestones": []}},
              "seeds": [0], "fig3_sparsities": [0.36, 0.59, 0.79]},
}
SOURCES = {"cifar100": "Sec. 3.1, Appendix; reference code hyperparameter JSONs", "students": "Tables 1, 6; reference plans",
           "sparsities": "Tables 1-6", "fig3_sparsities": "Fig. 3 / Sec. 5.3", "seeds": "Sec. 3.1 (three runs)",
           "table6_conditions": "Table 6", "cifar100.data.val_fraction": "Sec. 3.1 (10% validation)"}


def config(profile: str, overrides: dict | None = None) -> dict:
    """The config of `profile` (paper, cpu or smoke), with a reader's `overrides` merged strictly."""
    return profiles.derive(PAPER, OVERRIDES, profile, overrides)


# ---------------------------------------------------------------- run plans
def teacher(c: dict, name: str) -> Train:
    """The dense teacher `name` (a key of c["teachers"]), trained once with the pre-training schedule."""
    return Train(model=profiles.model(c["teachers"][name]), data=profiles.data(c["data"]),
                 optim=profiles.optim(c["pretrain"]), seed=c["teacher_seed"])


def pruned(c: dict, name: str, sparsity: float) -> Train:
    """The teacher after LR rewinding to `sparsity`: rounds of 20%-of-remaining global L1 pruning, each followed
    by retraining with the learning-rate schedule restarted (Renda et al. 2020; Park & No Sec. 3.1)."""
    run = teacher(c, name)
    for target in prune.geometric_targets(c["rate"], prune.lr_rewinding_rounds(sparsity, c["rate"])):
        cut = Prune(parent=run, method="l1_unstructured", sparsity=round(target, 6), evaluate=False)
        run = Train(parent=cut, optim=profiles.optim(c["rewind"]))
    return run


def student(c: dict, model: dict | specs.Model, teacher_run: Train | None, seed: int) -> Train:
    """A student from random init, alone (teacher_run=None) or distilled (alpha on the soft term, T)."""
    kd = KD(teacher_run, "hinton", **c["kd"]) if teacher_run is not None else None
    model = model if isinstance(model, specs.Model) else profiles.model(model)
    return Train(model=model, data=profiles.data(c["data"]), optim=profiles.optim(c["kd_train"]), seed=seed, kd=kd)


def conditions(c: dict, name: str, sparsities: list[float]) -> dict:
    """Teacher conditions keyed as the paper's "pruning ratio" column: "-" no teacher, "none" the unpruned
    teacher, "0.36" etc. the teacher pruned to that sparsity."""
    out = {"-": None, "none": teacher(c, name)}
    out.update({f"{s:g}": pruned(c, name, s) for s in sparsities})
    return out


def st_student(runner, c: dict, pruned_teacher: Train) -> specs.Model:
    """The sparsity-matched student of a pruned teacher run (VGG plans or ResNet widths), Sec. 4 + Appendix."""
    model = runner.load(pruned_teacher)
    spec = specs.root(pruned_teacher).model
    in_channels = runner.dataset(pruned_teacher).info.in_channels
    if spec.name.startswith("cifar_vgg"):
        plan = [p if p == "M" else models.scaled(p, spec.width) for p in models.VGG_PLANS[spec.name[len("cifar_vgg"):]]]
        return specs.Model("cifar_vgg_custom", plan=tuple(students.vgg_student_plan(model, plan, in_channels)))
    if spec.name == "cifar_resnet18":
        widths = [models.scaled(w, spec.width) for w in (64, 128, 256, 512)]
        return specs.Model("cifar_resnet18_custom", plan=(widths[0], *students.resnet_student_widths(model, widths)))
    raise ValueError(f"no sparsity-matched student rule for {spec.name}; supported: cifar_vgg*, cifar_resnet18")


# ---------------------------------------------------------------- cost
def cost(cfg: dict) -> dict:
    """Estimated GPU-hours of the paper profile: the teacher chain (pre-training + every rewinding round) and
    every student training, from forward MACs on 32 px CIFAR-100 images."""
    c, x = cfg["cifar100"], torch.zeros(1, 3, 32, 32)
    t_macs = metrics.macs(models.build(c["teachers"]["VGG19"]["name"], 100), x)["macs"]
    s_macs = metrics.macs(models.build(cfg["students"]["VGG11"]["name"], 100), x)["macs"]
    rounds = prune.lr_rewinding_rounds(max(cfg["fig3_sparsities"]), c["rate"])
    images = 45_000  # CIFAR-100 train minus the 10% validation split
    n_students = len(cfg["seeds"]) * (9 + 3 * 3 * 2 + 2 * 9 + 3)  # Table 1 + Table 4 + Table 6 + extra Fig. 3 ratios
    chain = metrics.gpu_hours(t_macs, images, c["pretrain"]["epochs"] + rounds * c["rewind"]["epochs"])
    kd = metrics.gpu_hours(s_macs + t_macs / 3, images, c["kd_train"]["epochs"]) * n_students  # + teacher forward
    return {"teacher chain": chain, f"{n_students} students": kd}


# ---------------------------------------------------------------- claims
def _paired(df, cond_a: str, cond_b: str, by: str = "pruning_ratio", extra: list[str] | None = None):
    """Accuracies of condition a and b, aligned on seed (and `extra` columns)."""
    keys = ["seed"] + (extra or [])
    a = df[df[by] == cond_a].set_index(keys).test_top1
    b = df[df[by] == cond_b].set_index(keys).test_top1
    a, b = a.align(b, join="inner")
    return list(a), list(b)


def claims(t1, t4, t6, f3, teachers: dict, train_loader, cfg: dict) -> list[dict]:
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
