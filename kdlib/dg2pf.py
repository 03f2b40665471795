"""DG2PF (Fontana et al. 2024): distilled gradual pruning with simulated pruning, then pruned fine-tuning."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable

import torch
from torch import nn
from torch.nn.utils import prune

from . import distill, train
from .prune import check_sparsity, cubic_schedule, l1_unstructured, prunable


def _weights(model: nn.Module) -> list[nn.Module]:
    return [m for _, m in prunable(model)]


def percentile_masks(model: nn.Module, sparsity: float) -> dict[nn.Module, torch.Tensor]:
    """Eq. (1): prune the weights lying between the (1-s)/2 and s+(1-s)/2 percentiles of all weights.

    This removes the central mass of the *signed* distribution; it equals magnitude pruning only when the
    weights are symmetric about zero (a skewed layer loses small positive or negative weights unevenly).
    Eq. (1) as extracted has its inequalities reversed; we keep the weights outside the margins, as the
    text and Fig. 1 say. Already-pruned weights stay pruned; the band is taken over the surviving weights so
    that exactly round(s * n) weights end up pruned.
    """
    check_sparsity(sparsity)
    layers = _weights(model)
    values = torch.cat([m.weight.detach().flatten() for m in layers])
    alive = torch.cat([_mask(m).flatten() for m in layers])
    need = round(sparsity * values.numel()) - int((~alive).sum())
    keep = alive.clone()
    if need > 0:
        survivors = alive.nonzero().squeeze(1)
        order = survivors[values[survivors].argsort()]
        start = (len(order) - need) // 2  # centred band: (1-s)/2 below, (1-s)/2 above
        keep[order[start:start + need]] = False
    out, offset = {}, 0
    for m in layers:
        n = m.weight.numel()
        out[m] = keep[offset:offset + n].view_as(m.weight)
        offset += n
    return out


def _mask(m: nn.Module) -> torch.Tensor:
    mask = getattr(m, "weight_mask", None)
    return torch.ones_like(m.weight, dtype=torch.bool) if mask is None else mask.bool()


def apply_percentile_pruning(model: nn.Module, sparsity: float) -> None:
    """Prune the model to `sparsity` with eq. (1), as torch.nn.utils.prune masks."""
    for m, keep in percentile_masks(model, sparsity).items():
        if prune.is_pruned(m) and hasattr(m, "weight_mask"):
            m.weight_mask.copy_(keep.to(m.weight_mask.dtype))
            m.weight = m.weight_orig * m.weight_mask  # what the forward pre-hook computes; reads see it now
        else:
            prune.custom_from_mask(m, "weight", keep)


def schedule(sparsity: float, epochs: int) -> list[float]:
    """Algorithm 1's delta: s_e evenly spaced sparsities ending at s (s/s_e, 2s/s_e, ..., s).

    "Linearly sample s_e numbers in [0, s]" would start at 0 with linspace; we start at s/s_e so that s_e = 1
    prunes too.
    """
    return [sparsity * (i + 1) / epochs for i in range(epochs)]


SCHEDULES = ("linear", "cubic", "one_shot")  # Algorithm 1's; Zhu & Gupta's; everything at the first epoch
CRITERIA = ("percentile", "magnitude")      # eq. (1); global L1 magnitude


def targets(sparsity: float, epochs: int, kind: str = "linear") -> list[float]:
    """The sparsity to prune to at the start of each of the first epochs, by schedule kind."""
    if kind == "cubic":
        return cubic_schedule(sparsity, epochs)
    if kind == "one_shot":
        return [sparsity]
    return schedule(sparsity, epochs)


class GradualPruning:
    """fit() callback: at the start of epoch i, prune to targets[i] (Algorithm 1 with eq. 1, or magnitude)."""

    def __init__(self, sparsity: float, epochs: int, kind: str = "linear", criterion: str = "percentile"):
        self.targets, self.criterion = targets(sparsity, epochs, kind), criterion

    def on_epoch_start(self, model: nn.Module, epoch: int) -> None:
        if epoch < len(self.targets):
            if self.criterion == "percentile":
                apply_percentile_pruning(model, self.targets[epoch])
            else:
                l1_unstructured(model, self.targets[epoch])


def margins(model: nn.Module, sparsity: float) -> tuple[float, float]:
    """Eq. (1)'s margins m_l, m_r: the (1-s)/2 and s+(1-s)/2 quantiles of all prunable weights (Fig. 1)."""
    values = torch.cat([m.weight.detach().flatten() for m in _weights(model)]).sort().values
    n = len(values) - 1
    return float(values[round(n * (1 - sparsity) / 2)]), float(values[round(n * (sparsity + (1 - sparsity) / 2))])


class SimulatedPruning:
    """fit() callback, eqs. (2)-(3): during the first s_e epochs, zero the s_sim fraction of surviving weights
    with the largest p = 1 - |w| / max|w| (the smallest magnitudes, over the whole model) for the forward and
    backward pass, then restore them before the optimizer step. The gradient reaches the zeroed weights
    unchanged (straight-through), so they can grow back.
    """

    def __init__(self, fraction: float, epochs: int):
        check_sparsity(fraction)
        self.fraction, self.epochs, self.epoch, self.saved = fraction, epochs, 0, []

    def on_epoch_start(self, model: nn.Module, epoch: int) -> None:
        self.epoch = epoch

    def on_batch_start(self, model: nn.Module) -> None:
        if self.epoch >= self.epochs or self.fraction == 0:
            return
        layers = _weights(model)
        params = [getattr(m, "weight_orig", m.weight) for m in layers]
        alive = torch.cat([_mask(m).flatten() for m in layers])
        magnitude = torch.cat([p.detach().abs().flatten() for p in params])
        p_score = 1 - magnitude / magnitude[alive].max()  # eq. (3)
        k = round(self.fraction * int(alive.sum()))
        candidates = alive.nonzero().squeeze(1)
        chosen = candidates[p_score[candidates].topk(k).indices] if k else candidates[:0]
        drop = torch.zeros_like(alive)
        drop[chosen] = True
        self.saved, offset = [], 0
        for param in params:
            n = param.numel()
            sel = drop[offset:offset + n].view_as(param)
            self.saved.append((param, sel, param.detach()[sel].clone()))
            param.data[sel] = 0
            offset += n

    def on_after_backward(self, model: nn.Module) -> None:
        for param, sel, values in self.saved:
            param.data[sel] = values
        self.saved = []


def _dgp_default() -> train.TrainConfig:
    return train.TrainConfig(epochs=100, lr=1e-5, optimizer="adamw", weight_decay=1e-2, schedule="constant", patience=4)


def _pf_default() -> train.TrainConfig:
    return train.TrainConfig(epochs=100, lr=1e-4, weight_decay=5e-4, schedule="constant", patience=4)


@dataclass(frozen=True)
class DG2PFConfig:
    """Paper settings (Sec. IV-B) as defaults: s = 90%, s_e = 15, s_sim = 10%, alpha = 0.9, tau = 0.5, AdamW 1e-5
    during DGP, then SGD 1e-4 during PF, each stopping early on validation accuracy (patience 4, the authors' code)."""
    sparsity: float = 0.9
    pruning_epochs: int = 15
    simulated_sparsity: float = 0.1
    alpha: float = 0.9
    temperature: float = 0.5
    gamma: float = 1.0
    beta: float = 0.1
    corrected_labels: str = "student"   # eq. (6): "student" (the paper's text) or "teacher" (Meyer & Wong's code)
    # The components, switchable so that baselines get DG2PF's optimiser and epoch budget exactly:
    schedule: str = "linear"            # "linear" (Alg. 1), "cubic" (gradual magnitude pruning), "one_shot"
    criterion: str = "percentile"       # "percentile" (eq. 1) or "magnitude" (global L1)
    distill: bool = True                # False: the DGP phase trains with plain cross-entropy, no teacher
    dgp: train.TrainConfig = field(default_factory=_dgp_default)
    pf: train.TrainConfig = field(default_factory=_pf_default)

    def __post_init__(self):
        check_sparsity(self.sparsity)
        check_sparsity(self.simulated_sparsity)
        distill.check_loss_args(self.temperature, self.alpha)
        problems = [msg for ok, msg in [
            (isinstance(self.pruning_epochs, int) and 1 <= self.pruning_epochs <= self.dgp.epochs,
             f"pruning_epochs must be in [1, dgp.epochs], got {self.pruning_epochs!r}"),
            (self.gamma >= 0 and self.beta >= 0, f"gamma and beta must be >= 0, got {self.gamma}, {self.beta}"),
            (self.corrected_labels in ("student", "teacher"), f"corrected_labels must be 'student' or 'teacher', got {self.corrected_labels!r}"),
            (self.schedule in SCHEDULES, f"unknown schedule {self.schedule!r}; valid: {', '.join(SCHEDULES)}"),
            (self.criterion in CRITERIA, f"unknown criterion {self.criterion!r}; valid: {', '.join(CRITERIA)}")] if not ok]
        if problems:
            raise ValueError(f"invalid DG2PF config: {'; '.join(problems)}")


def dg2pf(model: nn.Module, teacher: nn.Module, train_loader: Iterable, val_loader: Iterable,
          cfg: DG2PFConfig, *, seed: int = 0, checkpoint=None, device="auto", progress: bool = True,
          test_loader: Iterable | None = None) -> dict:
    """Algorithms 1 and 2: distilled gradual pruning (KD from `teacher`), then fine-tuning without the teacher.

    Both phases stop early on validation top-1; the DGP phase never stops (nor keeps a best) before s_e epochs.
    Returns both phases' FitResults (and the test metrics between them, given `test_loader`); the model ends
    pruned (masks attached) at cfg.sparsity.
    """
    loss = train.cross_entropy if not cfg.distill else distill.Distill(
        teacher, cfg.temperature, cfg.alpha, loss=distill.dg2pf_loss, gamma=cfg.gamma, beta=cfg.beta,
        corrected_labels=cfg.corrected_labels)
    callbacks = [GradualPruning(cfg.sparsity, cfg.pruning_epochs, cfg.schedule, cfg.criterion),
                 SimulatedPruning(cfg.simulated_sparsity, cfg.pruning_epochs)]
    dgp_cfg = replace(cfg.dgp, min_epochs=max(cfg.dgp.min_epochs, cfg.pruning_epochs))
    sub = lambda name: None if checkpoint is None else f"{checkpoint}/{name}"
    dgp = train.fit(model, train_loader, val_loader, config=dgp_cfg, seed=seed, loss_fn=loss, callbacks=callbacks,
                    checkpoint=sub("dgp"), device=device, progress=progress, desc="DG2PF: distilled gradual pruning")
    after_dgp = train.evaluate(model, test_loader, device) if test_loader is not None else {}
    pf = train.fit(model, train_loader, val_loader, config=cfg.pf, seed=seed, checkpoint=sub("pf"), device=device,
                   progress=progress, desc="DG2PF: pruned fine-tuning")
    return {"dgp": dgp, "pf": pf, "after_dgp": after_dgp}
