"""Batches of in-memory datasets on the training device: normalised, and augmented in the batch (airbench style)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from .data import Info, TensorSplit


class TensorLoader:
    """Batches of an in-memory split on `device`: normalised, and augmented in the batch when train=True.

    Shuffling and augmentation draw from a generator seeded by (seed, epoch), so a run resumed at an epoch
    boundary sees exactly the batches the uninterrupted run saw.
    """

    def __init__(self, split: TensorSplit, info: Info, batch_size: int, *, train: bool = False,
                 device: str | torch.device = "cpu", seed: int = 0, drop_last: bool | None = None,
                 image_size: int | None = None):
        self.split, self.info, self.batch_size, self.train = split, info, batch_size, train
        self.device, self.seed, self.epoch = torch.device(device), seed, 0
        # drop the ragged last batch while training, unless that would leave no batch at all
        self.drop_last = (train and len(split) > batch_size) if drop_last is None else drop_last
        self.image_size = image_size
        self.x = split.x.to(self.device)
        self.y = split.y.to(self.device)
        self.mean = torch.tensor(info.mean, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(info.std, device=self.device).view(1, -1, 1, 1)

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        gen = torch.Generator(device="cpu").manual_seed(self.seed * 100_003 + self.epoch)
        n = len(self.y)
        order = torch.randperm(n, generator=gen).to(self.device) if self.train else torch.arange(n, device=self.device)
        for i in range(len(self)):
            index = order[i * self.batch_size:(i + 1) * self.batch_size]
            x = self.x[index].float().div_(255)
            if self.train:
                x = augment(x, self.info.crop_padding, gen)
            if self.image_size and self.image_size != x.shape[-1]:
                x = F.interpolate(x, size=self.image_size, mode="bilinear", align_corners=False)
            yield (x - self.mean) / self.std, self.y[index]
        self.epoch += 1


def augment(x: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding and random horizontal flip, for a whole batch at once."""
    b, c, h, w = x.shape
    if padding:
        padded = F.pad(x, (padding,) * 4)
        dy = torch.randint(0, 2 * padding + 1, (b,), generator=gen).to(x.device)
        dx = torch.randint(0, 2 * padding + 1, (b,), generator=gen).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        x = padded[torch.arange(b, device=x.device)[:, None, None, None],
                   torch.arange(c, device=x.device)[None, :, None, None], rows, cols]
    flip = (torch.rand(b, generator=gen) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)
