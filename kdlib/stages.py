"""What each stage of a run computes: `STAGES[spec.stage](spec, runner, workdir) -> runs.Result`.

train (from scratch, from a parent's weights, distilled, last layer only, with gradual magnitude pruning),
init (a model as built: random or published weights, evaluated), prune (one shot, no training), dg2pf, int8.
Every result is checked: non-finite weights or metrics fail the run instead of being cached.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import pandas as pd
import torch
from torch import nn

from . import dg2pf, distill, last_layer, metrics, models, prune, runs, specs, train

if TYPE_CHECKING:
    from .runner import Runner


def _shape_json(model: nn.Module) -> str:
    return json.dumps(prune.shape_spec(model), sort_keys=True)


def _check_finite(state: dict, metrics_: dict, spec: specs.Spec) -> None:
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    bad += [k for k, v in metrics_.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise FloatingPointError(f"run {specs.run_id(spec)} ended with non-finite values in {bad[:5]}; it is not "
                                 f"cached. Lower the learning rate or check the data.")


def result(model: nn.Module, spec: specs.Spec, runner: "Runner", metrics_: dict, history=None) -> runs.Result:
    """The stored form of a finished model: permanent weights, masks, shape if channel-pruned, counts."""
    kept = prune.make_permanent(model)
    model = model.cpu()
    channel_pruned = _shape_json(model) != _shape_json(runner.fresh_model(spec))
    m = {**metrics_, **{f"params_{k}": v for k, v in metrics.count_params(model).items()},
         "sparsity": prune.sparsity_of(model)}
    if isinstance(model, distill.SimKD):  # the student network itself, as SimKD's code and Malihi count it
        m.update({f"params_student_{k}": v for k, v in metrics.count_params(model.features[0]).items()})
    if history is not None and "steps" in history and history["steps"].sum() > 0:
        m["seconds_per_step"] = float(history["seconds"].sum() / history["steps"].sum())
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    _check_finite(state, m, spec)
    meta = {"seeds": specs.derived_seeds(spec), "device": str(runner.device), "torch": torch.__version__}
    return runs.Result(state, m, history, prune.shape_spec(model) if channel_pruned else None, kept or None, meta)


def test_metrics(model: nn.Module, spec: specs.Spec, runner: "Runner") -> dict:
    test = runner.eval_loader(spec, "test")
    return {f"test_{k}": v for k, v in train.evaluate(model, test, runner.device).items()}


def _loss(spec: specs.Train, runner: "Runner"):
    kd = spec.kd
    if kd is None:
        return train.cross_entropy
    teacher = runner.load(kd.teacher)
    if kd.method == "simkd":
        return distill.SimKDLoss(teacher)
    return distill.Distill(teacher, kd.temperature, kd.alpha)


def run_train(spec: specs.Train, runner: "Runner", workdir) -> runs.Result:
    model = runner.load(spec.parent) if spec.parent is not None else runner.fresh_model(spec)
    if spec.reset_head:  # transfer: a new classifier for the new task, the backbone kept
        torch.manual_seed(specs.derived_seeds(spec)["init"])
        models.reset_classifier(model, runner.dataset(spec).info.num_classes)
    seeds, cfg = specs.derived_seeds(spec), spec.optim
    t0 = time.perf_counter()
    if spec.last_layer_only:
        fit = _fit_last_layer(model, spec, runner)
    else:
        train_loader, val_loader, _ = runner.loaders(spec, cfg.batch_size)
        callbacks = []
        if spec.gmp is not None:
            callbacks.append(prune.MagnitudeSchedule(prune.cubic_schedule(spec.gmp.sparsity, spec.gmp.epochs)))
            cfg = replace(cfg, min_epochs=max(cfg.min_epochs, spec.gmp.epochs))
        fit = train.fit(model, train_loader, val_loader, config=cfg, seed=seeds["sampling"], loss_fn=_loss(spec, runner),
                        checkpoint=workdir, device=runner.device, progress=runner.progress,
                        desc=f"train {specs.model_name(spec)}", callbacks=callbacks)
    for p in model.parameters():
        p.requires_grad_(True)
    m = {"val_top1": fit.best_val_top1, "best_epoch": fit.best_epoch, "epochs_run": len(fit.history),
         "train_seconds": time.perf_counter() - t0, "images_per_second": fit.images_per_second,
         **test_metrics(model, spec, runner)}
    return result(model, spec, runner, m, fit.history)


def _fit_last_layer(model: nn.Module, spec: specs.Train, runner: "Runner") -> train.FitResult:
    """Malihi & Heidemann's fine-tuning after pruning: the classifier alone, on un-augmented inputs."""
    layer = models.classifier_layers(model)[0]
    if not isinstance(layer, nn.Linear):
        raise ValueError(f"last-layer fine-tuning needs a Linear classifier; {specs.model_name(spec)} ends in {layer}")
    for p in layer.parameters():
        p.requires_grad_(True)
    return last_layer.fit_last_layer(model, layer, runner.eval_loader(spec, "train"), runner.eval_loader(spec, "val"),
                                     config=spec.optim, seed=specs.derived_seeds(spec)["order"], device=runner.device,
                                     progress=runner.progress)


def run_init(spec: specs.Init, runner: "Runner", workdir) -> runs.Result:
    model = runner.fresh_model(spec)
    return result(model, spec, runner, test_metrics(model, spec, runner) if spec.evaluate else {})


def run_prune(spec: specs.Prune, runner: "Runner", workdir) -> runs.Result:
    model = apply_prune(runner.load(spec.parent).cpu(), spec, runner)
    return result(model, spec, runner, test_metrics(model, spec, runner) if spec.evaluate else {})


def apply_prune(model: nn.Module, spec: specs.Prune, runner: "Runner") -> nn.Module:
    """`model` pruned in place as `spec` says (its method, sparsity and scope)."""
    if spec.part:
        model.get_submodule(spec.part)  # a clear error for a path the model does not have
    if spec.method == "l1_unstructured":
        prune.l1_unstructured(model, spec.sparsity, scope=spec.scope, first_conv=spec.first_conv,
                              classifier=spec.classifier, part=spec.part)
    elif spec.method == "channel_l1":
        prune.make_permanent(model)
        prune.channel_l1(model, runner.example(spec), param_reduction=spec.sparsity, part=spec.part)
    elif spec.method == "synflow":
        from . import synflow
        if spec.part:
            raise ValueError("synflow prunes the whole model (part= is not supported)")
        synflow.synflow_prune(model, spec.sparsity, iterations=spec.iterations, example_shape=tuple(runner.example(spec).shape),
                              first_conv=spec.first_conv, classifier=spec.classifier)
    else:
        if spec.part:
            raise ValueError("percentile pruning prunes the whole model (part= is not supported)")
        dg2pf.apply_percentile_pruning(model, spec.sparsity)
    return model


def run_dg2pf(spec: specs.DG2PF, runner: "Runner", workdir) -> runs.Result:
    model = runner.load(spec.parent)
    teacher = runner.load(spec.teacher if spec.teacher is not None else spec.parent, masks=False)
    cfg = spec.settings
    train_loader, val_loader, test_loader = runner.loaders(spec, cfg.dgp.batch_size)
    t0 = time.perf_counter()
    out = dg2pf.dg2pf(model, teacher, train_loader, val_loader, cfg, seed=specs.derived_seeds(spec)["sampling"],
                      checkpoint=workdir, device=runner.device, progress=runner.progress, test_loader=test_loader)
    history = pd.concat([out["dgp"].history.assign(phase="dgp"), out["pf"].history.assign(phase="pf")],
                        ignore_index=True)
    m = {"val_top1": out["pf"].best_val_top1, "dgp_val_top1": out["dgp"].best_val_top1,
         "dgp_epochs": len(out["dgp"].history), "pf_epochs": len(out["pf"].history),
         **{f"dgp_test_{k}": v for k, v in out["after_dgp"].items()},
         "train_seconds": time.perf_counter() - t0, **test_metrics(model, spec, runner)}
    return result(model, spec, runner, m, history)


def run_int8(spec: specs.Int8, runner: "Runner", workdir) -> runs.Result:
    """Kieu & Sood's Table I for one model: fp32 vs int8 accuracy, latency and size, measured on this machine.

    Calibration uses `calibration_batches` shuffled, un-augmented training batches (never the whole loader)."""
    from . import quantize
    data = runner.dataset(spec)
    calib = quantize.calibration_batches(data, spec.calibration_batches, max(32, spec.latency_batch),
                                         seed=specs.derived_seeds(spec)["sampling"],
                                         image_size=specs.data_owner(spec).data.image_size)
    table = quantize.compare_int8(runner.load(spec.parent), calib, runner.eval_loader(spec, "test"),
                                  calib[0][:spec.latency_batch])
    meta = {"seeds": specs.derived_seeds(spec), "machine": spec.machine}
    return runs.Result({}, {"machine": spec.machine}, table, meta=meta)


STAGES = {"train": run_train, "init": run_init, "prune": run_prune, "dg2pf": run_dg2pf, "int8": run_int8}
