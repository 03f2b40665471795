"""Cached stages: a run is a plain config dict; `run(cfg)` computes it once and every notebook reuses it.

Stages (cfg["stage"]):
- "train": train cfg["model"] from scratch, or continue from cfg["init"] (another run's config; its pruning
  masks stay on), with cross-entropy or distillation from cfg["teacher"] (a run config) per cfg["kd"].
- "prune": prune cfg["parent"]'s weights (no training): l1_unstructured, channel_l1 or percentile (DG2PF eq. 1).
- "dg2pf": DG2PF from cfg["parent"] with the parent as its own teacher (self-distillation).
A child config contains its parent's, so changing a teacher invalidates everything built on it.
"""
from __future__ import annotations

import copy
import json
import os
import time
from functools import lru_cache

import pandas as pd
import torch
from torch import nn

from . import data as kdata
from . import distill, gradual, metrics, models, prune, runs, students, train

DEVICE = "auto"      # where runs execute; not part of any run's identity
PROGRESS = True


@lru_cache(maxsize=8)
def _dataset(spec_json: str) -> kdata.Data:
    spec = json.loads(spec_json)
    if spec.get("classes"):
        return _class_subset(spec)
    return kdata.load(spec["name"], spec.get("root"), val_fraction=spec.get("val_fraction", 0.1),
                      seed=spec.get("seed", 0), train_per_class=spec.get("train_per_class"),
                      test_per_class=spec.get("test_per_class"))


def _class_subset(spec: dict) -> kdata.Data:
    """The dataset restricted to spec["classes"] (relabelled), e.g. for honest transfer-learning stand-ins."""
    full = dataset({k: v for k, v in spec.items() if k != "classes"})
    cls = spec["classes"]
    info = kdata.Info(**{**full.info.__dict__, "num_classes": len(cls)})
    pick = lambda s: kdata.class_subset(s, cls)
    return kdata.Data(full.name, info, pick(full.train), pick(full.val), pick(full.test), full.root)


def dataset(spec: dict) -> kdata.Data:
    """The dataset of a data spec {name, train_per_class, test_per_class, val_fraction, seed, classes}."""
    return _dataset(json.dumps(runs.canonical(spec), sort_keys=True))


def loaders(spec: dict, batch_size: int, seed: int):
    d, device = dataset(spec), train.pick_device(DEVICE)
    size = spec.get("image_size")
    make = lambda split: kdata.loader(d, split, batch_size if split == "train" else 512, device=device,
                                      seed=seed, image_size=size)
    return make("train"), make("val"), make("test")


def eval_loader(spec: dict, split: str, batch_size: int = 512):
    """Batches of `split` (train included) without augmentation, for measurements after training."""
    return kdata.loader(dataset(spec), split, batch_size, train=False, device=train.pick_device(DEVICE),
                        image_size=spec.get("image_size"))


def example(spec: dict) -> torch.Tensor:
    info = dataset(spec).info
    size = spec.get("image_size") or info.image_size
    return torch.zeros(2, info.in_channels, size, size)


# ---------------------------------------------------------------- models of runs
def root_of(cfg: dict) -> dict:
    """The config at the start of a chain (the one that names the architecture)."""
    for key in ("init", "parent"):
        if cfg.get(key):
            return root_of(cfg[key])
    return cfg


def data_of(cfg: dict) -> dict:
    """The data spec a run trains and is tested on: its own, else its parent's (transfer runs name a new one)."""
    if cfg.get("data"):
        return cfg["data"]
    for key in ("init", "parent"):
        if cfg.get(key):
            return data_of(cfg[key])
    raise ValueError("a run config needs a data spec at its root")


def fresh_model(cfg: dict) -> nn.Module:
    """The untrained architecture of a chain's root: a registry name, a VGG plan, ResNet widths, or SimKD."""
    root = root_of(cfg)
    spec, info = root["model"], dataset(root["data"]).info
    args = (info.num_classes, info.in_channels)
    torch.manual_seed(root.get("seed", 0))
    if "vgg_plan" in spec:
        return models.vgg_cifar(spec["vgg_plan"], *args)
    if "resnet_widths" in spec:
        return models.resnet_cifar(spec["layers"], spec["resnet_widths"], *args, stem_width=spec["stem_width"])
    net = models.build(spec["name"], *args, width=spec.get("width", 1.0), pretrained=spec.get("pretrained", False))
    if spec.get("simkd"):
        return distill.SimKD(net, load(spec["simkd"]["teacher"]), example(root["data"]), spec["simkd"]["factor"])
    return net


_LOADED: dict[str, nn.Module] = {}  # run folder -> model without masks (copies are handed out)


def load(cfg: dict, masks: bool = True) -> nn.Module:
    """The trained model of run `cfg` (computed if needed), pruning masks re-attached unless masks=False."""
    result = run(cfg)
    key = str(result.path)
    if key not in _LOADED:
        model = prune.rebuild(fresh_model(cfg), result.spec()) if result.spec() else fresh_model(cfg)
        models.load_weights(model, result.state_dict(), f"run {result.path}")
        _LOADED[key] = model.eval()
        while len(_LOADED) > 64:
            _LOADED.pop(next(iter(_LOADED)))
    model = copy.deepcopy(_LOADED[key])
    if masks and result.masks():
        prune.apply_masks(model, result.masks())
    return model.eval()


@lru_cache(maxsize=64)
def _fresh_spec(root_json: str) -> str:
    return json.dumps(prune.shape_spec(fresh_model(json.loads(root_json))), sort_keys=True)


def model_name(cfg: dict) -> str:
    spec = root_of(cfg)["model"]
    return spec.get("name", "vgg_plan" if "vgg_plan" in spec else "resnet_widths")


def _result(model: nn.Module, cfg: dict, metrics_: dict, history=None) -> runs.Result:
    kept = prune.make_permanent(model)
    model = model.cpu()
    spec = prune.shape_spec(model)
    channel_pruned = json.dumps(spec, sort_keys=True) != _fresh_spec(json.dumps(root_of(cfg), sort_keys=True))
    m = {**metrics_, **{f"params_{k}": v for k, v in metrics.count_params(model).items()},
         "sparsity": prune.sparsity_of(model)}
    return runs.Result({k: v.cpu() for k, v in model.state_dict().items()}, m, history,
                       spec if channel_pruned else None, kept or None)


def _test(model: nn.Module, cfg: dict) -> dict:
    _, _, test = loaders(data_of(cfg), 512, 0)
    return {f"test_{k}": v for k, v in train.evaluate(model, test, DEVICE).items()}


# ---------------------------------------------------------------- stages
def _train(cfg: dict, workdir) -> runs.Result:
    model = load(cfg["init"]) if cfg.get("init") else fresh_model(cfg)
    data_spec = data_of(cfg)
    if cfg.get("reset_head"):  # transfer: a new classifier for the new task, the backbone kept
        models.reset_classifier(model, dataset(data_spec).info.num_classes)
    tcfg = train.TrainConfig(**cfg["train"])
    train_loader, val_loader, _ = loaders(data_spec, cfg.get("batch_size", 128), cfg.get("seed", 0))
    if cfg.get("last_layer_only"):
        return _train_last_layer(model, cfg, tcfg, train_loader, val_loader)
    loss_fn = train.cross_entropy
    if cfg.get("teacher"):
        kd = cfg["kd"]
        teacher = load(cfg["teacher"])
        if kd["method"] == "simkd":
            loss_fn = distill.SimKDLoss(teacher)
        else:
            loss_fn = distill.Distill(teacher, kd["temperature"], kd["alpha"],
                                      loss=distill.dg2pf_loss if kd["method"] == "dg2pf" else distill.kd_loss)
    callbacks = []
    if cfg.get("gradual_magnitude"):  # Zhu & Gupta's GMP: cubic schedule over its first epochs
        g = cfg["gradual_magnitude"]
        callbacks.append(gradual.MagnitudeSchedule(gradual.cubic_schedule(g["sparsity"], g["epochs"])))
        tcfg = train.TrainConfig(**{**cfg["train"], "min_epochs": g["epochs"]})
    t0 = time.perf_counter()
    fit = train.fit(model, train_loader, val_loader, config=tcfg, loss_fn=loss_fn, checkpoint=workdir,
                    device=DEVICE, progress=PROGRESS, desc=f"train {model_name(cfg)}", callbacks=callbacks)
    for p in model.parameters():
        p.requires_grad_(True)
    m = {"val_top1": fit.best_val_top1, "best_epoch": fit.best_epoch, "epochs_run": len(fit.history),
         "train_seconds": time.perf_counter() - t0, "images_per_second": fit.images_per_second,
         **_test(model, cfg)}
    return _result(model, cfg, m, fit.history)


def _train_last_layer(model, cfg, tcfg, train_loader, val_loader) -> runs.Result:
    """Malihi & Heidemann's fine-tuning after pruning: the classifier alone, the rest frozen."""
    layer = models.classifier_layers(model)[0]
    if not isinstance(layer, nn.Linear):
        raise ValueError(f"last-layer fine-tuning needs a Linear classifier, {model_name(cfg)} ends in {layer}")
    for p in layer.parameters():
        p.requires_grad_(True)
    t0 = time.perf_counter()
    fit = train.fit_last_layer(model, layer, train_loader, val_loader, config=tcfg, device=DEVICE,
                               batch_size=cfg.get("batch_size", 128), progress=PROGRESS)
    m = {"val_top1": fit.best_val_top1, "best_epoch": fit.best_epoch, "epochs_run": len(fit.history),
         "train_seconds": time.perf_counter() - t0, **_test(model, cfg)}
    return _result(model, cfg, m, fit.history)


PRUNING_METHODS = ("l1_unstructured", "channel_l1", "percentile")


def _prune(cfg: dict, workdir) -> runs.Result:
    method = cfg["method"]
    if method not in PRUNING_METHODS:  # checked before the parent is loaded (or trained)
        raise ValueError(f"unknown pruning method {method!r}; valid: {', '.join(PRUNING_METHODS)}")
    model, data_spec = load(cfg["parent"]).cpu(), data_of(cfg)
    if method == "l1_unstructured":
        prune.l1_unstructured(model, cfg["sparsity"], scope=cfg.get("scope", "global"),
                              first_conv=cfg.get("first_conv", True), classifier=cfg.get("classifier", True))
    elif method == "channel_l1":
        prune.make_permanent(model)
        prune.channel_l1(model, example(data_spec), cfg.get("ratio"), param_reduction=cfg.get("param_reduction"))
    else:
        gradual.apply_percentile_pruning(model, cfg["sparsity"])
    m = _test(model, cfg) if cfg.get("evaluate", True) else {}
    return _result(model, cfg, m)


def _dg2pf(cfg: dict, workdir) -> runs.Result:
    model, teacher = load(cfg["parent"]), load(cfg["parent"])
    d = cfg["dg2pf"]
    dcfg = gradual.DG2PFConfig(**{k: v for k, v in d.items() if k not in ("dgp", "pf")},
                               dgp=train.TrainConfig(**d["dgp"]), pf=train.TrainConfig(**d["pf"]))
    train_loader, val_loader, _ = loaders(data_of(cfg), cfg.get("batch_size", 128), cfg.get("seed", 0))
    t0 = time.perf_counter()
    out = gradual.dg2pf(model, teacher, train_loader, val_loader, dcfg, checkpoint=workdir, progress=PROGRESS)
    history = pd.concat([out["dgp"].history.assign(phase="dgp"), out["pf"].history.assign(phase="pf")],
                        ignore_index=True)
    m = {"val_top1": out["pf"].best_val_top1, "dgp_val_top1": out["dgp"].best_val_top1,
         "dgp_epochs": len(out["dgp"].history), "pf_epochs": len(out["pf"].history),
         "train_seconds": time.perf_counter() - t0, **_test(model, cfg)}
    return _result(model, cfg, m, history)


def _int8(cfg: dict, workdir) -> runs.Result:
    """Kieu & Sood's Table I for one model: fp32 vs int8 accuracy, latency and size, measured on this machine."""
    from . import quantize
    q, spec = cfg["quant"], data_of(cfg)
    batches = list(eval_loader(spec, "train", max(32, q["latency_batch"])))[:q["calibration_batches"]]
    calib = [x.cpu() for x, _ in batches]
    table = quantize.compare_int8(load(cfg["parent"]), calib, eval_loader(spec, "test"), calib[0][:q["latency_batch"]])
    return runs.Result({}, {"machine": cfg["machine"]}, table)


def machine_identity() -> dict:
    """What a latency depends on besides the model: part of a measurement's config, so another machine re-measures."""
    import platform
    return {"host": platform.node(), "processor": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "torch": torch.__version__}


STAGES = {"train": _train, "prune": _prune, "dg2pf": _dg2pf, "int8": _int8}
LOCAL_ONLY = {"int8"}  # measurements of this machine: never sent to a cluster


def run(cfg: dict) -> runs.Run:
    """The finished run of `cfg`: from the cache, or computed now (resuming an interrupted computation)."""
    stage = cfg.get("stage")
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; valid: {', '.join(STAGES)}")
    _defer([cfg])
    return runs.cached(stage, model_name(cfg), cfg, lambda workdir: STAGES[stage](cfg, workdir))


def dependencies(cfg: dict) -> list[dict]:
    """The runs `cfg` needs finished first: its init/parent, its teacher, a SimKD model's teacher."""
    deps = [cfg[key] for key in ("init", "parent", "teacher") if cfg.get(key)]
    simkd = cfg.get("model", {}).get("simkd")
    return deps + ([simkd["teacher"]] if simkd else [])


def is_finished(cfg: dict) -> bool:
    path = runs.runs_root() / "cache" / runs.run_id(cfg["stage"], model_name(cfg), cfg)
    return path.exists() and runs.check(path) is None


def pending(cfgs: list[dict]) -> list[dict]:
    """The configs (and their parents) that have no finished run yet, parents first, without running them."""
    out, seen = [], set()

    def visit(cfg):
        rid = runs.run_id(cfg["stage"], model_name(cfg), cfg)
        if rid in seen:
            return
        seen.add(rid)
        if is_finished(cfg):  # its parents were finished before it
            return
        for dep in dependencies(cfg):
            visit(dep)
        out.append(cfg)
    for c in cfgs:
        visit(c)
    return out


class PendingRuns(RuntimeError):
    """Raised in collect mode where a notebook needs results that are not computed yet."""


def _defer(cfgs: list[dict]) -> None:
    """In collect mode ($KDLIB_COLLECT names a file), record the unfinished runs among `cfgs` and stop here."""
    target = os.environ.get("KDLIB_COLLECT")
    if not target:
        return
    todo = pending(cfgs)
    if todo:
        with open(target, "a") as f:
            f.writelines(json.dumps(runs.canonical(c), sort_keys=True) + "\n" for c in todo)
        raise PendingRuns(f"collect mode: {len(todo)} runs are not finished yet; recorded in {target}")


def results(cfgs: dict, keys: list[str]) -> pd.DataFrame:
    """Run (or load) every config of `cfgs` {key tuple: cfg}; one tidy row per run: keys, metrics, run id."""
    from tqdm.auto import tqdm
    _defer(list(cfgs.values()))  # in collect mode, every pending run of this table is recorded at once
    rows = []
    for key, cfg in tqdm(list(cfgs.items()), desc="runs", disable=not PROGRESS):
        key = key if isinstance(key, tuple) else (key,)
        r = run(cfg)
        rows.append({**dict(zip(keys, key)), **r.metrics, "run": r.id})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- config helpers for notebooks
def train_cfg(model: dict, data_spec: dict, train_config: dict, seed: int = 0, batch_size: int = 128,
              **extra) -> dict:
    return {"stage": "train", "model": model, "data": data_spec, "train": train_config, "seed": seed,
            "batch_size": batch_size, **extra}


def child(parent: dict, stage: str, **fields) -> dict:
    key = "init" if stage == "train" else "parent"
    return {"stage": stage, key: copy.deepcopy(parent), **fields}


def st_student_spec(pruned_teacher_cfg: dict) -> dict:
    """Model spec of Park & No's sparsity-matched student of a pruned teacher run (VGG plans or ResNet widths)."""
    teacher = load(pruned_teacher_cfg)
    spec = root_of(pruned_teacher_cfg)["model"]
    name, width = spec["name"], spec.get("width", 1.0)
    if name.startswith("cifar_vgg"):
        plan = [p if p == "M" else models.scaled(p, width) for p in models.VGG_PLANS[name[len("cifar_vgg"):]]]
        return {"vgg_plan": students.vgg_plan(plan, students.conv_nonzeros(teacher),
                                              dataset(root_of(pruned_teacher_cfg)["data"]).info.in_channels)}
    if name == "cifar_resnet18":
        widths = [models.scaled(c, width) for c in (64, 128, 256, 512)]
        return {"layers": [2, 2, 2, 2], "resnet_widths": students.resnet_widths(widths, students.stage_densities(teacher)),
                "stem_width": widths[0]}
    raise ValueError(f"no sparsity-matched student rule for {name}; supported: cifar_vgg*, cifar_resnet18")
