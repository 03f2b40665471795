"""Malihi & Heidemann 2024 (Big Data Cogn. Comput.): distil with SimKD, then prune the student by L1 weight or
L1 channel pruning, fine-tuning the last layer; breakpoints and "performance efficiency" (eq. 2)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import metrics, profiles, prune, report, specs
from ..specs import KD, Prune, Train

ID = "malihi2024"
TITLE = "Malihi & Heidemann 2024: KD then weight vs channel pruning"
NOTEBOOK = "malihi2024_kd_weight_vs_channel.ipynb"
CITATION = "Malihi, L., Heidemann, G.: Efficient and Controllable Model Compression through Sequential Knowledge " \
           "Distillation and Pruning. Big Data Cogn. Comput. 2024"

NESTEROV = {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4, "schedule": "multistep", "batch_size": 64}
PAIRS = {f"{t}->{s}": {"teacher": {"name": t, "width": 1.0}, "student": {"name": s, "width": 1.0}, "image_size": None}
         for t, s in [("resnet101", "resnet50"), ("resnet152", "resnet34"), ("resnet101", "resnet18"), ("densenet169", "mobilenet_v1"),
                      ("densenet161", "densenet169"), ("densenet161", "densenet201"), ("efficientnet_b1", "efficientnet_b0"),
                      ("efficientnet_b3", "efficientnet_b2"), ("efficientnet_b3", "mobilenet_v1"), ("efficientnet_b5", "efficientnet_b4")]}
PAPER = {
    "datasets": ["cifar100", "cifar10"], "pairs": PAIRS,                          # Sec. 4, Tables 1-2
    "data": {"name": "cifar100", "val_fraction": 0.1, "train_per_class": None, "test_per_class": None},
    "teacher_train": {**NESTEROV, "nesterov": False, "lr": 0.05, "epochs": 240, "milestones": [150, 180, 210],
                      "gamma": 0.1},                                            # not stated: SimKD defaults
    "kd_train": {**NESTEROV, "lr": 0.001, "epochs": 240, "milestones": [150, 180, 210]},  # Sec. 4 (epochs: SimKD default)
    "simkd_factor": 2, "teacher_seed": 0, "levels": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],  # Sec. 4.1
    "finetune": {**NESTEROV, "lr": 0.001, "epochs": 10, "schedule": "constant"},   # last layer only (Sec. 2); epochs not stated
    "seeds": list(range(10)), "tolerance": 0.01, "w1": 0.5, "w2": 0.5,              # 10 repetitions; efficiency weights (Sec. 4.2)
}
CPU_PAIRS = {"resnet8x4->resnet20": {"teacher": {"name": "cifar_resnet8x4", "width": 0.5}, "student": {"name": "cifar_resnet20", "width": 0.5}},
             "vgg11->mobilenet_v1": {"teacher": {"name": "cifar_vgg11", "width": 0.5}, "student": {"name": "cifar_mobilenet_v1", "width": 0.25}},
             "vgg11->vgg11(narrow)": {"teacher": {"name": "cifar_vgg11", "width": 0.5}, "student": {"name": "cifar_vgg11", "width": 0.25}}}
FAST = {"epochs": 8, "lr": 0.05, "milestones": [], "schedule": "cosine", "batch_size": 128}
OVERRIDES = {
    "cpu": {"datasets": ["fashion_mnist"], "pairs": profiles.Replace(CPU_PAIRS), "data": {"train_per_class": 300, "test_per_class": 200},
            "teacher_train": FAST, "kd_train": FAST, "finetune": {"lr": 0.01, "epochs": 5, "batch_size": 128}, "seeds": [0, 1, 2]},
    "smoke": {"data": {"train_per_class": 10, "test_per_class": 10}, "teacher_train": {"epochs": 1}, "kd_train": {"epochs": 1},
              "finetune": {"epochs": 1}, "levels": [0.3, 0.6, 0.9], "seeds": [0]},
}
SOURCES = {"datasets": "Sec. 4", "pairs": "Tables 1-2", "data": "Sec. 4 (10% validation: ours)", "teacher_train": "not stated (SimKD code)",
           "kd_train": "Sec. 4", "kd_train.epochs": "not stated (SimKD code)", "simkd_factor": "SimKD code", "kd_train.batch_size": "Sec. 4",
           "levels": "Sec. 4.1", "finetune": "Sec. 2 (last layer only)", "seeds": "Sec. 4.1 (10 iterations)",
           "tolerance": "ours: breakpoint rule (kdlib.metrics.breakpoint_index)", "w1": "Sec. 4.2", "w2": "Sec. 4.2", "teacher_seed": "ours"}


def config(profile: str, overrides: dict | None = None) -> dict:
    return profiles.derive(PAPER, OVERRIDES, profile, overrides)


# ---------------------------------------------------------------- run plans
def data(cfg: dict, dataset: str, pair: str) -> specs.Data:
    size = cfg["pairs"][pair].get("image_size")
    return profiles.data(cfg["data"], name=dataset, **({"image_size": size} if size else {}))


def teacher(cfg: dict, dataset: str, pair: str) -> Train:
    return Train(model=profiles.model(cfg["pairs"][pair]["teacher"]), data=data(cfg, dataset, pair),
                 optim=profiles.optim(cfg["teacher_train"]), seed=cfg["teacher_seed"])


def student(cfg: dict, dataset: str, pair: str, seed: int) -> Train:
    """The SimKD student of a pair: backbone + projector + the teacher's frozen classifier, feature MSE only."""
    kd = KD(teacher(cfg, dataset, pair), "simkd", factor=cfg["simkd_factor"])
    return Train(model=profiles.model(cfg["pairs"][pair]["student"]), data=data(cfg, dataset, pair),
                 optim=profiles.optim(cfg["kd_train"]), seed=seed, kd=kd)


def sweep(cfg: dict, base: Train) -> dict:
    """Sec. 4.1: prune `base` to each level (weight: global L1 over all Conv/Linear weights; channel: L1 filters
    removed until that fraction of the parameters is gone), then fine-tune only the last layer."""
    out = {("weight", 0.0): base, ("channel", 0.0): base}
    tune = profiles.optim(cfg["finetune"])
    for level in cfg["levels"]:
        for method, name in (("weight", "l1_unstructured"), ("channel", "channel_l1")):
            cut = Prune(parent=base, method=name, sparsity=level, evaluate=False)
            out[(method, level)] = Train(parent=cut, optim=tune, last_layer_only=True)
    return out


def cells(cfg: dict) -> dict:
    """Every sweep run: {(dataset, pair, role, seed, method, level): spec}; role is 'teacher' or 'student'."""
    out = {}
    for dataset in cfg["datasets"]:
        for pair in cfg["pairs"]:
            bases = [("teacher", cfg["teacher_seed"], teacher(cfg, dataset, pair))]
            bases += [("student", s, student(cfg, dataset, pair, s)) for s in cfg["seeds"]]
            for role, seed, base in bases:
                for (method, level), c in sweep(cfg, base).items():
                    out[(dataset, pair, role, seed, method, level)] = c
    return out


def breakpoints(sweep_df: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """Per curve (dataset, pair, role, seed, method): the breakpoint level chosen on validation accuracy
    (metrics.breakpoint_index), with test accuracy and remaining nonzero parameters there and before pruning."""
    rows = []
    for key, curve in sweep_df.sort_values("level").groupby(["dataset", "pair", "role", "seed", "method"]):
        i = metrics.breakpoint_index(curve.val_top1.tolist(), tolerance)
        at, dense = curve.iloc[i], curve.iloc[0]
        rows.append({**dict(zip(["dataset", "pair", "role", "seed", "method"], key)), "level": at.level,
                     "acc_before": dense.test_top1, "params_before": dense.params_nonzero,
                     "acc_breakpoint": at.test_top1, "params_breakpoint": at.params_nonzero,
                     "efficiency": float(metrics.performance_efficiency(at.test_top1, at.params_nonzero))})
    return pd.DataFrame(rows)


def layer_removal(runner, all_cells: dict, bp: pd.DataFrame, dataset: str, pair: str, seed: int) -> pd.DataFrame:
    """Fig. 5: per-layer fraction of removed weights of one student at its weight and channel breakpoints."""
    levels = bp.set_index(["dataset", "pair", "role", "seed", "method"]).level
    dense = runner.load(all_cells[(dataset, pair, "student", seed, "weight", 0.0)])
    frames = []
    for method in ("weight", "channel"):
        level = levels[(dataset, pair, "student", seed, method)]
        pruned = runner.load(all_cells[(dataset, pair, "student", seed, method, level)])
        frames.append(pd.DataFrame(prune.removed_fraction_per_layer(dense, pruned)).assign(method=method, level=level))
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------- cost
def cost(cfg: dict, images: int = 45_000) -> dict:
    """GPU-hours per dataset: teacher, SimKD students (+ teacher forward), and the sweeps (2 methods x 9 levels x
    (1 + seeds) models, ~one forward pass each on train + test)."""
    seeds, epochs = len(cfg["seeds"]), cfg["kd_train"]["epochs"]
    total = 0.0
    for pair in cfg["pairs"].values():
        t = metrics.forward_macs(pair["teacher"]["name"], 100, 32)
        s = metrics.forward_macs(pair["student"]["name"], 100, 32)
        total += (metrics.gpu_hours(t, images, cfg["teacher_train"]["epochs"]) + seeds * metrics.gpu_hours(s + t / 3, images, epochs)
                  + 18 * (1 + seeds) * metrics.gpu_hours(max(t, s) / 3, images + 10_000, 1))
    return {f"{len(cfg['pairs'])} pairs x {len(cfg['datasets'])} datasets": len(cfg["datasets"]) * total}


# ---------------------------------------------------------------- claims
def claims(bp: pd.DataFrame, cfg: dict) -> list[dict]:
    """Malihi & Heidemann's four claims, paired over students (pair x seed) within each dataset."""
    students_ = bp[bp.role == "student"].set_index(["dataset", "pair", "seed", "method"])
    w = students_.xs("weight", level="method")
    c = students_.xs("channel", level="method")
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
