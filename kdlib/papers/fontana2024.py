"""Fontana et al. 2024, "DG2PF: Distilled Gradual Pruning with Pruned Fine-tuning" (IEEE TAI): ablations
(Tables I-V), comparisons with magnitude-pruning baselines (Tables VI-VII), Figs. 1-2."""
from __future__ import annotations

from dataclasses import replace

from .. import metrics, profiles, prune, report, specs
from ..dg2pf import DG2PFConfig
from ..specs import DG2PF, GMP, Prune, Train

ID = "fontana2024"
TITLE = "Fontana et al. 2024: DG2PF"
NOTEBOOK = "fontana2024_dg2pf.ipynb"
CITATION = "Fontana, F., Lanzino, R., Marini, M.R., Avola, D., Cinque, L., Scarcello, F., Foresti, G.L.: Distilled " \
           "Gradual Pruning with Pruned Fine-tuning. IEEE Transactions on Artificial Intelligence 2024"

PAPER = {
    "data": {"name": "cifar10", "val_fraction": 0.1, "train_per_class": None, "test_per_class": None},
    "models": {"ResNet-18": {"name": "dg2pf_resnet18", "width": 1.0}, "ResNet-50": {"name": "dg2pf_resnet50", "width": 1.0},
               "VGG-16": {"name": "dg2pf_vgg16_bn", "width": 1.0}},                 # huyvnphan/PyTorch_CIFAR10 architectures
    "dense_train": {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "lr": 0.01, "weight_decay": 1e-2, "epochs": 100,
                    "schedule": "multistep", "milestones": [50, 75], "batch_size": 256},  # huyvnphan's recipe (weights not downloadable)
    "dg2pf": {"sparsity": 0.95, "pruning_epochs": 15, "simulated_sparsity": 0.1, "alpha": 0.9, "temperature": 0.5,
              "dgp": {"epochs": 100, "optimizer": "adamw", "lr": 1e-5, "betas": [0.9, 0.999], "weight_decay": 1e-2,
                      "schedule": "constant", "patience": 4, "batch_size": 128},
              "pf": {"epochs": 100, "optimizer": "sgd", "lr": 1e-4, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "constant",
                     "patience": 4, "batch_size": 128}},
    "sparsities": [0.2, 0.4, 0.6, 0.8, 0.9, 0.95], "seeds": [0, 1, 2], "ablation_model": "ResNet-18",   # Table I; 3 seeds
    "ablations": {"pruning_epochs": [1, 3, 5, 7, 9, 11, 13, 15], "simulated_sparsity": [0.0, 0.01, 0.03, 0.05, 0.1, 0.2],
                  "alpha": [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0], "temperature": [0.1, 0.5, 1, 2, 4, 8]},  # Tables II-V
    "comparison_sparsity": 0.95, "iterative_rounds": 5,
    "baseline_finetune": {"epochs": 100, "optimizer": "sgd", "lr": 1e-4, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "constant",
                          "patience": 4, "batch_size": 128},
}
OVERRIDES = {
    "cpu": {"data": {"name": "fashion_mnist", "train_per_class": 200, "test_per_class": 300},
            "models": profiles.Replace({"ResNet-18": {"name": "dg2pf_resnet18", "width": 0.25}}),
            "dense_train": {"lr": 0.05, "weight_decay": 5e-4, "epochs": 10, "schedule": "cosine", "milestones": [], "batch_size": 128},
            "dg2pf": {"sparsity": 0.9, "pruning_epochs": 3, "dgp": {"epochs": 6, "lr": 1e-3, "patience": 1},
                      "pf": {"epochs": 3, "lr": 1e-3, "patience": 1}},
            "sparsities": [0.5, 0.7, 0.9, 0.95], "comparison_sparsity": 0.9, "iterative_rounds": 3,
            "ablations": {"pruning_epochs": [1, 3], "simulated_sparsity": [0.0, 0.1, 0.2], "alpha": [0.0, 0.9], "temperature": [0.5, 4]},
            "baseline_finetune": {"epochs": 6, "lr": 1e-3, "patience": 1}},
    "smoke": {"data": {"train_per_class": 10, "test_per_class": 10}, "dense_train": {"epochs": 1},
              "dg2pf": {"pruning_epochs": 1, "dgp": {"epochs": 1}, "pf": {"epochs": 1}}, "baseline_finetune": {"epochs": 1},
              "sparsities": [0.7, 0.9], "seeds": [0], "ablations": {"pruning_epochs": [1], "simulated_sparsity": [0.0, 0.1, 0.2]}},
}
SOURCES = {"data": "Sec. IV-A; validation split: ours", "models": "reference code (huyvnphan models)", "dense_train": "huyvnphan train.py",
           "dg2pf": "Sec. III, IV-C", "dg2pf.dgp.patience": "authors' code (patience 4)", "dg2pf.pf.patience": "authors' code",
           "sparsities": "Table I", "seeds": "Tables I-V", "ablation_model": "Sec. IV-D", "ablations": "Tables II-V",
           "comparison_sparsity": "Table VI", "iterative_rounds": "ours", "dg2pf.dgp.batch_size": "authors' code default",
           "baseline_finetune": "ours (PF optimiser)"}


def config(profile: str, overrides: dict | None = None) -> dict:
    return profiles.derive(PAPER, OVERRIDES, profile, overrides)


# ---------------------------------------------------------------- run plans
def dense(cfg: dict, model: str) -> Train:
    """The trained dense model DG2PF starts from (one per model; seed 0, as the paper starts from given weights)."""
    return Train(model=profiles.model(cfg["models"][model]), data=profiles.data(cfg["data"]),
                 optim=profiles.optim(cfg["dense_train"]), seed=0)


def settings(cfg: dict, **changes) -> DG2PFConfig:
    d = {**cfg["dg2pf"], **changes}
    return specs.strict(DG2PFConfig, {**d, "dgp": profiles.optim(d["dgp"]), "pf": profiles.optim(d["pf"])}, "dg2pf")


def run(cfg: dict, model: str, seed: int, **changes) -> DG2PF:
    """One DG2PF run from the dense model, self-distilled; `changes` override DG2PF settings (the ablations)."""
    return DG2PF(parent=dense(cfg, model), settings=settings(cfg, **changes), seed=seed)


def baselines(cfg: dict, model: str, sparsity: float, seed: int) -> dict:
    """Tables VI-VII baselines on the same dense model and sparsity: one-shot magnitude pruning + fine-tuning,
    gradual magnitude pruning (Zhu & Gupta, cubic schedule over s_e epochs) and iterative pruning."""
    base, tune = dense(cfg, model), profiles.optim(cfg["baseline_finetune"])
    one_shot = Train(parent=Prune(parent=base, method="l1_unstructured", sparsity=sparsity, evaluate=False), optim=tune,
                     seed=seed)
    gmp = Train(parent=base, optim=tune, gmp=GMP(sparsity, cfg["dg2pf"]["pruning_epochs"]), seed=seed)
    run_, rounds = base, cfg["iterative_rounds"]
    rate = 1 - (1 - sparsity) ** (1 / rounds)
    for target in prune.geometric_targets(rate, rounds):
        cut = Prune(parent=run_, method="l1_unstructured", sparsity=round(target, 6), evaluate=False)
        run_ = Train(parent=cut, optim=replace(tune, epochs=max(1, tune.epochs // rounds)), seed=seed)
    return {"one-shot magnitude + FT": one_shot, "gradual magnitude (GMP) + FT": gmp, "iterative magnitude + FT": run_}


# ---------------------------------------------------------------- cost
def cost(cfg: dict) -> dict:
    n_runs = len(cfg["seeds"]) * (len(cfg["sparsities"]) * len(cfg["models"])
                                  + sum(len(v) for v in cfg["ablations"].values()))
    per_run = metrics.gpu_hours(metrics.forward_macs("dg2pf_resnet18", 10, 32) * 4 / 3, 45_000, 30)  # + teacher forward; ~30 epochs
    return {f"{n_runs} DG2PF runs": n_runs * per_run}


# ---------------------------------------------------------------- claims
def claims(runs_df, cfg: dict) -> list[dict]:
    """DG2PF's claims from the sweep/ablation/baseline runs (a DataFrame with columns study, setting, seed)."""
    def acc(study, setting):
        return runs_df[(runs_df.study == study) & (runs_df.setting == setting)].set_index("seed").test_top1

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
    base = runs_df[runs_df.study == "baseline"]
    dg = acc("sparsity", cfg["comparison_sparsity"])
    a, b = [], []
    for method in ("one-shot magnitude + FT", "gradual magnitude (GMP) + FT"):
        x, y = dg.align(base[base.setting == method].set_index("seed").test_top1, join="inner")
        a, b = a + list(x), b + list(y)
    rows.append(report.claim("5. DG2PF beats one-shot and gradual magnitude pruning at equal sparsity",
                             "Tables VI-VII: e.g. ResNet-18 CIFAR-10 92.90 vs 92.04 (GMP)", metrics.paired_difference(a, b)))
    return rows
