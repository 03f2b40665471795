"""Pruning: L1 unstructured (torch.nn.utils.prune masks), L1 channel pruning that removes channels
(Torch-Pruning), and iterative pruning with retraining (LR rewinding, Kieu & Sood's iterations).

`sparsity` is always the fraction of zeroed Conv/Linear weights in [0, 1); biases and BN are never pruned.
"""
from __future__ import annotations

import copy
import json
import math
from collections import OrderedDict
from contextlib import contextmanager

import torch
import torch_pruning as tp
from torch import nn
from torch.nn.utils import prune

from .models import check_classes, classifier_layers, load_weights

PRUNABLE = (nn.Conv2d, nn.Linear)


def prunable(model: nn.Module, first_conv: bool = True, classifier: bool = True,
             part: str = "") -> list[tuple[str, nn.Module]]:
    """The (name, module) pairs whose weights may be pruned: every Conv2d and Linear (inside the submodule `part`,
    a dotted path, when given), with switches for the first conv and the classifier."""
    layers = [(n, m) for n, m in model.named_modules()
              if isinstance(m, PRUNABLE) and (not part or n == part or n.startswith(part + "."))]
    if layers and not first_conv:
        layers = layers[1:]
    if layers and not classifier:
        last = classifier_layers(model)
        layers = [(n, m) for n, m in layers if all(m is not c for c in last)]
    return layers


def check_sparsity(sparsity: float) -> None:
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")


def layer_counts(model: nn.Module, first_conv: bool = True, classifier: bool = True, part: str = "") -> list[dict]:
    """The project's one nonzero counter: per prunable layer, its name, module, weights and nonzero weights
    (a masked weight counts as zero whatever value it holds)."""
    return [{"layer": n, "module": m, "weights": m.weight.numel(), "nonzero": int((m.weight != 0).sum())}
            for n, m in prunable(model, first_conv, classifier, part)]


def _pruned_count(module: nn.Module) -> int:
    """Weights already masked in `module` (the masks only grow)."""
    mask = getattr(module, "weight_mask", None)
    return 0 if mask is None else int((mask == 0).sum())


def l1_unstructured(model: nn.Module, sparsity: float, *, scope: str = "global", first_conv: bool = True,
                    classifier: bool = True, part: str = "") -> float:
    """Mask the smallest-|w| weights until exactly `sparsity` of the chosen weights are zero (Han et al. 2015).

    scope="global" ranks all layers together, "layer" prunes every layer to `sparsity`. Masks nest: weights
    pruned earlier stay pruned. Returns the sparsity reached.
    """
    check_sparsity(sparsity)
    layers = prunable(model, first_conv, classifier, part)
    if scope not in ("global", "layer"):
        raise ValueError(f"unknown scope {scope!r}; valid: 'global', 'layer'")
    with _contiguous([m for _, m in layers]):
        if scope == "global":
            total = sum(m.weight.numel() for _, m in layers)
            amount = round(sparsity * total) - sum(_pruned_count(m) for _, m in layers)
            if amount < 0:
                raise ValueError(f"the model is already sparser than {sparsity}; masks only grow")
            prune.global_unstructured([(m, "weight") for _, m in layers], prune.L1Unstructured, amount=amount)
        else:
            for _, m in layers:
                amount = round(sparsity * m.weight.numel()) - _pruned_count(m)
                prune.l1_unstructured(m, "weight", amount=max(amount, 0))
    return sparsity_of(model, first_conv, classifier, part)


@contextmanager
def _contiguous(modules: list[nn.Module]):
    """torch's global pruning flattens weights with .view, which channels_last weights refuse: convert meanwhile."""
    changed = [m for m in modules if m.weight.dim() == 4 and not m.weight.is_contiguous()]

    def convert(fmt):
        for m in changed:
            m.to(memory_format=fmt)  # same Parameter objects, so optimizers keep tracking them
            if hasattr(m, "weight_orig"):  # the masked weight the forward pre-hook computes, in the new layout
                m.weight = m.weight_orig * m.weight_mask
    convert(torch.contiguous_format)
    try:
        yield
    finally:
        convert(torch.channels_last)


def sparsity_of(model: nn.Module, first_conv: bool = True, classifier: bool = True, part: str = "") -> float:
    """Fraction of zero weights over the prunable layers (masked weights count as zero)."""
    counts = layer_counts(model, first_conv, classifier, part)
    return 1 - sum(c["nonzero"] for c in counts) / max(1, sum(c["weights"] for c in counts))


def masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """The current pruning masks as {module name: bool tensor, True = kept}."""
    return {n: m.weight_mask.bool().clone() for n, m in model.named_modules() if hasattr(m, "weight_mask")}


def make_permanent(model: nn.Module) -> dict[str, torch.Tensor]:
    """Fold the masks into the weights (prune.remove) before saving, copying or quantizing; returns the masks."""
    kept = masks(model)
    for name, module in model.named_modules():
        if prune.is_pruned(module) and hasattr(module, "weight_mask"):
            prune.remove(module, "weight")
    return kept


def apply_masks(model: nn.Module, kept: dict[str, torch.Tensor]) -> nn.Module:
    """Re-attach saved masks (e.g. to resume masked training from permanent weights)."""
    modules = dict(model.named_modules())
    missing = sorted(set(kept) - set(modules))
    if missing:
        raise KeyError(f"masks name modules the model lacks: {missing[:5]}")
    for name, mask in kept.items():
        prune.custom_from_mask(modules[name], "weight", mask.to(modules[name].weight.device))
    return model


# ---------------------------------------------------------------- iterative pruning
def geometric_targets(rate: float, rounds: int) -> list[float]:
    """Sparsity after each round when every round removes `rate` of the remaining weights: 1 - (1-rate)^r."""
    return [1 - (1 - rate) ** r for r in range(1, rounds + 1)]


def lr_rewinding_rounds(target: float, rate: float = 0.2) -> int:
    """Park & No's round count: the r minimising |target - (1 - (1-rate)^r)| (36% -> 2, 59% -> 4, 79% -> 7)."""
    check_sparsity(target)
    if not 0 < rate < 1:
        raise ValueError(f"rate must be in (0, 1): each round removes that fraction of the remaining weights; got {rate}")
    return min(range(0, 200), key=lambda r: abs(target - (1 - (1 - rate) ** r)))


def cubic_schedule(sparsity: float, epochs: int) -> list[float]:
    """Zhu & Gupta 2017 gradual magnitude pruning: s_t = s (1 - (1 - t/n)^3) at the start of epochs t = 1..n."""
    return [sparsity * (1 - (1 - (i + 1) / epochs) ** 3) for i in range(epochs)]


class MagnitudeSchedule:
    """fit() callback: global L1 magnitude pruning to targets[epoch] at each epoch start (the GMP baseline)."""

    def __init__(self, targets: list[float]):
        self.targets = targets

    def on_epoch_start(self, model: nn.Module, epoch: int) -> None:
        if epoch < len(self.targets):
            l1_unstructured(model, self.targets[epoch])



# ---------------------------------------------------------------- channel pruning (structured)
def channel_l1(model: nn.Module, example: torch.Tensor, ratio: float | None = None, *,
               param_reduction: float | None = None, round_to: int | None = None, part: str = "") -> dict:
    """Remove the lowest-L1 filters of every layer (Li et al. 2017) through Torch-Pruning; in place.

    Give `ratio`, the fraction of channels removed per layer, or `param_reduction`, the fraction of
    parameters to remove (the channel ratio is then found by bisection). The classifier's outputs are kept;
    with `part`, only layers inside that submodule lose output channels and `param_reduction` counts its
    parameters. Returns the shape spec needed to rebuild the pruned model.
    """
    if (ratio is None) == (param_reduction is None):
        raise ValueError("give exactly one of ratio (channel fraction) or param_reduction (parameter fraction)")
    if param_reduction is not None:
        if not 0 <= param_reduction < 1:
            raise ValueError(f"param_reduction must be in [0, 1), got {param_reduction}")
        ratio = ratio_for_reduction(model, example, param_reduction, part=part)
    if not 0 <= ratio < 1:
        raise ValueError(f"channel ratio must be in [0, 1): {ratio} would remove every channel")
    if ratio > 0:
        importance = tp.importance.GroupMagnitudeImportance(p=1, group_reduction="first", normalizer=None)
        inside = {id(m) for _, m in prunable(model, part=part)}
        outside = [m for m in model.modules() if isinstance(m, PRUNABLE) and id(m) not in inside]
        pruner = tp.pruner.BasePruner(model, example, importance=importance, pruning_ratio=ratio,
                                      ignored_layers=classifier_layers(model) + outside, round_to=round_to)
        pruner.step()
    return shape_spec(model)


_RATIOS: OrderedDict[tuple, float] = OrderedDict()  # (architecture, input shape, reduction) -> ratio; bounded


def ratio_for_reduction(model: nn.Module, example: torch.Tensor, reduction: float, steps: int = 6,
                        part: str = "") -> float:
    """The channel ratio whose pruning removes `reduction` of the parameters: bisection on copies, in a bracket
    around 1 - sqrt(1 - reduction) (a conv's weights shrink with both its input and output channels).

    The parameter count after pruning depends only on the architecture, so the ratio is remembered per
    architecture: every seed of a model reuses it.
    """
    key = (json.dumps(shape_spec(model), sort_keys=True), tuple(example.shape), reduction, steps, part)
    if key not in _RATIOS:
        _RATIOS[key] = _bisect_ratio(model, example, reduction, steps, part)
        while len(_RATIOS) > 256:
            _RATIOS.popitem(last=False)
    return _RATIOS[key]


def _bisect_ratio(model: nn.Module, example: torch.Tensor, reduction: float, steps: int, part: str = "") -> float:
    count = lambda m: sum(p.numel() for p in (m.get_submodule(part) if part else m).parameters())
    dense, guess = count(model), 1 - math.sqrt(1 - reduction)
    lo, hi = max(0.0, guess - 0.2), min(0.99, guess + 0.2)
    for _ in range(steps):
        mid = (lo + hi) / 2
        trial = copy.deepcopy(model)
        channel_l1(trial, example, mid, part=part)
        lo, hi = (mid, hi) if 1 - count(trial) / dense < reduction else (lo, mid)
    return (lo + hi) / 2


def shape_spec(model: nn.Module) -> dict:
    """The shapes that channel pruning changes, per module: enough to rebuild the model without pickling."""
    spec = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            spec[name] = {"in_channels": m.in_channels, "out_channels": m.out_channels, "groups": m.groups}
        elif isinstance(m, nn.BatchNorm2d):
            spec[name] = {"num_features": m.num_features}
        elif isinstance(m, nn.Linear):
            spec[name] = {"in_features": m.in_features, "out_features": m.out_features}
    return spec


def rebuild(model: nn.Module, spec: dict) -> nn.Module:
    """Reshape a freshly built model to a channel-pruned spec (weights then come from load_state_dict)."""
    modules = dict(model.named_modules())
    for name, shape in spec.items():
        m = modules.get(name)
        if m is None:
            raise KeyError(f"the spec names module {name!r}, which this model lacks: built from another architecture?")
        for attr, value in shape.items():
            setattr(m, attr, value)
        if isinstance(m, nn.Conv2d):
            m.weight = nn.Parameter(m.weight.new_empty(m.out_channels, m.in_channels // m.groups, *m.kernel_size))
            if m.bias is not None:
                m.bias = nn.Parameter(m.bias.new_empty(m.out_channels))
        elif isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight, m.bias = nn.Parameter(m.weight.new_empty(n)), nn.Parameter(m.bias.new_empty(n))
            m.running_mean, m.running_var = m.running_mean.new_zeros(n), m.running_var.new_ones(n)
        elif isinstance(m, nn.Linear):
            m.weight = nn.Parameter(m.weight.new_empty(m.out_features, m.in_features))
            if m.bias is not None:
                m.bias = nn.Parameter(m.bias.new_empty(m.out_features))
    return model


def load_pruned(model: nn.Module, state: dict, shape: dict | None, source: str = "checkpoint") -> nn.Module:
    """Load a stored model into a freshly built `model`: reshaped to the channel-pruned `shape` (if any) first,
    its class count checked before (a rebuild would silently resize the classifier)."""
    check_classes(model, state, source)
    if shape:
        rebuild(model, shape)
    return load_weights(model, state, source)


def removed_fraction_per_layer(dense: nn.Module, pruned: nn.Module) -> "list[dict]":
    """Per Conv/Linear layer, the fraction of weights removed (channel pruning) or zeroed (weight pruning)."""
    kept = {c["layer"]: c["nonzero"] for c in layer_counts(pruned)}
    return [{"layer": c["layer"], "type": type(c["module"]).__name__, "weights": c["weights"],
             "removed": 1 - kept[c["layer"]] / c["weights"]} for c in layer_counts(dense) if c["layer"] in kept]
