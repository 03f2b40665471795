"""Park & No 2022, "Prune Your Model Before Distill It" (ECCV, arXiv:2109.14960): configuration, run plans,
coverage and cost. Claims: `park2022_claims`; figures: `park2022_plots`.

Prune the teacher by LR rewinding (Renda et al. 2020), then distil it (Hinton KD) into a student: a given one
(VGG11, VGG16, MobileNetV2), itself (self-distillation), or a sparsity-matched "ST" student built from the pruned
teacher's nonzeros (Sec. 4). Ours adds the equal-budget control of every pruned teacher: the unpruned teacher
retrained by as many rewinding rounds at 0% sparsity ("dense 0.36" beside "0.36").
"""
from __future__ import annotations

import torch

from .. import architectures, metrics, models, profiles, prune, report, specs, students
from ..specs import KD, Init, Prune, Train

ID = "park2022"
TITLE = "Park & No 2022: Prune your model before distill it"
NOTEBOOK = "park2022_prune_then_distill.ipynb"
CITATION = "Park, J., No, A.: Prune Your Model Before Distill It. ECCV 2022. arXiv:2109.14960"

VGG16_TINY = "park2022_tinyimagenet_vgg16"  # the TinyImageNet VGG16 of the authors' code (kdlib.architectures)


# ---------------------------------------------------------------- the paper profile
NESTEROV = {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "schedule": "multistep", "batch_size": 128,
            "max_steps": None, "min_epochs": 0, "restore_best": True}  # whole epochs; best-on-validation weights kept
VGG_TRAIN = {**NESTEROV, "epochs": 200, "lr": 0.1, "weight_decay": 5e-4, "milestones": [60, 120, 160], "gamma": 0.2}
RESNET_PRE = {**NESTEROV, "epochs": 100, "lr": 0.01, "weight_decay": 1e-4, "milestones": [30, 60, 80], "gamma": 0.1}
KD_PAPER = {"temperature": 10.0, "alpha": 0.95}                      # Sec. 3.1: alpha = 0.95 on the KD term, tau = 10
DATA = {"val_fraction": 0.1, "val_per_class": None, "train_per_class": None, "test_per_class": None, "image_size": None}
MAIN = ["-", "none", "0.36", "0.59", "0.79", "dense 0.36", "dense 0.59", "dense 0.79"]
PAPER = {
    "vgg": {"data": {"name": "cifar100", **DATA},
            "models": {"VGG19": {"name": "cifar_vgg19", "width": 1.0}, "VGG19DBL": {"name": "cifar_vgg19dbl", "width": 1.0},
                       "VGG11": {"name": "cifar_vgg11", "width": 1.0}, "VGG19-CL1": {"name": "cifar_vgg19cl1", "width": 1.0},
                       "VGG19-CL2": {"name": "cifar_vgg19cl2", "width": 1.0}},
            "pretrain": VGG_TRAIN,
            "rewind": {**NESTEROV, "epochs": 130, "lr": 0.1, "weight_decay": 2e-4, "milestones": [39, 84], "gamma": 0.1,
                       "restore_best": False},
            "synflow_train": {**NESTEROV, "epochs": 130, "lr": 0.1, "weight_decay": 2e-4, "milestones": [39, 84],
                              "gamma": 0.1, "restore_best": False},
            "kd_train": VGG_TRAIN, "alone_train": VGG_TRAIN, "kd": KD_PAPER, "student_train": {}, "teacher_seed": 1000,
            "student_data": None},
    "resnet": {"data": {"name": "tinyimagenet", **DATA},
               "models": {"ResNet18": {"name": "cifar_resnet18", "width": 1.0},
                          "ResNet18DBL": {"name": "cifar_resnet18dbl", "width": 1.0},
                          "VGG16": {"name": VGG16_TINY, "width": 1.0}, "MobileNetV2": {"name": "mobilenet_v2", "width": 1.0}},
               "pretrain": RESNET_PRE,
               "rewind": {**NESTEROV, "epochs": 50, "batch_size": 512, "lr": 0.04, "weight_decay": 1e-4,
                          "milestones": [10, 30], "gamma": 0.1, "restore_best": False},
               "kd_train": {**NESTEROV, "epochs": 100, "batch_size": 256, "lr": 0.01, "weight_decay": 5e-4,
                            "milestones": [30, 60, 80], "gamma": 0.2},
               "alone_train": RESNET_PRE, "kd": KD_PAPER, "teacher_seed": 1000, "student_data": None,
               "student_train": {"MobileNetV2": {
                   "kd": {**NESTEROV, "epochs": 100, "batch_size": 256, "lr": 0.05, "weight_decay": 5e-4,
                          "milestones": [60, 80], "gamma": 0.1},
                   "alone": {**NESTEROV, "epochs": 120, "batch_size": 256, "lr": 0.05, "weight_decay": 5e-4,
                             "milestones": [60, 80, 100], "gamma": 0.1}}}},
    "rate": 0.2, "synflow_iterations": 100,
    "tables": {"table1": {"VGG19": MAIN, "VGG19DBL": MAIN},                    # teacher -> conditions; student VGG11
               "table2": {"VGG19": MAIN, "VGG19DBL": MAIN, "ResNet18": MAIN, "ResNet18DBL": MAIN},  # self-distillation
               "table3": {"VGG16": MAIN, "MobileNetV2": MAIN},               # student -> conditions; teacher ResNet18
               "table4": {"VGG19": [0.36, 0.59, 0.79], "VGG19DBL": [0.36, 0.59, 0.79]},   # teacher -> ST sparsities
               "table5": {"ResNet18": [0.36, 0.59, 0.79], "ResNet18DBL": [0.36, 0.59, 0.79]},
               "table6": {"VGG19": MAIN[:5], "VGG19DBL": MAIN[:5]},          # teacher -> conditions; CL1 and CL2
               "fig3": {"VGG19": [0.2, 0.36, 0.59, 0.79, 0.87, 0.91]},       # ST students: unpruned vs pruned teacher
               "fig3_synflow": {"VGG19": [0.36, 0.59, 0.79]}},               # the same with SynFlow teachers
    "st_conditions": ["-", "none", "pruned", "dense"], "agreement_tables": ["table1", "table2"],
    "teacher_per_seed": False,
    "seeds": [0, 1, 2]}
SOURCES = {
    "vgg": "Sec. 3.1, 5.1; reference code experiments/hyperparam/cifar100/*.json", "vgg.data.val_fraction": "Sec. 3.1 (10%)",
    "vgg.rewind": "Sec. 3.1 (0.65 x 200 epochs per round) + pruning/vgg19.json; last epoch kept (lr_rewinding.py)",
    "vgg.synflow_train": "reference code: SynFlow at initialisation, then one training with the 'post' schedule",
    "vgg.kd": "Sec. 3.1 (alpha = 0.95, tau = 10)", "vgg.models": "Sec. 3.1, Table 6; reference plans (models/cifar_vgg.py)",
    "resnet": "Sec. 3.1; reference code experiments/hyperparam/tiny_imagenet/*.json",
    "resnet.rewind": "Sec. 3.1 (ratio 0.5) + pruning/resnet18.json", "resnet.kd": "Sec. 3.1 (alpha = 0.95, tau = 10)",
    "resnet.models": "reference models/tinyimagenet_*.py (no max-pool ResNet18; VGG16 with a 3-FC head)",
    "resnet.data.val_fraction": "Sec. 3.1 (10%)", "vgg.student_data": "Sec. 3.1: students learn from the teacher's training set",
    "resnet.student_data": "Sec. 3.1: students learn from the teacher's training set", "rate": "reference lr_rewinding.py: 20% of the remaining weights per round",
    "synflow_iterations": "reference pruning/synflow.py (100 iterations)", "tables": "Tables 1-6, Fig. 3 (rows as printed)",
    "tables.table1.VGG19": "Table 1 + ours: 'dense s' = equal-budget control (unpruned, rewound as many rounds)",
    "st_conditions": "Tables 4-5 + ours: the equal-budget control",
    "agreement_tables": "Sec. 3.1 (appendix): agreement of Table 1-2 students with their teachers",
    "teacher_per_seed": "Tables 1-6 give one teacher accuracy per row: one teacher, three student runs", "seeds": "Sec. 3.1: three independent runs"}
SMALL_BATCH = {"batch_size": 8}  # the dry run: the paper's batches (up to 512 images at 64 px) do not fit 3 minutes
DRYRUN_CUTS = {"data": {"test_per_class": 1}, **{k: SMALL_BATCH for k in ("pretrain", "rewind", "kd_train", "alone_train")}}
DRYRUN_TINY = {"train_per_class": 1, "test_per_class": 1}  # TinyImageNet at 64 px: 20 validation images, not 80
# cpu: Fashion-MNIST at 28 px; teachers draw their batches from the whole training set (59,000 images; 1,000 held out
# for validation), an "epoch" being `max_steps` batches.
SMALL = {"lr": 0.05, "schedule": "cosine", "milestones": [], "batch_size": 64, "max_steps": 50}
# Students: 60 labelled images per class, 50 epochs, the best of the last 4. On the whole set KD did not help them
# (80.7 vs 80.6% alone); on 600 images it does (VGG11, seed-0 teacher: 81.3 vs 79.2%). Probe in the #18 note.
STUDENT = {**SMALL, "epochs": 50, "max_steps": None, "min_epochs": 47}
FMNIST = {"name": "fashion_mnist", "val_per_class": 100, "train_per_class": None}
OVERRIDES = {
    "cpu": {"vgg": {"data": FMNIST, "models": {"VGG19": {"width": 0.125}, "VGG19DBL": {"width": 0.125},
                                               "VGG11": {"width": 0.0625}, "VGG19-CL1": {"width": 0.125},
                                               "VGG19-CL2": {"width": 0.125}},
                    "pretrain": {**SMALL, "epochs": 40}, "rewind": {**SMALL, "epochs": 3},
                    "synflow_train": {**SMALL, "epochs": 20}, "kd_train": STUDENT, "alone_train": STUDENT,
                    "student_data": {"train_per_class": 60}},
            "tables": profiles.Replace({"table1": {"VGG19": MAIN}, "table2": {"VGG19": ["-", "none", "0.79", "dense 0.79"]},
                                        "table3": {}, "table4": {"VGG19": [0.36, 0.59, 0.79]}, "table5": {},
                                        "table6": {"VGG19": ["0.59"]}, "fig3": {"VGG19": [0.36, 0.59, 0.79, 0.87, 0.91]},
                                        "fig3_synflow": {"VGG19": [0.79]}}),
            # 5 seeds: at 3 the KD-vs-alone precondition (+1.2 points, sd of paired differences ~0.6) stayed unresolved
            "agreement_tables": ["table2"], "teacher_per_seed": True, "seeds": [0, 1, 2, 3, 4]},
    "smoke": {"vgg": {"data": {"train_per_class": 12, "val_per_class": 4, "test_per_class": 10}, "student_data": {"train_per_class": 12},
                      "pretrain": {"epochs": 1}, "rewind": {"epochs": 1}, "synflow_train": {"epochs": 1},
                      "kd_train": {"epochs": 1, "min_epochs": 0}, "alone_train": {"epochs": 1, "min_epochs": 0}},
              "tables": profiles.Replace({"table1": {"VGG19": ["-", "none", "0.36", "dense 0.36"]}, "table2": {},
                                          "table3": {}, "table4": {"VGG19": [0.36]}, "table5": {}, "table6": {},
                                          "fig3": {"VGG19": [0.36]}, "fig3_synflow": {"VGG19": [0.36]}}),
              "synflow_iterations": 10, "seeds": [0]},
    # the dry run: one seed; each architecture and each kind of teacher condition once, at 36% (two rewinding
    # rounds, so a round continues a masked model); batches of 8 and one test image per class (see DRYRUN_CUTS)
    "dryrun": {"vgg": {**DRYRUN_CUTS, "synflow_train": SMALL_BATCH}, "resnet": {**DRYRUN_CUTS, "data": DRYRUN_TINY, "student_train": {"MobileNetV2": {"kd": SMALL_BATCH,
                                                                                            "alone": SMALL_BATCH}}},
               "tables": profiles.Replace({"table1": {"VGG19": ["-", "none", "0.36", "dense 0.36"]},
                                           "table2": {"VGG19DBL": ["0.36"]}, "table3": {"VGG16": ["0.36"], "MobileNetV2": ["-", "0.36"]},
                                           "table4": {"VGG19": [0.36]}, "table5": {"ResNet18DBL": [0.36]},
                                           "table6": {"VGG19": ["0.36"]}, "fig3": {"VGG19": [0.36]}, "fig3_synflow": {"VGG19": [0.36]}}),
               "st_conditions": ["-", "pruned"], "agreement_tables": ["table2"], "synflow_iterations": 10, "seeds": [0]},
}


def config(profile: str, overrides: dict | None = None) -> dict:
    """The config of `profile` (paper, cpu, smoke or dryrun), with a reader's `overrides` merged strictly."""
    return profiles.derive(PAPER, OVERRIDES, profile, overrides)


# ---------------------------------------------------------------- run plans
def group_of(cfg: dict, name: str) -> str:
    """The experiment group ("vgg": CIFAR-100, "resnet": TinyImageNet) whose models include `name`."""
    if name.startswith("ResNet18") or name in cfg["resnet"]["models"]:
        return "resnet"
    return "vgg"


def data(cfg: dict, group: str, role: str = "teacher") -> specs.Data:
    """The group's data; for students with the group's `student_data` changes (cpu: a subset per class)."""
    return profiles.data(cfg[group]["data"], **((role == "student" and cfg[group]["student_data"]) or {}))


def teacher_seed(cfg: dict, name: str, seed: int) -> int:
    """The seed of the teacher of the students of `seed`: one teacher per group (the paper), or with
    cfg["teacher_per_seed"] one teacher chain per seed, sharing that seed's data split with its students."""
    return seed if cfg["teacher_per_seed"] else cfg[group_of(cfg, name)]["teacher_seed"]


def teacher(cfg: dict, name: str, seed: int) -> Train:
    """The dense teacher `name` of the students of `seed`, trained once with its group's pre-training schedule."""
    g = group_of(cfg, name)
    return Train(model=profiles.model(cfg[g]["models"][name]), data=data(cfg, g), optim=profiles.optim(cfg[g]["pretrain"]),
                 seed=teacher_seed(cfg, name, seed))


def rewound(cfg: dict, name: str, seed: int, rounds: int, pruned: bool = True) -> Train:
    """`rounds` LR-rewinding rounds from the pre-trained teacher: each prunes 20% of the remaining weights (global
    L1 over every Conv/Linear weight) then retrains with the rewinding schedule restarted (Sec. 3.1). With
    pruned=False the same rounds without pruning: the equal-budget control."""
    g, run = group_of(cfg, name), teacher(cfg, name, seed)
    for target in prune.geometric_targets(cfg["rate"], rounds):
        parent = Prune(parent=run, method="l1_unstructured", sparsity=round(target, 6), evaluate=False) if pruned else run
        run = Train(parent=parent, optim=profiles.optim(cfg[g]["rewind"]))
    return run


def synflow_teacher(cfg: dict, name: str, seed: int, sparsity: float) -> Train:
    """Fig. 3 right: SynFlow prunes the teacher at initialisation, which then trains once ("post" schedule)."""
    g = group_of(cfg, name)
    init = Init(model=profiles.model(cfg[g]["models"][name]), data=data(cfg, g), seed=teacher_seed(cfg, name, seed),
                evaluate=False)
    cut = Prune(parent=init, method="synflow", sparsity=sparsity, iterations=cfg["synflow_iterations"], evaluate=False)
    return Train(parent=cut, optim=profiles.optim(cfg[g]["synflow_train"]))


def rounds_for(sparsity: float, cfg: dict) -> int:
    return prune.lr_rewinding_rounds(sparsity, cfg["rate"])


def teacher_run(cfg: dict, name: str, condition: str, seed: int) -> Train | None:
    """The teacher of a condition for the students of `seed`: "-" none (alone), "none" the unpruned teacher, "0.36"
    LR-rewound to 36%, "dense 0.36" the equal-budget control (as many rounds, no pruning), "synflow 0.79" SynFlow."""
    if condition == "-":
        return None
    if condition == "none":
        return teacher(cfg, name, seed)
    kind, _, value = condition.rpartition(" ")
    if kind == "synflow":
        return synflow_teacher(cfg, name, seed, float(value))
    if kind not in ("", "dense"):
        raise ValueError(f"unknown teacher condition {condition!r}; valid: '-', 'none', '0.36', 'dense 0.36', 'synflow 0.79'")
    return rewound(cfg, name, seed, rounds_for(float(value), cfg), pruned=kind == "")


def train_config(cfg: dict, group: str, student: str, distilled: bool):
    """The student's schedule: the group's KD or alone schedule, or the student's own (MobileNetV2, Table 3)."""
    key = "kd" if distilled else "alone"
    own = cfg[group]["student_train"].get(student, {}).get(key)
    return profiles.optim(own or cfg[group][f"{key}_train"])


def student(cfg: dict, group: str, name: str, model: specs.Model, teacher_spec: Train | None, seed: int) -> Train:
    """Student `name` (architecture `model`) from random init, alone or distilled (alpha on the soft term)."""
    kd = KD(teacher_spec, "hinton", **cfg[group]["kd"]) if teacher_spec is not None else None
    return Train(model=model, data=data(cfg, group, "student"), optim=train_config(cfg, group, name, kd is not None),
                 seed=seed, kd=kd)


def st_model(runner, teacher_spec: Train) -> specs.Model:
    """The sparsity-matched student of a pruned teacher run (Sec. 4, Fig. 2): VGG widths c_l = round(nnz_l /
    (9 c_{l-1})); ResNet stage widths c_s sqrt(density_s), the stem kept (reference widths are hard-coded)."""
    net, root = runner.load_for_shape(teacher_spec), specs.root(teacher_spec).model
    channels = runner.dataset(teacher_spec).info.in_channels
    if root.name.startswith("cifar_vgg"):
        plan = [p if p == "M" else architectures.scaled(p, root.width) for p in models.VGG_PLANS[root.name[len("cifar_vgg"):]]]
        return specs.Model("cifar_vgg_custom", plan=tuple(students.vgg_student_plan(net, plan, channels)))
    if root.name in ("cifar_resnet18", "cifar_resnet18dbl"):
        k = 2 if root.name.endswith("dbl") else 1
        widths = [architectures.scaled(c, k * root.width) for c in (64, 128, 256, 512)]
        return specs.Model("cifar_resnet18_custom", plan=(architectures.scaled(64, root.width),
                                                           *students.resnet_student_widths(net, widths)))
    raise ValueError(f"no sparsity-matched student rule for {root.name}; supported: cifar_vgg*, cifar_resnet18(dbl)")


def st_sparsities(cfg: dict, name: str) -> list[float]:
    """The sparsities of `name`'s ST students across Tables 4-5 and Fig. 3."""
    return sorted({s for t in ("table4", "table5", "fig3") for s in cfg["tables"].get(t, {}).get(name, [])})


def st_label(name: str, sparsity: float, synflow: bool = False) -> str:
    return f"{name}-ST{round(100 * sparsity)}" + (" (SynFlow)" if synflow else "")


FIXED = {"table1": lambda key: ["VGG11"], "table2": lambda key: [key], "table3": lambda key: [key],
         "table6": lambda key: ["VGG19-CL1", "VGG19-CL2"]}


def rows(cfg: dict, table: str) -> list[tuple]:
    """(teacher, condition, student label, student) of every row of `table`; the student is a key of its group's
    models, or ("st", pruned condition) for the sparsity-matched student of that pruned teacher."""
    out = []
    for key, items in cfg["tables"][table].items():
        if table in FIXED:
            teacher_name = "ResNet18" if table == "table3" else key
            out += [(teacher_name, c, s, s) for s in FIXED[table](key) for c in items]
            continue
        synflow = table == "fig3_synflow"
        roles = ["none", "pruned"] if table.startswith("fig3") else cfg["st_conditions"]
        for s in items:
            pruned = f"synflow {s:g}" if synflow else f"{s:g}"
            conditions = {"-": "-", "none": "none", "pruned": pruned, "dense": f"dense {s:g}"}
            out += [(key, conditions[r], st_label(key, s, synflow), ("st", pruned)) for r in roles]
    return out


def cells(runner, cfg: dict, table: str) -> dict:
    """{(teacher, pruning_ratio, student, seed): student run spec} of one table ("table1".."table6", "fig3",
    "fig3_synflow"); students trained alone are keyed with teacher "none" and pruning_ratio "-", as in the paper."""
    out = {}
    for teacher_name, cond, label, stu in rows(cfg, table):
        g = group_of(cfg, teacher_name)
        for seed in cfg["seeds"]:
            model = st_model(runner, teacher_run(cfg, teacher_name, stu[1], seed)) if isinstance(stu, tuple) \
                else profiles.model(cfg[g]["models"][stu])
            out[("none" if cond == "-" else teacher_name, cond, label, seed)] = \
                student(cfg, g, label, model, teacher_run(cfg, teacher_name, cond, seed), seed)
    return out


KEYS = ["teacher", "pruning_ratio", "student", "seed"]


# ---------------------------------------------------------------- coverage and cost
Item = report.Item
SMOKE = "smoke runs the code paths of Tables 1, 4 and Fig. 3 only"
RESNET = ("needs a second teacher chain (ResNet18: pre-training, 7 pruned and 7 dense rounds) and its students, beyond the "
          "12-minute budget: the paper profile (TinyImageNet, GPU) runs it")
COVERAGE = [
    Item("Fig. 1", "overview of prune, then distill", quoted="a diagram of the pipeline, no data"),
    Item("Table 1", "VGG19 / VGG19DBL -> VGG11 with pruned teachers (CIFAR-100)", ("table1",)),
    Item("Table 2", "self-distillation: VGG19(DBL) on CIFAR-100, ResNet18(DBL) on TinyImageNet", ("table2",), {"smoke": SMOKE}),
    Item("Table 3", "ResNet18 -> VGG16 / MobileNetV2 (TinyImageNet)", ("table3",), {"cpu": RESNET, "smoke": SMOKE}),
    Item("Table 4", "VGG19-ST students built from the pruned teachers (CIFAR-100)", ("table4",)),
    Item("Table 5", "ResNet18(DBL)-ST students (TinyImageNet)", ("table5",), {"cpu": RESNET, "smoke": SMOKE}),
    Item("Table 6", "manually designed students VGG19-CL1 / CL2", ("table6",), {"smoke": SMOKE}),
    Item("Fig. 2", "student design: per-layer weights of the ST student vs the pruned teacher's nonzeros", ("fig2",)),
    Item("Fig. 3", "left: gain vs the teacher's pruning ratio; right: LR rewinding vs SynFlow", ("fig3",)),
    Item("Appendix: agreement", "teacher-student top-1 agreement (values not extracted: ours only)", ("agreement",)),
    Item("Appendix: architectures", "ST / CL student plans and parameter counts", ("architectures",)),
    Item("Appendix: hyperparameters", "training settings (the fidelity table)", ("fidelity",)),
    Item("Appendix: large-scale", "ResNet50 on ImageNet (Sec. 5.3)", not_at={
        p: "its setup and results are in the appendix, which the extracted paper text lacks" for p in profiles.PROFILES}),
]


def _macs(cfg: dict, group: str, name: str) -> int:
    d, m = cfg[group]["data"], cfg[group]["models"][name]
    classes, size = {"cifar100": (100, 32), "tinyimagenet": (200, 64)}.get(d["name"], (10, d["image_size"] or 28))
    return metrics.macs(models.build(m["name"], classes, width=m["width"]), torch.zeros(1, 3, size, size))["macs"]


def cost(cfg: dict) -> dict:
    """Estimated GPU-hours (metrics.gpu_hours) of a profile's teacher chains (pre-training, the deepest pruned and dense
    rewinding chains, SynFlow teachers) and of every distinct student x seed; an ST student counts (1 - sparsity) of
    its teacher's MACs, and a distilled student adds its teacher's forward pass."""
    images = lambda g: {"cifar100": 45_000, "tinyimagenet": 90_000}.get(cfg[g]["data"]["name"], 59_000)
    subset = lambda g: (cfg[g]["student_data"] or {}).get("train_per_class")  # a subset only at cpu (10 classes)
    student_images = lambda g: 10 * subset(g) if subset(g) else images(g)
    rows_ = {(t, c, label): stu for table in cfg["tables"] for t, c, label, stu in rows(cfg, table)}
    chains = {t: {c for (t_, c, _) in rows_ if t_ == t} for t, _, _ in rows_}
    out, seeds, cache = {"teacher chains": 0.0, "students": 0.0}, len(cfg["seeds"]), {}
    _m = lambda g, n: cache[(g, n)] if (g, n) in cache else cache.setdefault((g, n), _macs(cfg, g, n))
    for t, conds in chains.items():
        g = group_of(cfg, t)
        deepest = lambda kind: max([rounds_for(float(c.split()[-1]), cfg) for c in conds if c.startswith(kind)], default=0)
        epochs = cfg[g]["pretrain"]["epochs"] + (deepest("0") + deepest("dense")) * cfg[g]["rewind"]["epochs"] \
            + sum(cfg[g]["synflow_train"]["epochs"] for c in conds if c.startswith("synflow"))
        chains_run = seeds if cfg["teacher_per_seed"] else 1
        out["teacher chains"] += chains_run * metrics.gpu_hours(_m(g, t), images(g), epochs)
    for (t, cond, label), stu in rows_.items():
        g = group_of(cfg, t)
        t_macs = _m(g, t)
        s_macs = t_macs * (1 - float(stu[1].split()[-1])) if isinstance(stu, tuple) else _m(g, stu)
        macs = s_macs + (t_macs / 3 if cond != "-" else 0)
        out["students"] += seeds * metrics.gpu_hours(macs, student_images(g), train_config(cfg, g, label, cond != "-").epochs)
    return out
