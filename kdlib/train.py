"""Training: one `fit()` for every notebook; the loss and the pruning steps come in as arguments."""
from __future__ import annotations

import copy
import math
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import files
from .device import autocast, batch_to, is_channels_last, pick_device, prepare

# loss_fn(model, x, y) -> (loss, logits): CE, the KD losses and SimKD all fit this one signature.
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
OPTIMIZERS, SCHEDULES = ("sgd", "adamw"), ("multistep", "cosine", "constant")


@dataclass(frozen=True)
class TrainConfig:
    """How one training runs: batch size, optimiser, schedule and stopping rule (part of a run's id)."""
    epochs: int
    lr: float
    batch_size: int = 128
    optimizer: str = "sgd"          # "sgd" or "adamw"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    betas: tuple = (0.9, 0.999)     # AdamW only
    schedule: str = "multistep"     # "multistep", "cosine" or "constant"; stepped once per epoch
    milestones: tuple = ()          # epochs at which multistep multiplies the lr by gamma
    gamma: float = 0.1
    patience: int | None = None     # early stopping: epochs without a better validation top-1
    min_epochs: int = 0             # before this epoch no best is kept and patience does not count (DG2PF: s_e)
    restore_best: bool = True       # end with the best-on-validation weights
    l1: float = 0.0                 # L1 penalty on Conv/Linear weights (Kieu & Sood's fine-tuning)
    grad_clip: float | None = None
    max_steps: int | None = None    # optimizer steps per epoch at most (the dry run's cap; None: the whole epoch)

    def __post_init__(self):
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        problems = config_problems(self)
        if problems:
            raise ValueError(f"invalid training config: {'; '.join(problems)}")


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def config_problems(c: TrainConfig) -> list[str]:
    """Every value of `c` that cannot describe a real training, in words."""
    checks = [
        (isinstance(c.epochs, int) and not isinstance(c.epochs, bool) and c.epochs >= 1, f"epochs must be an integer >= 1, got {c.epochs!r}"),
        (_finite(c.lr) and c.lr > 0, f"lr must be a finite number > 0, got {c.lr!r}"),
        (isinstance(c.batch_size, int) and c.batch_size >= 1, f"batch_size must be an integer >= 1, got {c.batch_size!r}"),
        (c.optimizer in OPTIMIZERS, f"unknown optimizer {c.optimizer!r}; valid: 'sgd', 'adamw'"),
        (c.schedule in SCHEDULES, f"unknown schedule {c.schedule!r}; valid: 'multistep', 'cosine', 'constant'"),
        (_finite(c.momentum) and 0 <= c.momentum < 1, f"momentum must be in [0, 1), got {c.momentum!r}"),
        (_finite(c.weight_decay) and c.weight_decay >= 0, f"weight_decay must be >= 0, got {c.weight_decay!r}"),
        (_finite(c.gamma) and c.gamma > 0, f"gamma must be > 0, got {c.gamma!r}"),
        (_finite(c.l1) and c.l1 >= 0, f"l1 must be >= 0, got {c.l1!r}"),
        (c.patience is None or (isinstance(c.patience, int) and c.patience >= 1), f"patience must be None or >= 1, got {c.patience!r}"),
        (isinstance(c.min_epochs, int) and 0 <= c.min_epochs <= c.epochs if isinstance(c.epochs, int) else True,
         f"min_epochs must be in [0, epochs], got {c.min_epochs!r}"),
        (c.grad_clip is None or (_finite(c.grad_clip) and c.grad_clip > 0), f"grad_clip must be None or > 0, got {c.grad_clip!r}"),
        (c.max_steps is None or (isinstance(c.max_steps, int) and c.max_steps >= 1), f"max_steps must be None or >= 1, got {c.max_steps!r}"),
        (len(c.betas) == 2 and all(0 <= b < 1 for b in c.betas), f"betas must be two numbers in [0, 1), got {c.betas!r}"),
        (list(c.milestones) == sorted(set(c.milestones)) and all(m >= 1 for m in c.milestones),
         f"milestones must be increasing epochs >= 1, got {c.milestones!r}"),
    ]
    return [message for ok, message in checks if not ok]


def cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain cross-entropy: the loss of every model trained without a teacher."""
    logits = model(x)
    return F.cross_entropy(logits, y), logits


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


def make_schedule(opt: torch.optim.Optimizer, cfg: TrainConfig):
    """Stepped once per epoch, as the papers' code does."""
    if cfg.schedule == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(opt, list(cfg.milestones), cfg.gamma)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 1.0)


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


def _call(callbacks, hook: str, *args) -> None:
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(*args)


def fit(model: nn.Module, train_loader: Iterable, val_loader: Iterable | None = None, *,
        config: TrainConfig, seed: int = 0, loss_fn: LossFn = cross_entropy, callbacks: Sequence = (),
        checkpoint: str | Path | None = None, device: str | torch.device = "auto",
        progress: bool = True, desc: str = "fit") -> FitResult:
    """Train `model` in place for config.epochs with `loss_fn`; returns history and the best epoch.

    `seed` drives everything random inside training (dropout, callbacks); the data order is the loader's.
    Callbacks may define on_epoch_start(model, epoch), on_batch_start(model), on_after_backward(model),
    on_batch_end(model) and on_epoch_end(model, epoch, row). With `checkpoint` (a folder), the state is saved
    atomically with a checksum after every epoch and a later call resumes from it exactly.
    """
    cfg, device = config, pick_device(device)
    seed_everything(seed)
    model = prepare(model, device)
    opt, rows = make_optimizer(model, cfg), []
    sched = make_schedule(opt, cfg)
    start, best_top1, best_epoch, best_state, bad_epochs = 0, -1.0, -1, None, 0
    ckpt = Path(checkpoint) / "last.pt" if checkpoint else None
    state = load_checkpoint(ckpt, device) if ckpt else None
    if state is not None:
        attach_missing_masks(model, state["model"])
        model.load_state_dict(state["model"])
        refresh_masked_weights(model)
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
            save_checkpoint({"model": model.state_dict(), "optimizer": opt.state_dict(), "rng": torch.get_rng_state(),
                             "scheduler": sched.state_dict(), "epoch": epoch, "history": rows,
                             "bad_epochs": bad_epochs, "best_top1": best_top1, "best_epoch": best_epoch,
                             "best_state": best_state}, ckpt)
        if stopped:
            break
    if cfg.restore_best and best_state is not None and val_loader is not None:
        model.load_state_dict(best_state)
        refresh_masked_weights(model)
    history = pd.DataFrame(rows)
    speed = history["images"].sum() / history["seconds"].sum() if len(history) else float("nan")
    return FitResult(history, best_epoch, best_top1 if val_loader is not None else float("nan"), speed, stopped)


def _train_epoch(model, loader, opt, loss_fn, cfg, callbacks, device, epoch) -> dict:
    model.train()
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)
    _call(callbacks, "on_epoch_start", model, epoch)
    t0, loss_sum, hits, seen, steps = time.perf_counter(), 0.0, 0, 0, 0
    for x, y in loader:
        if cfg.max_steps is not None and steps >= cfg.max_steps:
            break
        x, y = batch_to(x, device, is_channels_last(model)), y.to(device, non_blocking=True)
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
        steps += 1
    if steps == 0:
        raise ValueError(f"epoch {epoch} made no optimizer step: the training loader gave no batch "
                         f"(batch_size {cfg.batch_size}); check the training set's size")
    seconds = time.perf_counter() - t0
    return {"epoch": epoch, "lr": opt.param_groups[0]["lr"], "train_loss": loss_sum / max(seen, 1),
            "train_top1": hits / max(seen, 1), "images": seen, "steps": steps, "seconds": seconds}


# ---------------------------------------------------------------- checkpoints
def save_checkpoint(state: dict, path: Path) -> None:
    """The epoch state, atomically, with its SHA-256 beside it (written after it: a checksum never lies)."""
    files.save_torch(state, path)
    files.write_text(path.with_suffix(".sha256"), files.sha256(path))


def load_checkpoint(path: Path, device) -> dict | None:
    """The checkpoint at `path` if it is intact, else None (with a warning: the training starts afresh)."""
    if not path.exists():
        return None
    digest = path.with_suffix(".sha256")
    problem = None
    if not digest.exists() or digest.read_text().strip() != files.sha256(path):
        problem = "its checksum does not match (damaged or half-written)"
    else:
        try:
            return torch.load(path, map_location=device, weights_only=True)
        except Exception as error:  # truncated, empty or a foreign pickle: never block the run
            problem = f"it cannot be read ({type(error).__name__})"
    warnings.warn(f"checkpoint {path} is unusable: {problem}; training restarts from the beginning", stacklevel=3)
    path.unlink(missing_ok=True)
    digest.unlink(missing_ok=True)
    return None


def attach_missing_masks(model: nn.Module, state: dict) -> None:
    """Give `model` the pruning masks a saved state has (a checkpoint taken after pruning started)."""
    from torch.nn.utils import prune
    modules = dict(model.named_modules())
    for key, mask in state.items():
        name = key[: -len(".weight_mask")]
        if key.endswith(".weight_mask") and not hasattr(modules[name], "weight_mask"):
            prune.custom_from_mask(modules[name], "weight", mask.bool())


def refresh_masked_weights(model: nn.Module) -> None:
    """Recompute weight = weight_orig * weight_mask after loading a state: torch only does it at the next
    forward, and a pruning step that reads `weight` before that would see the pre-load values."""
    for m in model.modules():
        if hasattr(m, "weight_orig") and hasattr(m, "weight_mask"):
            m.weight = m.weight_orig * m.weight_mask
