"""Kieu & Sood, "Optimizing Deep Learning Model Efficiency Through Comparative Analysis of Compression
Techniques" (ResNet-50 on Birds-525): fine-tuning strategies (Sec. III-B), int8 PTQ (Sec. III-C, Table I), KD into
SqueezeNet (Sec. III-D, Figs. 3-4, Table II) and iterative pruning with fine-tuning (Sec. III-E, Table III).

Config and run plans; the claims are in kieu_sood_claims.py, the paper's figures in kieu_sood_plots.py.
"""
from __future__ import annotations

import pandas as pd

from .. import metrics, profiles, prune
from ..report import Item
from ..runner import Runner, machine_identity
from ..specs import KD, Int8, Prune, Train

ID = "kieu_sood"
TITLE = "Kieu & Sood: KD, quantization and pruning of ResNet-50 on Birds-525"
NOTEBOOK = "kieu_sood_birds525_compression.ipynb"
CITATION = "Kieu, Sood: Optimizing Deep Learning Model Efficiency Through Comparative Analysis of Compression Techniques"

SGD = {"optimizer": "sgd", "momentum": 0.9, "schedule": "cosine", "batch_size": 64}
PAPER = {
    "data": {"name": "birds525", "classes": None, "train_per_class": None, "val_per_class": None, "test_per_class": None,
             "image_size": None},                                    # Sec. III-A: its own train/valid/test split
    "source": None,                                                  # ImageNet weights from torchvision (Sec. III-B)
    "pretrain": None,                                                # (torchvision's ImageNet training)
    "baseline": {"name": "resnet50", "width": 1.0},                  # ResNet-50 with a 525-way head
    "finetune": {**SGD, "epochs": 10, "lr": 0.01, "weight_decay": 1e-4},  # not stated
    "students": {"SqueezeNet": {"name": "squeezenet1_0", "width": 1.0}, "StudentNet": {"name": "studentnet", "width": 1.0}},
    "kd_train": {**SGD, "epochs": 30, "lr": 0.01, "weight_decay": 5e-4, "grad_clip": None},  # 30 epochs: Sec. III-D
    "kd": {"temperature": 4.0, "alpha": 0.9},                         # not stated
    "prune": {"iterations": 4, "rate": 0.2, "finetune": {**SGD, "epochs": 2, "lr": 0.001},
              "regularisers": {"L1": {"l1": 1e-5, "weight_decay": 0.0}, "L2": {"weight_decay": 1e-4}},
              "chains": [["layer", "L1"], ["layer", "L2"], ["global", "L1"], ["global", "L2"]],
              "primary": ["global", "L2"]},                          # Sec. III-E, Table III
    "quant": {"calibration_batches": 10, "latency_batch": 1},       # calibration on a training subset (Sec. III-C)
    "seeds": [0, 1, 2],                                              # single runs in the paper; 3 for any interval
}
FMNIST = {"name": "fashion_mnist", "val_per_class": 200, "test_per_class": None}
# cpu: Birds-525 has 84,635 / 525 = 161 training images per class, so the target task gets 160 per class; the
# ImageNet stand-in (the other five classes) gets 1,000 per class. KD at temperature 1: at 2 and 4 (and at lr >= 0.01,
# or without grad_clip) distilled SqueezeNets often lost a class for good (its ReLU logit 0 on every input).
OVERRIDES = {
    "cpu": {"data": {**FMNIST, "classes": [5, 6, 7, 8, 9], "train_per_class": 160},
            "source": {**FMNIST, "classes": [0, 1, 2, 3, 4], "train_per_class": 1000, "val_per_class": 100,
                       "test_per_class": 100},
            "pretrain": {**SGD, "epochs": 10, "lr": 0.05, "weight_decay": 5e-4},
            "baseline": {"name": "dg2pf_resnet18", "width": 0.375}, "finetune": {"epochs": 20, "lr": 0.05},
            "kd_train": {"lr": 0.005, "grad_clip": 5.0}, "kd": {"temperature": 1.0}, "quant": {"latency_batch": 64},
            "prune": {"chains": [["global", "L2"]], "finetune": {"epochs": 2, "lr": 0.005}},
            "seeds": [0, 1, 2]},
    "smoke": {"data": {"train_per_class": 12, "val_per_class": 4, "test_per_class": 10},
              "source": {"train_per_class": 12, "val_per_class": 4, "test_per_class": 4},
              "pretrain": {"epochs": 1}, "finetune": {"epochs": 1}, "kd_train": {"epochs": 1},
              "prune": {"iterations": 2, "finetune": {"epochs": 1}},
              "quant": {"calibration_batches": 1}, "seeds": [0]},
    # the dry run: one seed, two pruning iterations (the second prunes an already masked model), two of the four
    # scope x regulariser chains (each scope and each regulariser once); batches of 8 (a 224 px ResNet-50 step on
    # 42 images took 15 s on 2 cores)
    "dryrun": {"seeds": [0], "finetune": {"batch_size": 8}, "kd_train": {"batch_size": 8},
               "prune": {"iterations": 2, "chains": [["global", "L2"], ["layer", "L1"]], "finetune": {"batch_size": 8}}},
}
SOURCES = {"data": "Sec. III-A", "baseline": "Sec. III-B", "students": "Sec. III-D, Table II", "kd_train.epochs": "Sec. III-D",
           "prune.iterations": "Table III: 4 iterations after the baseline row (the text says five; decision 14)",
           "prune.chains": "Sec. III-E (layer-wise or global; L1 or L2)", "prune.regularisers": "Sec. III-E (L1 or L2; strengths not stated)",
           "prune.primary": "not stated which chain Table III shows; fixed before running",
           "quant": "Sec. III-C", "source": "Sec. III-B", "seeds": "single runs in the paper (Tables I-III)"}


def config(profile: str, overrides: dict | None = None) -> dict:
    """The profile's config: PAPER, then the profile's OVERRIDES, then the caller's (kdlib.profiles.derive)."""
    return profiles.derive(PAPER, OVERRIDES, profile, overrides)


# ---------------------------------------------------------------- run plans
def source(cfg: dict) -> Train | None:
    """The stand-in for ImageNet pre-training (cpu/smoke): the baseline trained on the source classes."""
    if cfg["source"] is None:
        return None
    return Train(model=profiles.model(cfg["baseline"]), data=profiles.data(cfg["source"]),
                 optim=profiles.optim(cfg["pretrain"]), seed=0)


STRATEGIES = ("head_only", "all_layers", "scratch")


def baseline(cfg: dict, strategy: str, seed: int) -> Train:
    """Sec. III-B's three strategies: 'head_only' (pretrained, only the new head trained), 'all_layers'
    (pretrained, everything trained) and 'scratch' (random init); the same epochs for all three."""
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
    """Table I for one seed: the all-layers baseline in fp32 and int8 PTQ, measured (and cached) on this machine."""
    return Int8(parent=baseline(cfg, "all_layers", seed), machine=machine_identity(), **cfg["quant"])


def student(cfg: dict, name: str, seed: int, distilled: bool) -> Train:
    """SqueezeNet (or StudentNet) from random init, alone or distilled (Sec. III-D) from the same seed's
    all-layers baseline: each seed is its own teacher-student pair."""
    kd = KD(baseline(cfg, "all_layers", seed), "hinton", **cfg["kd"]) if distilled else None
    return Train(model=profiles.model(cfg["students"][name]), data=profiles.data(cfg["data"]),
                 optim=profiles.optim(cfg["kd_train"]), seed=seed, kd=kd)


def _tune(cfg: dict, regulariser: str):
    return profiles.optim({**cfg["prune"]["finetune"], **cfg["prune"]["regularisers"][regulariser]})


def pruning(cfg: dict, scope: str, regulariser: str, seed: int) -> list[Train]:
    """Table III: from the all-layers baseline, iterations of L1 pruning (20% of the remaining weights,
    `scope` = 'layer' or 'global') each followed by fine-tuning with L1 or L2 regularisation."""
    run, chain, tune = baseline(cfg, "all_layers", seed), [], _tune(cfg, regulariser)
    for target in prune.geometric_targets(cfg["prune"]["rate"], cfg["prune"]["iterations"]):
        cut = Prune(parent=run, method="l1_unstructured", sparsity=round(target, 6), scope=scope, evaluate=False)
        run = Train(parent=cut, optim=tune)
        chain.append(run)
    return chain


def unpruned(cfg: dict, regulariser: str, seed: int) -> list[Train]:
    """The equal-budget control of Table III: the same chain of fine-tunes (epochs, optimiser, schedule restarts,
    regulariser) from the same baseline, without pruning."""
    run, chain, tune = baseline(cfg, "all_layers", seed), [], _tune(cfg, regulariser)
    for _ in range(cfg["prune"]["iterations"]):
        run = Train(parent=run, optim=tune)
        chain.append(run)
    return chain


# ---------------------------------------------------------------- cost
def cost(cfg: dict) -> dict:
    """GPU-hours of the paper profile (kdlib.metrics.gpu_hours), by component."""
    r50, sq, n = metrics.forward_macs("resnet50", 525, 224), metrics.forward_macs("squeezenet1_0", 525, 224), 84_635
    seeds, p = len(cfg["seeds"]), cfg["prune"]
    baselines = 3 * metrics.gpu_hours(r50, n, cfg["finetune"]["epochs"])
    chains = len(p["chains"]) + 1  # the pruned chains and the unpruned control
    return {"3 baselines": baselines, "3 baselines, other seeds": (seeds - 1) * baselines,
            "KD students": seeds * (2 * metrics.gpu_hours(sq, n, cfg["kd_train"]["epochs"])
                                    + metrics.gpu_hours(r50 / 3, n, cfg["kd_train"]["epochs"])),
            "pruning": seeds * chains * p["iterations"] * metrics.gpu_hours(r50, n, p["finetune"]["epochs"])}


# ---------------------------------------------------------------- the paper's tables and figures
COVERAGE = [
    Item("Fig. 1", "diagram: a teacher distilling into a student", quoted="an illustration without data"),
    Item("Fig. 2", "diagram: pruning the weights of lowest absolute value", quoted="an illustration without data"),
    Item("Sec. III-B", "three fine-tuning strategies (head only, all layers, from scratch): test accuracy",
         ("baselines", "plateau")),
    Item("Table I", "fp32 vs int8 post-training quantization: inference time, accuracy (and size)", ("table1",)),
    Item("Fig. 3", "SqueezeNet trained alone: accuracy and loss per epoch", ("fig3", "kd")),
    Item("Fig. 4", "SqueezeNet distilled from the baseline: accuracy and loss per epoch", ("fig4", "kd")),
    Item("Table II", "parameters and size of the teacher and the students", ("table2",)),
    Item("Table III", "iterative pruning with fine-tuning: global sparsity, validation accuracy", ("table3",)),
]
PAPER_DATA = "Birds-525"


def dataset_label(cfg: dict) -> str:
    """The dataset a profile runs on, for column headers ("Fashion-MNIST classes 5-9")."""
    d = cfg["data"]
    name = {"birds525": PAPER_DATA, "fashion_mnist": "Fashion-MNIST"}.get(d["name"], d["name"])
    return name + (f" classes {d['classes'][0]}-{d['classes'][-1]}" if d.get("classes") else "")


def baseline_runs(runner: Runner, cfg: dict) -> pd.DataFrame:
    """Sec. III-B: one row per (strategy, seed) run."""
    cells = {(st, s): baseline(cfg, st, s) for st in STRATEGIES for s in cfg["seeds"]}
    return runner.results(cells, ["strategy", "seed"])


def plateau(runner: Runner, cfg: dict) -> pd.DataFrame:
    """Each seed's teacher (the all-layers baseline) trained to a plateau? (metrics.plateaued), then all seeds together
    (metrics.plateaued_seeds: the row the claims use)."""
    hs = {s: runner.run(baseline(cfg, "all_layers", s)).history() for s in cfg["seeds"]}
    rows = [(str(s), *metrics.plateaued(h)) for s, h in hs.items()] + [("all", *metrics.plateaued_seeds(list(hs.values())))]
    return pd.DataFrame(rows, columns=["seed", "plateaued", "detail"])


def int8_runs(runner: Runner, cfg: dict) -> pd.DataFrame:
    """Table I per seed: fp32 eager, fp32 compiled and int8 compiled (accuracy, latency, size)."""
    out = []
    for s in cfg["seeds"]:
        run = runner.run(int8(cfg, s))
        out.append(run.history().assign(seed=s, run=run.id))
    return pd.concat(out, ignore_index=True)


def student_runs(runner: Runner, cfg: dict, name: str = "SqueezeNet") -> pd.DataFrame:
    """Sec. III-D: the student alone and distilled, per seed."""
    cells = {(kd, s): student(cfg, name, s, kd) for kd in (False, True) for s in cfg["seeds"]}
    return runner.results(cells, ["distilled", "seed"])


def histories(runner: Runner, cfg: dict, distilled: bool, name: str = "SqueezeNet") -> list[pd.DataFrame]:
    return [runner.run(student(cfg, name, s, distilled)).history() for s in cfg["seeds"]]


def chain_name(scope: str, regulariser: str) -> str:
    return f"{scope}/{regulariser}"


def pruning_runs(runner: Runner, cfg: dict) -> pd.DataFrame:
    """Table III per (chain, seed, iteration): every pruned chain and the unpruned control, iteration 0 = the
    baseline; global sparsity over all parameters (BN and biases are never pruned), as the paper counts it."""
    p, cells = cfg["prune"], {}
    chains = {chain_name(sc, rg): lambda s, sc=sc, rg=rg: pruning(cfg, sc, rg, s) for sc, rg in p["chains"]}
    chains["unpruned"] = lambda s: unpruned(cfg, p["primary"][1], s)
    for name, plan in chains.items():
        for s in cfg["seeds"]:
            cells[(name, s, 0)] = baseline(cfg, "all_layers", s)
            cells.update({(name, s, i + 1): run for i, run in enumerate(plan(s))})
    runs = runner.results(cells, ["chain", "seed", "iteration"])
    return runs.assign(global_sparsity=100 * (1 - runs.params_nonzero / runs.params_total))



def compute(runner: Runner, cfg: dict) -> pd.DataFrame:
    """Optimizer steps, seconds per step and wall seconds of every run this notebook uses, by part (from each run's
    record: the machine and load it was computed under, not this session's)."""
    parts = {"source (pretraining stand-in)": [source(cfg)] if cfg["source"] else [],
             "baselines": [baseline(cfg, st, s) for st in STRATEGIES for s in cfg["seeds"]],
             "int8 (Table I)": [int8(cfg, s) for s in cfg["seeds"]],
             "students": [student(cfg, "SqueezeNet", s, kd) for kd in (False, True) for s in cfg["seeds"]],
             "pruning chains": [r for s in cfg["seeds"] for sc, rg in cfg["prune"]["chains"] for r in pruning(cfg, sc, rg, s)],
             "unpruned control": [r for s in cfg["seeds"] for r in unpruned(cfg, cfg["prune"]["primary"][1], s)]}
    rows = []
    for part, specs_ in parts.items():
        for spec in specs_:
            run = runner.run(spec)
            steps = int(run.history()["steps"].sum()) if "steps" in run.history() else 0
            rows.append({"part": part, "runs": 1, "steps": steps, "train seconds": steps * run.metrics.get("seconds_per_step", 0.0),
                         "wall seconds": run.meta.get("wall_seconds", float("nan"))})
    out = pd.DataFrame(rows).groupby("part", sort=False).sum()
    return out.assign(**{"seconds per step": out["train seconds"] / out.steps.where(out.steps > 0)})
