"""Metrics: parameter counts, per-layer sparsity, MACs, efficiency and breakpoints, statistics, latency."""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from . import models
from .prune import PRUNABLE, layer_counts

def count_params(model: nn.Module) -> dict:
    """total and nonzero parameters; prunable (Conv/Linear weights) total and nonzero. Masks count as zeros."""
    counts = layer_counts(model)
    total = sum(p.numel() for p in model.parameters())  # a masked layer's weight_orig has the weight's size
    prunable = sum(c["weights"] for c in counts)
    prunable_nonzero = sum(c["nonzero"] for c in counts)
    other_nonzero = sum(int((p != 0).sum()) for n, p in _named_non_weight(model))
    return {"total": total, "nonzero": prunable_nonzero + other_nonzero, "prunable": prunable,
            "prunable_nonzero": prunable_nonzero}


def _named_non_weight(model: nn.Module):
    for mname, m in model.named_modules():
        for pname, p in m.named_parameters(recurse=False):
            if not (isinstance(m, PRUNABLE) and pname in ("weight", "weight_orig")):
                yield f"{mname}.{pname}", p


def macs(model: nn.Module, example: torch.Tensor) -> dict:
    """Multiply-accumulates of one forward pass of `example` (per image): dense, and counting only nonzero
    weights (what sparse kernels could reach)."""
    dense, sparse, hooks = [0], [0.0], []

    def hook(module, inputs, output):
        w = module.weight
        per_output = w[0].numel() if isinstance(module, nn.Conv2d) else w.shape[1]
        outputs = output.numel() // output.shape[0]
        n = outputs * per_output
        dense[0] += n
        sparse[0] += n * float((w != 0).sum()) / w.numel()

    for m in model.modules():
        if isinstance(m, PRUNABLE):
            hooks.append(m.register_forward_hook(hook))
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(example[:1])
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return {"macs": dense[0], "sparse_macs": int(round(sparse[0]))}


def performance_efficiency(accuracy, parameters, w1: float = 0.5, w2: float = 0.5):
    """Malihi & Heidemann 2024, eq. (2): (w1 * accuracy) / (w2 * parameters); accuracy as a fraction."""
    return (w1 * np.asarray(accuracy, dtype=float)) / (w2 * np.asarray(parameters, dtype=float))


def breakpoint_index(accuracy: Sequence[float], tolerance: float = 0.01) -> int:
    """The breakpoint of a pruning curve: the last level (ordered dense -> sparse) before accuracy first falls
    more than `tolerance` (absolute, 1 point by default) below the unpruned accuracy.

    Why this rule: Malihi & Heidemann describe the breakpoint as where accuracy starts to drop much faster than
    parameters; on a 10-point grid with seed noise, slope or curvature rules jump between neighbours, while a
    tolerance on the drop is stable, monotone in the tolerance, and reads directly as "no real accuracy loss yet".
    A curve that never drops returns the sparsest level.
    """
    accuracy = list(accuracy)
    for i, a in enumerate(accuracy[1:], start=1):
        if a < accuracy[0] - tolerance:
            return i - 1
    return len(accuracy) - 1


@torch.inference_mode()
def predictions(model: nn.Module, loader: Iterable, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax probabilities and labels of `model` over `loader`."""
    model.eval().to(device)
    probs, labels = [], []
    for x, y in loader:
        probs.append(torch.softmax(model(x.to(device)).float(), 1).cpu())
        labels.append(y.cpu())
    return torch.cat(probs), torch.cat(labels)


def agreement(teacher: nn.Module, student: nn.Module, loader: Iterable, device: str = "cpu") -> float:
    """Fraction of images on which teacher and student predict the same class."""
    p_t, _ = predictions(teacher, loader, device)
    p_s, _ = predictions(student, loader, device)
    return float((p_t.argmax(1) == p_s.argmax(1)).float().mean())


def true_label_probability(model: nn.Module, loader: Iterable, device: str = "cpu") -> float:
    """Mean probability the model gives the true label (Park & No, Sec. 3.2: lower = smoother labels)."""
    probs, labels = predictions(model, loader, device)
    return float(probs.gather(1, labels[:, None]).mean())


def latency(model, example: torch.Tensor, min_run_time: float = 1.0) -> dict:
    """Median CPU latency of model(example) in ms via torch.utils.benchmark, with the thread count used."""
    from torch.utils import benchmark
    with torch.no_grad():
        model(example)  # warm-up (and compilation, for a compiled model)
        timer = benchmark.Timer("model(x)", globals={"model": model, "x": example},
                                num_threads=torch.get_num_threads())
        m = timer.blocked_autorange(min_run_time=min_run_time)
    return {"median_ms": m.median * 1e3, "iqr_ms": m.iqr * 1e3, "threads": torch.get_num_threads(),
            "batch": example.shape[0]}


# ---------------------------------------------------------------- compute cost
A100_BF16_TFLOPS, UTILISATION = 312.0, 0.35


def gpu_hours(forward_macs: float, images: float, epochs: float, *, gpu_tflops: float = A100_BF16_TFLOPS,
              utilisation: float = UTILISATION) -> float:
    """Training cost: 3 x forward FLOPs (2 per MAC) x images x epochs, on a GPU at `utilisation` of its peak."""
    flops = 3 * 2 * forward_macs * images * epochs
    return flops / (gpu_tflops * 1e12 * utilisation) / 3600


def forward_macs(name: str, num_classes: int, size: int, width: float = 1.0) -> int:
    """Forward MACs per image of model `name` at `size` px."""
    return macs(models.build(name, num_classes, width=width), torch.zeros(1, 3, size, size))["macs"]


def trend_rise(values: Sequence[float], window: int = 10, last: int = 3) -> tuple[float, float, int]:
    """The rise over `last` epochs that a least-squares line through the final `window` values predicts, its standard
    error (from the line's residuals), and the residual degrees of freedom."""
    y = np.asarray(list(values)[-window:], dtype=float)
    x = np.arange(len(y)) - (len(y) - 1) / 2
    slope = float((x * y).sum() / (x * x).sum())
    resid = y - y.mean() - slope * x
    se = float(np.sqrt((resid ** 2).sum() / (len(y) - 2) / (x * x).sum()))
    return slope * last, se * last, len(y) - 2


def plateaued(history, key: str = "val_top1", last: int = 3, tolerance: float = 0.005, window: int = 10,
              alpha: float = 0.05) -> tuple[bool, str]:
    """Whether a training had levelled off: the rise its last `window` epochs' trend predicts over `last` more epochs is
    not significantly above `tolerance` (one-sided t-test, `alpha`): a screen for runs still clearly rising, not a
    proof of a plateau. The best-of-last-3 rule it replaces failed a flat curve of 1,000 validation images 14% of the
    time (tests/test_plateau.py simulates both). Returns the answer and an account."""
    return plateaued_seeds([history], key, last, tolerance, window, alpha)


def plateaued_seeds(histories: Sequence, key: str = "val_top1", last: int = 3, tolerance: float = 0.005,
                    window: int = 10, alpha: float = 0.05) -> tuple[bool, str]:
    """`plateaued` at the unit of replication: the mean over seeds of each training's trend rise, tested against
    `tolerance` with the seeds' spread (one training: the trend's own standard error)."""
    from scipy import stats as st
    values = [list(h[key]) for h in histories]
    if min(len(v) for v in values) < 5:
        return False, f"only {min(len(v) for v in values)} epochs: too few to see a plateau"
    rises = [trend_rise(v, window, last) for v in values]
    if len(rises) == 1:
        rise, se, df = rises[0]
    else:
        r = np.array([x[0] for x in rises])
        rise, se, df = float(r.mean()), float(r.std(ddof=1) / np.sqrt(len(r))), len(r) - 1
    p = float(st.t.sf((rise - tolerance) / se, df)) if se > 0 else float(rise <= tolerance)
    each = "" if len(rises) == 1 else f" (mean of {len(rises)}: " + ", ".join(f"{100 * x[0]:+.2f}" for x in rises) + ")"
    return p >= alpha, (f"trend of the last {min(window, min(map(len, values)))} epochs' {key}: {100 * rise:+.2f} points "
                        f"per {last} epochs{each}, SE {100 * se:.2f}; still rising by more than {100 * tolerance:g} "
                        f"needs p < {alpha:g}: p = {p:.2f}")
