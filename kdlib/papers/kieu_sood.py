"""Kieu & Sood, "Optimizing Deep Learning Model Efficiency Through Comparative Analysis of Compression
Techniques" (ResNet-50 on Birds-525): fine-tuning strategies, int8 PTQ, KD into SqueezeNet, iterative pruning.
"""
from __future__ import annotations

import numpy as np

from .. import metrics, profiles, prune, report
from ..runner import machine_identity
from ..specs import KD, Int8, Prune, Train

ID = "kieu_sood"
TITLE = "Kieu & Sood: KD, quantization and pruning of ResNet-50 on Birds-525"
NOTEBOOK = "kieu_sood_birds525_compression.ipynb"
CITATION = "Kieu, Sood: Optimizing Deep Learning Model Efficiency Through Comparative Analysis of Compression Techniques"

SGD = {"optimizer": "sgd", "momentum": 0.9, "schedule": "cosine", "batch_size": 64}
PAPER = {
    "data": {"name": "birds525", "classes": None, "train_per_class": None, "test_per_class": None},   # Sec. III-A
    "source": None,                                                  # ImageNet weights from torchvision (Sec. III-B)
    "baseline": {"name": "resnet50", "width": 1.0},                  # ResNet-50 with a 525-way head
    "finetune": {**SGD, "epochs": 10, "lr": 0.01, "weight_decay": 1e-4},  # not stated
    "students": {"SqueezeNet": {"name": "squeezenet1_0", "width": 1.0}, "StudentNet": {"name": "studentnet", "width": 1.0}},
    "kd_train": {**SGD, "epochs": 30, "lr": 0.01, "weight_decay": 5e-4, "grad_clip": None},  # 30 epochs: Sec. III-D
    "kd": {"temperature": 4.0, "alpha": 0.9},                         # not stated
    "prune": {"iterations": 4, "rate": 0.2, "scopes": ["layer", "global"], "finetune": {**SGD, "epochs": 2, "lr": 0.001},
              "regularisers": {"L1": {"l1": 1e-5, "weight_decay": 0.0}, "L2": {"weight_decay": 1e-4}}},  # Sec. III-E, Table III
    "quant": {"calibration_batches": 10, "latency_batch": 1},       # calibration on a training subset (Sec. III-C)
    "seeds": [0],                                                    # single runs in the paper
}
SMALL = {"epochs": 6, "lr": 0.05}
# kd_train.grad_clip: without clipping, distilled SqueezeNets died here (ReLU head all zero: chance accuracy)
OVERRIDES = {
    "cpu": {"data": {"name": "fashion_mnist", "classes": [5, 6, 7, 8, 9], "train_per_class": 400, "test_per_class": 400},
            "source": {"name": "fashion_mnist", "classes": [0, 1, 2, 3, 4], "train_per_class": 400, "test_per_class": 100},
            "baseline": {"name": "dg2pf_resnet18", "width": 0.375}, "finetune": SMALL,
            "kd_train": {**SMALL, "epochs": 10, "lr": 0.01, "grad_clip": 5.0}, "quant": {"latency_batch": 64},
            "prune": {"regularisers": profiles.Replace({"L2": {"weight_decay": 1e-4}}), "finetune": {"epochs": 2, "lr": 0.005}},
            "seeds": [0, 1, 2]},
    "smoke": {"data": {"train_per_class": 12, "test_per_class": 10}, "source": {"train_per_class": 12, "test_per_class": 4},
              "finetune": {"epochs": 1}, "kd_train": {"epochs": 1}, "prune": {"iterations": 2, "finetune": {"epochs": 1}},
              "quant": {"calibration_batches": 1}, "seeds": [0]},
}
SOURCES = {"data": "Sec. III-A", "baseline": "Sec. III-B", "students": "Sec. III-D, Table II", "kd_train.epochs": "Sec. III-D",
           "prune.iterations": "Table III (4 iterations after the baseline row)", "prune.scopes": "Sec. III-E",
           "prune.regularisers": "Sec. III-E (L1 or L2; strengths not stated)", "quant": "Sec. III-C", "source": "Sec. III-B",
           "seeds": "single runs (Tables I-III)"}


def config(profile: str, overrides: dict | None = None) -> dict:
    return profiles.derive(PAPER, OVERRIDES, profile, overrides)


# ---------------------------------------------------------------- run plans
def source(cfg: dict) -> Train | None:
    """The stand-in for ImageNet pre-training (cpu/smoke): the baseline trained on the source classes."""
    if cfg["source"] is None:
        return None
    return Train(model=profiles.model(cfg["baseline"]), data=profiles.data(cfg["source"]),
                 optim=profiles.optim(cfg["finetune"]), seed=0)


STRATEGIES = ("head_only", "all_layers", "scratch")


def baseline(cfg: dict, strategy: str, seed: int) -> Train:
    """Sec. III-B's three strategies: 'head_only' (pretrained, only the new head trained), 'all_layers'
    (pretrained, everything trained) and 'scratch' (random init)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    data, optim = profiles.data(cfg["data"]), profiles.optim(cfg["finetune"])
    head_only = strategy == "head_only"
    if strategy == "scratch":
        return Train(model=profiles.model({**cfg["baseline"], "pretrained": False}), data=data, optim=optim, seed=seed)
    if cfg["source"] is None:  # paper: torchvision's ImageNet weights, a new 525-way head
        return Train(model=profiles.model({**cfg["baseline"], "pretrained": True}), data=data, optim=optim, seed=seed,
                     last_layer_only=head_only)
    return Train(parent=source(cfg), data=data, reset_head=True, optim=optim, seed=seed, last_layer_only=head_only)


def int8(cfg: dict, seed: int) -> Int8:
    """The int8 PTQ comparison of the all-layers fine-tuned baseline, measured (and cached) on this machine."""
    return Int8(parent=baseline(cfg, "all_layers", seed), machine=machine_identity(), **cfg["quant"])


def student(cfg: dict, name: str, seed: int, distilled: bool) -> Train:
    """SqueezeNet (or StudentNet) from random init, alone or distilled from the all-layers baseline (seed 0)."""
    kd = KD(baseline(cfg, "all_layers", 0), "hinton", **cfg["kd"]) if distilled else None
    return Train(model=profiles.model(cfg["students"][name]), data=profiles.data(cfg["data"]),
                 optim=profiles.optim(cfg["kd_train"]), seed=seed, kd=kd)


def pruning(cfg: dict, scope: str, regulariser: str, seed: int) -> list[Train]:
    """Table III: from the all-layers baseline, iterations of L1 pruning (20% of the remaining weights,
    `scope` = 'layer' or 'global') each followed by fine-tuning with L1 or L2 regularisation."""
    run, chain = baseline(cfg, "all_layers", seed), []
    tune = profiles.optim({**cfg["prune"]["finetune"], **cfg["prune"]["regularisers"][regulariser]})
    for target in prune.geometric_targets(cfg["prune"]["rate"], cfg["prune"]["iterations"]):
        cut = Prune(parent=run, method="l1_unstructured", sparsity=round(target, 6), scope=scope, evaluate=False)
        run = Train(parent=cut, optim=tune)
        chain.append(run)
    return chain


# ---------------------------------------------------------------- cost
def cost(cfg: dict) -> dict:
    r50, sq, n = metrics.forward_macs("resnet50", 525, 224), metrics.forward_macs("squeezenet1_0", 525, 224), 84_635
    return {"3 baselines": 3 * metrics.gpu_hours(r50, n, cfg["finetune"]["epochs"]),
            "KD students": 2 * metrics.gpu_hours(sq, n, cfg["kd_train"]["epochs"])
            + metrics.gpu_hours(r50 / 3, n, cfg["kd_train"]["epochs"]),
            "pruning": 16 * metrics.gpu_hours(r50, n, cfg["prune"]["finetune"]["epochs"])}


# ---------------------------------------------------------------- claims
def _paired(df, cond_a, cond_b, by):
    a = df[df[by] == cond_a].set_index("seed").test_top1
    b = df[df[by] == cond_b].set_index("seed").test_top1
    a, b = a.align(b, join="inner")
    return list(a), list(b)


def claims(baselines, table1, students, pruning_runs, cfg: dict) -> list[dict]:
    """Kieu & Sood's four claims with verdicts from our runs (paired over seeds)."""
    by_model = table1.pivot(index="seed", columns="model")
    fp32, int8_ = by_model["test_top1"]["fp32 eager"], by_model["test_top1"]["int8 PT2E inductor"]
    rows = [report.noninferiority("1a. int8 PTQ keeps accuracy within a fraction of a point",
                                  "Table I: 98.63% -> 98.43%", metrics.paired_difference(int8_, fp32), margin=0.005)]
    t_fp32, t_int8 = by_model["median_ms"]["fp32 inductor"], by_model["median_ms"]["int8 PT2E inductor"]
    speed = metrics.paired_difference(np.log(t_fp32), np.log(t_int8))
    row = report.claim("1b. int8 PTQ cuts inference time (vs fp32, both compiled by Inductor)",
                       "Table I: 0.167 s -> 0.069 s (2.4x; batch and CPU not stated)", speed, unit="log-ratio", scale=1.0)
    eager = np.exp(np.log(by_model["median_ms"]["fp32 eager"] / t_int8).mean())
    row["ours"] = f"{np.exp(speed['mean']):.2f}x faster ({eager:.2f}x vs fp32 eager), batch {int(by_model['batch'].iloc[0, 0])}; " + row["ours"]
    rows.append(row)
    a, b = _paired(students.assign(k=students.distilled.astype(str)), "True", "False", "k")
    rows.append(report.claim("2. KD lifts SqueezeNet well above the same network trained alone",
                             "Sec. III-D: ~60-70% -> 84%", metrics.paired_difference(a, b)))
    last = pruning_runs.iteration.max()
    final = pruning_runs[pruning_runs.iteration == last].set_index(["scope", "regulariser", "seed"]).val_top1
    start = pruning_runs[pruning_runs.iteration == 0].set_index(["scope", "regulariser", "seed"]).val_top1
    final, start = final.align(start, join="inner")
    sparsity = pruning_runs[pruning_runs.iteration == last].global_sparsity.mean()
    rows.append(report.noninferiority(f"3. Iterative pruning + fine-tuning reaches ~58% global sparsity at or above the "
                                      f"baseline's accuracy (ours: {sparsity:.1f}% after {last} iterations)",
                                      "Table III: 57.78%, 99.04% vs 97.83%", metrics.paired_difference(final, start),
                                      margin=0.005))
    all_layers = baselines.set_index(["strategy", "seed"]).test_top1
    a4 = [all_layers[("all_layers", s)] for other in ("head_only", "scratch") for s in cfg["seeds"]]
    b4 = [all_layers[(other, s)] for other in ("head_only", "scratch") for s in cfg["seeds"]]
    rows.append(report.claim("4. Fine-tuning all layers from pretrained weights beats head-only and from-scratch",
                             "Sec. III-B: all layers best (~98%); others not reported",
                             metrics.paired_difference(a4, b4)))
    return rows
