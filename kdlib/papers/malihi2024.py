"""Malihi & Heidemann 2024, Appl. Syst. Innov. 7, 56 (doi:10.3390/asi7040056): distil with SimKD (Sec. 3.1), prune
the distilled student by L1 weight (Sec. 3.2) or L1 channel pruning (Sec. 3.3) from 10% to 90% (Sec. 4.1), fine-tune
only the last layer, and compare breakpoints and "performance efficiency" (eq. 2, Figs. 3-6).

Config, run plans, tables and cost live here; the claims in `malihi2024_claims`, the figures in `malihi2024_plots`.
Parameter basis (decision 12): a student is counted and pruned as the student network itself (`Prune(part=...)`, the
`params_student_*` metrics); the deployable SimKD model (student + projector + teacher head) is reported beside it.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .. import metrics, models, profiles, prune, report, runs, specs
from ..specs import KD, Prune, Train

ID = "malihi2024"
TITLE = "Malihi & Heidemann 2024: KD then weight vs channel pruning"
NOTEBOOK = "malihi2024_kd_weight_vs_channel.ipynb"
CITATION = ("Malihi, L., Heidemann, G.: Matching the Ideal Pruning Method with Knowledge Distillation for Optimal "
            "Compression. Appl. Syst. Innov. 2024, 7, 56. doi:10.3390/asi7040056")
ROLES = ("teacher", "student", "alone")   # the teacher, the SimKD student, the same student trained alone (no KD)
PART = {"teacher": "", "student": "features.0", "alone": "features"}  # what is pruned and counted (decision 12)
METHODS = {"weight": "l1_unstructured", "channel": "channel_l1"}


def _pair(teacher: str, student: str, family: str, paper_pair: str, *, tw: float = 1.0, sw: float = 1.0,
          image_size: int | None = None) -> dict:
    """One teacher-student pair; `family` is the student's architecture family, `paper_pair` the pair of the
    paper's Tables 1-2 it stands for (itself at the paper profile)."""
    return {"teacher": {"name": teacher, "width": tw}, "student": {"name": student, "width": sw}, "family": family,
            "paper_pair": paper_pair, "image_size": image_size}


_PAPER_PAIRS = [("resnet101", "resnet50", "ResNet", "ResNet101->ResNet50"),
                ("resnet152", "resnet34", "ResNet", "ResNet152->ResNet34"),
                ("resnet101", "resnet18", "ResNet", "ResNet101->ResNet18"),
                ("densenet169", "mobilenet_v1", "MobileNet", "DenseNet169->MobileNet"),
                ("densenet161", "densenet169", "DenseNet", "DenseNet161->DenseNet169"),
                ("densenet161", "densenet201", "DenseNet", "DenseNet161->DenseNet201"),
                ("efficientnet_b1", "efficientnet_b0", "EfficientNet", "EfficientNet-b1->EfficientNet-b0"),
                ("efficientnet_b3", "efficientnet_b2", "EfficientNet", "EfficientNet-b3->EfficientNet-b2"),
                ("efficientnet_b3", "mobilenet_v1", "MobileNet", "EfficientNet-b3->MobileNet"),
                ("efficientnet_b5", "efficientnet_b4", "EfficientNet", "EfficientNet-b5->EfficientNet-b4")]
PAIRS = {key: _pair(t, s, family, key) for t, s, family, key in _PAPER_PAIRS}
FAMILIES = ("ResNet", "DenseNet", "EfficientNet", "MobileNet")  # the abstract's four architecture types
NESTEROV = {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4, "batch_size": 64}
SIMKD_CODE = {"optimizer": "sgd", "momentum": 0.9, "nesterov": False, "weight_decay": 5e-4, "batch_size": 64,
              "lr": 0.05, "epochs": 240, "schedule": "multistep", "milestones": [150, 180, 210], "gamma": 0.1}
PAPER = {
    "datasets": ["cifar100", "cifar10"], "pairs": PAIRS,
    "data": {"name": "cifar100", "val_fraction": 0.1, "val_per_class": None, "train_per_class": None,
             "test_per_class": None, "image_size": None},
    "teacher_train": SIMKD_CODE,
    "kd": {"method": "simkd", "factor": 2, "temperature": 4.0},
    "kd_train": {**NESTEROV, "lr": 0.001, "epochs": 240, "schedule": "multistep", "milestones": [150, 180, 210],
                 "grad_clip": None},
    "alone_train": {**NESTEROV, "lr": 0.001, "epochs": 240, "schedule": "multistep", "milestones": [150, 180, 210]},
    "finetune": {**NESTEROV, "lr": 0.001, "epochs": 10, "schedule": "constant"},
    "levels": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    "seeds": list(range(10)), "alone_seeds": list(range(10)), "sweep_alone": True, "teacher_seed": 0,
    "w1": 0.5, "w2": 0.5,
    "breakpoint_tolerance": 0.01, "margin_points": 0.5, "learn_gap_points": 6.0,
    "fig5_pairs": ["EfficientNet-b3->EfficientNet-b2", "EfficientNet-b1->EfficientNet-b0", "EfficientNet-b3->MobileNet"],
}
SOURCES = {
    "datasets": "Sec. 4", "pairs": "Tables 1-2, Sec. 4.3", "data": "Sec. 4 (held-out validation: ours, decision 7)",
    "teacher_train": "not stated: SimKD's code defaults (reference-implementations.md 2.3)",
    "kd": "Sec. 3.1 (SimKD, projector factor 2 from SimKD's code; T = 4 from Sec. 4, unused by SimKD's feature loss)",
    "kd_train": "Sec. 4 (SGD Nesterov 0.9, lr 0.001, batch 64, wd 5e-4)", "kd_train.epochs": "not stated: SimKD's code",
    "kd_train.milestones": "not stated: SimKD's code", "kd_train.grad_clip": "not stated: none in SimKD's code",
    "alone_train": "ours: the no-KD student for the 'adapts to KD' claim, the KD student's budget exactly",
    "finetune": "Sec. 2.2/4.1: only the last layer is fine-tuned (lr of Sec. 4; epochs not stated)",
    "levels": "Sec. 4.1 (0% to 90% in steps of 10%)", "seeds": "Sec. 4.1 (10 iterations per pair)",
    "alone_seeds": "ours (as seeds)", "sweep_alone": "ours: students alone pruned like the SimKD students (claim 8)",
    "teacher_seed": "ours", "w1": "Sec. 4.2 (w1 = w2 = 0.5)", "w2": "Sec. 4.2",
    "breakpoint_tolerance": "ours: last level before validation accuracy falls > 1 point below the unpruned model's",
    "margin_points": "ours: the paper calls 0.35 points below 'comparable' (Table 1, ResNet101->ResNet18)",
    "learn_gap_points": "ours: the paper's largest teacher-student gap (Table 1, EfficientNet-b3->MobileNet, 6.03)",
    "fig5_pairs": "Fig. 5",
}

# cpu: Fashion-MNIST at 16 px, three small teachers each teaching one student of each family present (ResNet, VGG,
# MobileNet), so family and teacher are not confounded; each pair stands for a pair of the paper.
_CPU = [("cifar_resnet18", 0.25, "cifar_resnet20", 0.5, "ResNet", "ResNet101->ResNet50"),
        ("cifar_resnet18", 0.25, "cifar_vgg16", 0.25, "VGG", "DenseNet161->DenseNet169"),
        ("cifar_vgg11", 0.5, "cifar_resnet8x4", 0.25, "ResNet", "ResNet101->ResNet18"),
        ("cifar_vgg11", 0.5, "cifar_vgg11", 0.25, "VGG", "DenseNet161->DenseNet201"),
        ("cifar_resnet8x4", 0.5, "cifar_resnet32", 0.5, "ResNet", "ResNet152->ResNet34"),
        ("cifar_resnet8x4", 0.5, "cifar_vgg19", 0.25, "VGG", "DenseNet169->MobileNet")]
CPU_PAIRS = {f"{t.removeprefix('cifar_')}x{tw:g}->{s.removeprefix('cifar_')}x{sw:g}": _pair(t, s, fam, pp, tw=tw, sw=sw)
             for t, tw, s, sw, fam, pp in _CPU}
CPU_TRAIN = {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4, "batch_size": 64,
             "lr": 0.05, "epochs": 12, "schedule": "cosine", "milestones": []}
_DRY_PAIRS = ["ResNet101->ResNet18", "DenseNet169->MobileNet", "EfficientNet-b1->EfficientNet-b0"]
OVERRIDES = {
    "cpu": {"datasets": ["fashion_mnist"], "pairs": profiles.Replace(CPU_PAIRS),
            "data": {"val_per_class": 100, "train_per_class": 200, "image_size": 16},
            # students (SimKD and alone, one budget) 60 epochs at lr 0.1: at 30 epochs and lr 0.05 the SimKD students
            # underfit the teacher's features (train acc@1 0.74-0.83) and ended 4-12 points below their teachers
            # (probed on the two worst pairs: 74.0 / 73.0% -> 82.4 / 80.4%, teacher 85.5%). Teachers get the same
            # budget: with 40 epochs at lr 0.05 (85.1-85.7%) every student trained alone beat its teacher (83.7-86.6%)
            "teacher_train": {**CPU_TRAIN, "epochs": 60, "lr": 0.1}, "kd_train": {**CPU_TRAIN, "epochs": 60, "lr": 0.1},
            "alone_train": {**CPU_TRAIN, "epochs": 60, "lr": 0.1},
            "finetune": {"lr": 0.01, "epochs": 5, "batch_size": 128},
            "seeds": [0], "alone_seeds": [0], "fig5_pairs": list(CPU_PAIRS)[:3]},
    "smoke": {"pairs": profiles.Replace({k: CPU_PAIRS[k] for k in list(CPU_PAIRS)[:3]}),
              "data": {"val_per_class": 10, "train_per_class": 10, "test_per_class": 20},
              "teacher_train": {"epochs": 1}, "kd_train": {"epochs": 1}, "alone_train": {"epochs": 1},
              "finetune": {"epochs": 1}, "levels": [0.3, 0.6, 0.9]},
    # the dry run: one pair per family of teachers (ResNet, DenseNet, EfficientNet), one dataset, one level. After two
    # steps a teacher's BatchNorm statistics are still the initial ones, so in eval mode EfficientNet-b1's features
    # reach 1e7 and the SimKD student's loss 1e16: its gradients are clipped (norm 1) so that it stays finite.
    "dryrun": {"datasets": ["cifar100"], "pairs": profiles.Replace({k: PAIRS[k] for k in _DRY_PAIRS}),
               "data": {"test_per_class": 1},
               "kd_train": {"grad_clip": 1.0},
               "levels": [0.5], "seeds": [0], "alone_seeds": [0], "fig5_pairs": _DRY_PAIRS},
}


def config(profile: str, overrides: dict | None = None) -> dict:
    """The profile's config: PAPER, then the profile's OVERRIDES, then a reader's `overrides`."""
    return profiles.derive(PAPER, OVERRIDES, profile, overrides)


def fidelity(cfg: dict | None = None, profile: str | None = None) -> pd.DataFrame:
    """The fidelity table, with the pairs as one row of names (the pair table shows them in full)."""
    view = lambda c: {**c, "pairs": list(c["pairs"])}
    return profiles.fidelity_table(view(PAPER), SOURCES, view(cfg) if cfg else None, profile)


def pair_table(cfg: dict) -> pd.DataFrame:
    """The profile's pairs: teacher, student, family, and the paper's pair each stands for."""
    return pd.DataFrame([{"pair": k, "teacher": f"{v['teacher']['name']} x{v['teacher']['width']:g}",
                          "student": f"{v['student']['name']} x{v['student']['width']:g}", "family": v["family"],
                          "stands for (paper)": v["paper_pair"]} for k, v in cfg["pairs"].items()])


# ---------------------------------------------------------------- run plans
def data(cfg: dict, dataset: str, pair: str) -> specs.Data:
    size = cfg["pairs"][pair].get("image_size")
    return profiles.data(cfg["data"], name=dataset, **({"image_size": size} if size else {}))


def teacher(cfg: dict, dataset: str, pair: str) -> Train:
    """The pair's teacher, trained with cross-entropy (not stated by the paper: SimKD's code)."""
    return Train(model=profiles.model(cfg["pairs"][pair]["teacher"]), data=data(cfg, dataset, pair),
                 optim=profiles.optim(cfg["teacher_train"]), seed=cfg["teacher_seed"])


def student(cfg: dict, dataset: str, pair: str, seed: int) -> Train:
    """Sec. 3.1: the SimKD student (backbone + projector + the teacher's frozen classifier), feature MSE only."""
    k = cfg["kd"]
    kd = KD(teacher(cfg, dataset, pair), k["method"], temperature=k["temperature"], factor=k["factor"])
    return Train(model=profiles.model(cfg["pairs"][pair]["student"]), data=data(cfg, dataset, pair),
                 optim=profiles.optim(cfg["kd_train"]), seed=seed, kd=kd)


def alone(cfg: dict, dataset: str, pair: str, seed: int) -> Train:
    """The same student trained alone (cross-entropy, its own classifier) on the KD student's budget: the no-KD
    control of the 'weight pruning adapts better to KD' claim (same seed: same init, split and data order)."""
    return Train(model=profiles.model(cfg["pairs"][pair]["student"]), data=data(cfg, dataset, pair),
                 optim=profiles.optim(cfg["alone_train"]), seed=seed)


def sweep(cfg: dict, base: Train, part: str) -> dict:
    """Sec. 4.1: `base` pruned inside `part` to each level (weight: global L1 over its Conv/Linear weights;
    channel: lowest-L1 filters removed until that fraction of its parameters is gone), then only the last layer
    fine-tuned. Level 0 is `base` with the SAME fine-tuning (the equal-budget control of every pruned level)."""
    tune = profiles.optim(cfg["finetune"])
    level0 = Train(parent=base, optim=tune, last_layer_only=True)
    out = {(method, 0.0): level0 for method in METHODS}
    for level in cfg["levels"]:
        for method, name in METHODS.items():
            cut = Prune(parent=base, method=name, sparsity=level, part=part, evaluate=False)
            out[(method, level)] = Train(parent=cut, optim=tune, last_layer_only=True)
    return out


def bases(cfg: dict, dataset: str, pair: str) -> list[tuple[str, int, Train]]:
    """The unpruned models of a pair: (role, seed, spec) for the teacher, SimKD students and students alone."""
    out = [("teacher", cfg["teacher_seed"], teacher(cfg, dataset, pair))]
    out += [("student", s, student(cfg, dataset, pair, s)) for s in cfg["seeds"]]
    return out + [("alone", s, alone(cfg, dataset, pair, s)) for s in cfg["alone_seeds"]]


def cells(cfg: dict) -> dict:
    """Every sweep run: {(dataset, pair, role, seed, method, level): spec}."""
    out = {}
    for dataset in cfg["datasets"]:
        for pair in cfg["pairs"]:
            for role, seed, base in bases(cfg, dataset, pair):
                for (method, level), spec in sweep(cfg, base, PART[role]).items():
                    if role != "alone" or cfg["sweep_alone"] or level == 0:  # level 0: the KD-beats-alone check
                        out[(dataset, pair, role, seed, method, level)] = spec
    return out


def trainings(cfg: dict) -> dict:
    """The unpruned trainings: {(dataset, pair, role, seed): spec} (teachers repeat for pairs sharing them)."""
    return {(d, p, role, seed): spec for d in cfg["datasets"] for p in cfg["pairs"]
            for role, seed, spec in bases(cfg, d, p)}


# ---------------------------------------------------------------- tables
PAPER_DATASET = {"cifar100": "cifar100", "cifar10": "cifar10", "fashion_mnist": "cifar100"}  # what ours stands for
ITEMS = {"cifar100": {"table": "table1", "curves": "fig2", "efficiency": "fig3"},
         "cifar10": {"table": "table2", "curves": "fig1", "efficiency": "fig4"}}


def _head_params(run_id: str, model: dict, dataset: str) -> int:
    """Parameters of the classifier of a student trained alone (channel pruning may shrink its inputs)."""
    from .. import data as kdata
    info = kdata.info(dataset)
    layer = models.classifier_layers(models.build(model["name"], info.num_classes, info.in_channels, model["width"]))[0]
    shape = runs.runs_root() / "cache" / run_id / "shape.json"
    inputs = [v for v in json.loads(shape.read_text()).values() if "in_features" in v][-1]["in_features"] \
        if shape.exists() else layer.in_features
    return layer.out_features * inputs + (layer.bias.numel() if layer.bias is not None else 0)


def sweep_table(runner, cfg: dict, all_cells: dict | None = None) -> pd.DataFrame:
    """Every sweep run with `params`, the nonzero parameters of the network as the paper counts it (teacher: all
    of it; student: the student network alone, decision 12), and `params_deployable` (the whole model run)."""
    df = runner.results(all_cells or cells(cfg), ["dataset", "pair", "role", "seed", "method", "level"])
    df["family"] = df.pair.map({p: v["family"] for p, v in cfg["pairs"].items()})
    df["params_deployable"] = df.params_nonzero
    df["params"] = df.params_nonzero.astype(float)
    sim = df.role == "student"
    df.loc[sim, "params"] = df.loc[sim, "params_student_nonzero"]
    for i in df.index[df.role == "alone"]:
        r = df.loc[i]
        df.loc[i, "params"] = r.params_nonzero - _head_params(r.run, cfg["pairs"][r.pair]["student"], r.dataset)
    return df


BP_KEYS = ["dataset", "pair", "role", "seed", "method"]


def breakpoints(sweep_df: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Per curve (dataset, pair, role, seed, method): the breakpoint chosen on VALIDATION accuracy
    (metrics.breakpoint_index), with test accuracy, parameters and efficiency (eq. 2) there and at level 0."""
    eff = lambda acc, params: float(metrics.performance_efficiency(acc, params, cfg["w1"], cfg["w2"]))
    rows = []
    for key, curve in sweep_df.sort_values("level").groupby(BP_KEYS):
        i = metrics.breakpoint_index(curve.val_top1.tolist(), cfg["breakpoint_tolerance"])
        at, dense = curve.iloc[i], curve.iloc[0]
        rows.append({**dict(zip(BP_KEYS, key)), "family": at.family, "level": at.level,
                     "acc_before": dense.test_top1, "params_before": dense.params, "acc_breakpoint": at.test_top1,
                     "params_breakpoint": at.params, "deployable_breakpoint": at.params_deployable,
                     "efficiency_before": eff(dense.test_top1, dense.params),
                     "efficiency": eff(at.test_top1, at.params)})
    return pd.DataFrame(rows)


def per_pair(bp: pd.DataFrame) -> pd.DataFrame:
    """Seeds averaged per (dataset, pair, role, method): the unit of every cross-architecture claim. Accuracy and
    efficiency arithmetic means, parameters geometric means; `min_level` is the lowest breakpoint over seeds."""
    geo = lambda s: float(np.exp(np.log(s).mean()))
    return bp.groupby(["dataset", "pair", "family", "role", "method"], sort=False).agg(
        acc_before=("acc_before", "mean"), acc_breakpoint=("acc_breakpoint", "mean"),
        params_before=("params_before", geo), params_breakpoint=("params_breakpoint", geo),
        efficiency_before=("efficiency_before", "mean"), efficiency=("efficiency", "mean"),
        level=("level", "mean"), min_level=("level", "min"), seeds=("seed", "count")).reset_index()


def training_table(runner, cfg: dict) -> pd.DataFrame:
    """The unpruned trainings: test/validation accuracy, epochs, seconds per step and whether validation accuracy
    had levelled off (metrics.plateaued): the 'teacher trained to a plateau' check."""
    rows = []
    for (dataset, pair, role, seed), spec in trainings(cfg).items():
        run = runner.run(spec)
        flat, why = metrics.plateaued(run.history())
        rows.append({"dataset": dataset, "pair": pair, "role": role, "seed": seed, "test_top1": run.metrics["test_top1"],
                     "val_top1": run.metrics["val_top1"], "epochs": run.metrics["epochs_run"], "plateaued": flat,
                     "plateau_check": why, "seconds_per_step": run.metrics.get("seconds_per_step"),
                     "peak_rss_mib": run.meta.get("peak_rss_mib")})
    return pd.DataFrame(rows)


def layer_removal(runner, all_cells: dict, bp: pd.DataFrame, dataset: str, pair: str, seed: int) -> pd.DataFrame:
    """Fig. 5: per layer of the student network, the fraction of weights removed at the weight and the channel
    breakpoint of one SimKD student."""
    levels = bp.set_index(BP_KEYS).level
    dense = runner.load(all_cells[(dataset, pair, "student", seed, "weight", 0.0)])
    frames = []
    for method in METHODS:
        level = levels[(dataset, pair, "student", seed, method)]
        pruned = runner.load(all_cells[(dataset, pair, "student", seed, method, level)])
        layers = pd.DataFrame(prune.removed_fraction_per_layer(dense, pruned))
        layers = layers[layers.layer.str.startswith(PART["student"] + ".")]
        frames.append(layers.assign(method=method, level=level, pair=pair))
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------- cost
def cost(cfg: dict, images: int = 45_000) -> dict:
    """GPU-hours per dataset: teachers (each once), SimKD students (+ the teacher's forward pass), students alone,
    and the sweeps ((2 methods x levels + 1) models per unpruned model, ~one forward pass over train+val+test)."""
    seeds, alone_ = len(cfg["seeds"]), len(cfg["alone_seeds"])
    points = 2 * len(cfg["levels"]) + 1
    size = cfg["data"].get("image_size") or 32
    macs = lambda m: metrics.forward_macs(m["name"], 100, size, m["width"])
    total, done = 0.0, set()
    for pair in cfg["pairs"].values():
        t, s = macs(pair["teacher"]), macs(pair["student"])
        if (key := json.dumps(pair["teacher"], sort_keys=True)) not in done:
            done.add(key)
            total += metrics.gpu_hours(t, images, cfg["teacher_train"]["epochs"])
            total += points * metrics.gpu_hours(t / 3, images + 15_000, 1)
        total += seeds * metrics.gpu_hours(s + t / 3, images, cfg["kd_train"]["epochs"])
        total += alone_ * metrics.gpu_hours(s, images, cfg["alone_train"]["epochs"])
        models_ = points * seeds + (points * alone_ if cfg["sweep_alone"] else alone_)
        total += models_ * metrics.gpu_hours(max(t, s) / 3, images + 15_000, 1)
    return {f"{len(cfg['pairs'])} pairs x {len(cfg['datasets'])} datasets": len(cfg["datasets"]) * total}


# ---------------------------------------------------------------- coverage
_ONE_DATASET = "one dataset at this profile: Fashion-MNIST stands for CIFAR-100 (Table 1, Figs. 2 and 3)"
_DRY_ONE = ("the dry run runs CIFAR-100 only: CIFAR-10 goes through the same code with the dataset's name and class "
            "count changed (the paper profile runs both)")
_CIFAR10 = {"cpu": _ONE_DATASET, "smoke": _ONE_DATASET, "dryrun": _DRY_ONE}
COVERAGE = [
    report.Item("Fig. 1", "CIFAR-10: accuracy vs remaining parameters, teacher and student, weight / channel",
                ("fig1",), not_at=_CIFAR10),
    report.Item("Fig. 2", "CIFAR-100: accuracy vs remaining parameters, teacher and student, weight / channel",
                ("fig2",)),
    report.Item("Table 1", "CIFAR-100: accuracy and parameters before pruning and at the breakpoint", ("table1",)),
    report.Item("Table 2", "CIFAR-10: accuracy and parameters before pruning and at the breakpoint", ("table2",),
                not_at=_CIFAR10),
    report.Item("Fig. 3", "CIFAR-100: performance efficiency, distilled vs weight- vs channel-pruned", ("fig3",)),
    report.Item("Fig. 4", "CIFAR-10: performance efficiency, distilled vs weight- vs channel-pruned", ("fig4",),
                not_at=_CIFAR10),
    report.Item("Fig. 5", "fraction of weights removed per layer at the breakpoints, three students", ("fig5",)),
    report.Item("Fig. 6", "paired t-test of efficiency, weight vs channel pruning, per dataset", ("fig6",)),
    report.Item("Table 3", "student parameters at the breakpoint per teacher (ours: KD + weight / channel pruning; "
                "the seven other methods' numbers were lost in the extraction)", ("table3",)),
]
