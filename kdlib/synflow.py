"""SynFlow: Tanaka, Kunin, Yamins & Ganguli, "Pruning neural networks without any data by iteratively conserving
synaptic flow", NeurIPS 2020. Park & No (Sec. 5.3, Fig. 3 right) use it as the alternative teacher pruner.

With every parameter replaced by its absolute value, eval mode and an all-ones input, the synaptic flow is
R = 1^T (prod_l |W_l|) 1 (the sum of the outputs) and the score of a weight is S(theta) = |theta * dR/dtheta|.
Pruning is global over the Conv2d/Linear weights and iterative: the scores are recomputed on the masked network
`iterations` times, and after round k the remaining fraction is d0 * (d/d0)^(k/n) (the exponential schedule;
d0 = 1 on a dense model, giving (1-s)^(k/n)). Masks are torch.nn.utils.prune masks and only grow.

As in the authors' code (ganguli-lab/Synaptic-Flow `Pruners/pruners.py`, copied into Park & No's
`pruning/synflow.py`) every floating parameter and buffer is made absolute, BN running statistics and biases
included (used, never pruned). Ours differs in three details: float64 (R is a product of layer norms: about
5e70 for a fresh kdlib cifar_resnet56, beyond float32; the authors' `model.double()` is commented out), a deep
copy does the work (the model is left untouched but for its masks), and exactly round(s * n) weights end up
pruned, ties going to the earlier position (the authors' kthvalue threshold `score <= t` over-prunes on ties).
"""
from __future__ import annotations

import copy
import itertools

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from .prune import check_sparsity, make_permanent, prunable, sparsity_of


def _linearized(model: nn.Module, first_conv: bool, classifier: bool) -> tuple[nn.Module, list[torch.Tensor]]:
    """A float64 eval-mode copy with masks folded in (pruned weights = 0) and every parameter and buffer |.|."""
    # a masked module's `weight` is computed (weight_orig * mask, a non-leaf deepcopy refuses): copy without it
    computed = [(m, m.__dict__.pop("weight")) for m in model.modules() if "weight" in m.__dict__]
    try:
        work = copy.deepcopy(model)
    finally:
        for m, w in computed:
            m.__dict__["weight"] = w
    for m in work.modules():
        if hasattr(m, "weight_orig"):
            m.weight = m.weight_orig * m.weight_mask
    make_permanent(work)
    work.double().eval()
    with torch.no_grad():
        for t in itertools.chain(work.parameters(), work.buffers()):
            if t.is_floating_point():
                t.abs_()
    return work, [m.weight for _, m in prunable(work, first_conv, classifier)]


def _scores(work: nn.Module, weights: list[torch.Tensor], example_shape) -> list[torch.Tensor]:
    x = torch.ones(tuple(example_shape), dtype=torch.float64, device=weights[0].device)
    with torch.enable_grad():
        for w in weights:
            w.requires_grad_(True)
        grads = torch.autograd.grad(work(x).sum(), weights, allow_unused=True)
    return [torch.zeros_like(w) if g is None else (w.detach() * g).abs() for w, g in zip(weights, grads)]


def synflow_scores(model: nn.Module, example_shape=(1, 3, 32, 32), *, first_conv: bool = True,
                   classifier: bool = True) -> dict[nn.Module, torch.Tensor]:
    """The SynFlow score |theta * dR/dtheta| of every prunable weight (float64, the weight's shape); masked
    weights score 0. `example_shape` is the all-ones input's shape, batch of 1 included."""
    layers = [m for _, m in prunable(model, first_conv, classifier)]
    work, weights = _linearized(model, first_conv, classifier)
    return dict(zip(layers, _scores(work, weights, example_shape)))


def _lowest(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k smallest scores, ties broken by position (deterministic on any device)."""
    t = scores.kthvalue(k).values
    below = (scores < t).nonzero().squeeze(1)
    return torch.cat([below, (scores == t).nonzero().squeeze(1)[:k - len(below)]])


def synflow_prune(model: nn.Module, sparsity: float, *, iterations: int = 100, example_shape=(1, 3, 32, 32),
                  first_conv: bool = True, classifier: bool = True) -> float:
    """Prune the Conv2d/Linear weights (see `prunable`) to exactly round(sparsity * n) zeros with iterative
    SynFlow; already-masked weights stay masked and count towards the target. Returns `sparsity_of(model)`."""
    check_sparsity(sparsity)
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    layers = [m for _, m in prunable(model, first_conv, classifier)]
    if not layers:
        raise ValueError("the model has no Conv2d/Linear weights to prune")
    work, weights = _linearized(model, first_conv, classifier)
    device = weights[0].device
    alive = torch.cat([getattr(m, "weight_mask", torch.ones_like(m.weight)).flatten().to(device) != 0
                       for m in layers])
    n, target = alive.numel(), round(sparsity * alive.numel())
    done = n - int(alive.sum())
    if target < done:
        raise ValueError(f"the model is already sparser than {sparsity}; masks only grow")
    d0, d = 1 - done / n, 1 - target / n
    for k in range(1, iterations + 1):
        goal = target if k == iterations else min(target, n - round(n * d0 * (d / d0) ** (k / iterations)))
        if goal <= done:
            continue
        scores = torch.cat([s.flatten() for s in _scores(work, weights, example_shape)])
        scores[~alive] = float("inf")  # pruned weights are out of the ranking, not re-counted
        alive[_lowest(scores, goal - done)] = False
        done = goal
        with torch.no_grad():  # the next round's flow runs through the surviving weights only
            offset = 0
            for w in weights:
                w.mul_(alive[offset:offset + w.numel()].view(w.shape))
                offset += w.numel()
    offset = 0
    for m in layers:
        keep = alive[offset:offset + m.weight.numel()].view(m.weight.shape).to(m.weight.device)
        offset += m.weight.numel()
        if torch_prune.is_pruned(m) and hasattr(m, "weight_mask"):
            m.weight_mask.copy_(keep)
            m.weight = m.weight_orig * m.weight_mask  # what the forward pre-hook computes; reads see it now
        else:
            torch_prune.custom_from_mask(m, "weight", keep)
    return sparsity_of(model, first_conv, classifier)
