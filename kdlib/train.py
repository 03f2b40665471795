"""Training: one `fit()` for every notebook; the loss and the pruning steps come in as arguments."""
from __future__ import annotations

import contextlib
import copy
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

# loss_fn(model, x, y) -> (loss, logits): CE, the KD losses and SimKD all fit this one signature.
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class TrainConfig:
    """Optimiser, schedule and stopping rule of one training; plain values, so it hashes into a run id."""
    epochs: int = 10
    lr: float = 0.1
    optimizer: str = "sgd"          # "sgd" or "adamw"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    betas: tuple = (0.9, 0.999)     # AdamW only
    schedule: str = "multistep"     # "multistep", "cosine" or "constant"
    milestones: tuple = ()          # epochs at which multistep multiplies the lr by gamma
    gamma: float = 0.1
    patience: int | None = None     # early stopping: epochs without a better validation top-1
    min_epochs: int = 0             # before this epoch no best is kept and patience does not count (DG2PF: s_e)
    restore_best: bool = True       # end with the best-on-validation weights
    l1: float = 0.0                 # L1 penalty on Conv/Linear weights (Kieu & Sood's fine-tuning)
    grad_clip: float | None = None
    seed: int = 0


def cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain cross-entropy: the loss of every model trained without a teacher."""
    logits = model(x)
    return F.cross_entropy(logits, y), logits


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """cuda, then mps, then cpu; on CPU use every core this process may run on."""
    if str(device) != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    return torch.device("cpu")


def autocast(device: torch.device):
    """bf16 autocast on CUDA, nothing elsewhere (CPU results stay exact and reproducible)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def prepare(model: nn.Module, device: torch.device) -> nn.Module:
    """Move a model to `device`, channels_last on CUDA and CPU (measured 1.1-1.5x faster training on CPU)."""
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if device.type in ("cuda", "cpu") else model


def batch_to(x: torch.Tensor, device: torch.device, channels_last: bool = True) -> torch.Tensor:
    """An input batch on `device`, images in channels_last where `prepare` puts the models in it."""
    x = x.to(device, non_blocking=True)
    if channels_last and x.dim() == 4 and device.type in ("cuda", "cpu"):
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def is_channels_last(model: nn.Module) -> bool:
    """Whether the model's conv weights are in channels_last (after `prepare`); inputs are best given alike."""
    return any(p.dim() == 4 and not p.is_contiguous() and p.is_contiguous(memory_format=torch.channels_last)
               for p in model.parameters())


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; valid: 'sgd', 'adamw'")


def make_schedule(opt: torch.optim.Optimizer, cfg: TrainConfig):
    """Stepped once per epoch, as the papers' code does."""
    if cfg.schedule == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(opt, list(cfg.milestones), cfg.gamma)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(cfg.epochs, 1))
    if cfg.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 1.0)
    raise ValueError(f"unknown schedule {cfg.schedule!r}; valid: 'multistep', 'cosine', 'constant'")


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, device: str | torch.device = "auto",
             topk: Sequence[int] = (1, 5)) -> dict:
    """Top-k accuracy (fractions in [0, 1]) and mean cross-entropy of `model` on `loader`."""
    device = pick_device(device)
    was_training = model.training
    model.eval()
    hits, total, loss_sum = {k: 0 for k in topk}, 0, 0.0
    channels_last = is_channels_last(model)
    for x, y in loader:
        x, y = batch_to(x, device, channels_last), y.to(device, non_blocking=True)
        with autocast(device):
            logits = model(x).float()
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        top = logits.topk(min(max(topk), logits.shape[1]), dim=1).indices
        for k in topk:
            hits[k] += (top[:, :k] == y[:, None]).any(dim=1).sum().item()
        total += len(y)
    model.train(was_training)
    if total == 0:
        raise ValueError("evaluate() got an empty loader")
    return {**{f"top{k}": hits[k] / total for k in topk}, "loss": loss_sum / total}


def l1_penalty(model: nn.Module) -> torch.Tensor:
    return sum(m.weight.abs().sum() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


@dataclass
class FitResult:
    """What fit() returns: per-epoch history, the best validation top-1 and when it was reached."""
    history: pd.DataFrame
    best_epoch: int
    best_val_top1: float
    images_per_second: float
    stopped_early: bool = False
    extra: dict = field(default_factory=dict)


def _save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _call(callbacks, hook: str, *args) -> None:
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(*args)


def fit(model: nn.Module, train_loader: Iterable, val_loader: Iterable | None = None, *,
        config: TrainConfig, loss_fn: LossFn = cross_entropy, callbacks: Sequence = (),
        checkpoint: str | Path | None = None, device: str | torch.device = "auto",
        progress: bool = True, desc: str = "fit") -> FitResult:
    """Train `model` in place for config.epochs with `loss_fn`; returns history and the best epoch.

    Callbacks may define on_epoch_start(model, epoch), on_batch_start(model), on_after_backward(model),
    on_batch_end(model) and on_epoch_end(model, epoch, row). With `checkpoint` (a folder), the state is saved
    atomically after every epoch and a later call resumes from it.
    """
    cfg, device = config, pick_device(device)
    seed_everything(cfg.seed)
    model = prepare(model, device)
    opt, rows = make_optimizer(model, cfg), []
    sched = make_schedule(opt, cfg)
    start, best_top1, best_epoch, best_state, bad_epochs = 0, -1.0, -1, None, 0
    ckpt = Path(checkpoint) / "last.pt" if checkpoint else None
    if ckpt and ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        attach_missing_masks(model, state["model"])
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        start, rows, bad_epochs = state["epoch"] + 1, state["history"], state["bad_epochs"]
        best_top1, best_epoch, best_state = state["best_top1"], state["best_epoch"], state["best_state"]
    stopped = bool(rows) and cfg.patience is not None and bad_epochs >= cfg.patience
    bar = tqdm(range(start, cfg.epochs), desc=desc, disable=not progress or stopped, leave=False)
    for epoch in bar:
        row = _train_epoch(model, train_loader, opt, loss_fn, cfg, callbacks, device, epoch)
        sched.step()
        if val_loader is not None:
            row.update({f"val_{k}": v for k, v in evaluate(model, val_loader, device).items()})
        score = row.get("val_top1", epoch)  # without validation, the last epoch counts as best
        if epoch + 1 < cfg.min_epochs:
            pass
        elif score > best_top1:
            best_top1, best_epoch, bad_epochs = score, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
        rows.append(row)
        _call(callbacks, "on_epoch_end", model, epoch, row)
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", val=f"{row.get('val_top1', float('nan')):.3f}")
        stopped = cfg.patience is not None and bad_epochs >= cfg.patience
        if ckpt:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            _save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(), "rng": torch.get_rng_state(),
                          "scheduler": sched.state_dict(), "epoch": epoch, "history": rows,
                          "bad_epochs": bad_epochs, "best_top1": best_top1, "best_epoch": best_epoch,
                          "best_state": best_state}, ckpt)
        if stopped:
            break
    if cfg.restore_best and best_state is not None and val_loader is not None:
        model.load_state_dict(best_state)
    history = pd.DataFrame(rows)
    speed = history["images"].sum() / history["seconds"].sum() if len(history) else float("nan")
    return FitResult(history, best_epoch, best_top1 if val_loader is not None else float("nan"), speed, stopped)


def _train_epoch(model, loader, opt, loss_fn, cfg, callbacks, device, epoch) -> dict:
    model.train()
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)
    _call(callbacks, "on_epoch_start", model, epoch)
    t0, loss_sum, hits, seen = time.perf_counter(), 0.0, 0, 0
    for x, y in loader:
        x, y = batch_to(x, device), y.to(device, non_blocking=True)
        _call(callbacks, "on_batch_start", model)
        with autocast(device):
            loss, logits = loss_fn(model, x, y)
            if cfg.l1:
                loss = loss + cfg.l1 * l1_penalty(model)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch}; lower the lr ({cfg.lr})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        _call(callbacks, "on_after_backward", model)
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        _call(callbacks, "on_batch_end", model)
        loss_sum += loss.item() * len(y)
        hits += (logits.argmax(1) == y).sum().item()
        seen += len(y)
    seconds = time.perf_counter() - t0
    return {"epoch": epoch, "lr": opt.param_groups[0]["lr"], "train_loss": loss_sum / max(seen, 1),
            "train_top1": hits / max(seen, 1), "images": seen, "seconds": seconds}


class FeatureBatches:
    """Shuffled (features, labels) batches from tensors in memory; reshuffled per epoch by (seed, epoch)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int = 0, shuffle: bool = True):
        self.x, self.y, self.batch_size, self.seed, self.shuffle, self.epoch = x, y, batch_size, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        n = len(self.y)
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n)
        for i in range(0, n, self.batch_size):
            index = order[i:i + self.batch_size].to(self.x.device)
            yield self.x[index], self.y[index]


@torch.no_grad()
def layer_inputs(model: nn.Module, layer: nn.Module, loader: Iterable, device) -> tuple[torch.Tensor, torch.Tensor]:
    """What `layer` receives for every batch of `loader` (model in eval mode), with the labels."""
    captured, labels = [], []
    hook = layer.register_forward_hook(lambda m, inputs, out: captured.append(inputs[0].detach()))
    model.eval()
    try:
        with torch.no_grad():  # the frozen part needs no autograd graph
            for x, y in loader:
                model(batch_to(x, device))
                labels.append(y.to(device))
    finally:
        hook.remove()
    return torch.cat(captured), torch.cat(labels)


def fit_last_layer(model: nn.Module, layer: nn.Linear, train_loader: Iterable, val_loader: Iterable, *,
                   config: TrainConfig, batch_size: int = 128, device="auto", progress: bool = True) -> FitResult:
    """Fine-tune only the final Linear `layer`, everything before it frozen (BN statistics included).

    The frozen part runs once over the data; the layer then trains on those cached inputs, which is what
    training the last layer alone computes, hundreds of times faster.
    """
    device = pick_device(device)
    model = prepare(model, device)
    xs, ys = layer_inputs(model, layer, train_loader, device)
    xv, yv = layer_inputs(model, layer, val_loader, device)
    head = nn.Sequential(layer)
    ce = lambda m, x, y: (F.cross_entropy(logits := m(x), y), logits)
    return fit(head, FeatureBatches(xs, ys, batch_size, config.seed), FeatureBatches(xv, yv, 1024, shuffle=False),
               config=config, loss_fn=ce, device=device, progress=progress, desc="fit last layer")


def attach_missing_masks(model: nn.Module, state: dict) -> None:
    """Give `model` the pruning masks a saved state has (a checkpoint taken after pruning started)."""
    from torch.nn.utils import prune
    modules = dict(model.named_modules())
    for key, mask in state.items():
        name = key[: -len(".weight_mask")]
        if key.endswith(".weight_mask") and not hasattr(modules[name], "weight_mask"):
            prune.custom_from_mask(modules[name], "weight", mask.bool())
