"""Fine-tuning the last layer alone (Malihi & Heidemann 2024, Sec. 2): the frozen rest runs once over the data."""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .device import batch_to, is_channels_last, pick_device, prepare
from .train import FitResult, TrainConfig, fit


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
        for x, y in loader:
            model(batch_to(x, device, is_channels_last(model)))
            labels.append(y.to(device))
    finally:
        hook.remove()
    return torch.cat(captured), torch.cat(labels)


def fit_last_layer(model: nn.Module, layer: nn.Linear, train_loader: Iterable, val_loader: Iterable, *,
                   config: TrainConfig, seed: int = 0, device="auto", progress: bool = True) -> FitResult:
    """Fine-tune only the final Linear `layer`, everything before it frozen (BN statistics included).

    The frozen part runs once over the data (without augmentation: pass un-augmented loaders); the layer then
    trains on those cached inputs, which is what training the last layer alone computes, far faster.
    """
    device = pick_device(device)
    model = prepare(model, device)
    xs, ys = layer_inputs(model, layer, train_loader, device)
    xv, yv = layer_inputs(model, layer, val_loader, device)
    head = nn.Sequential(layer)
    ce = lambda m, x, y: (F.cross_entropy(logits := m(x), y), logits)
    return fit(head, FeatureBatches(xs, ys, config.batch_size, seed), FeatureBatches(xv, yv, 1024, shuffle=False),
               config=config, seed=seed, loss_fn=ce, device=device, progress=progress, desc="fit last layer")
