"""Sparsity-matched students (Park & No 2022, Sec. 5.3): a dense student whose layers hold about as many
weights as the pruned teacher's layers keep."""
from __future__ import annotations

import math
from typing import Sequence

from torch import nn

from .models import Net, resnet_cifar, vgg_cifar


def conv_nonzeros(model: nn.Module) -> list[int]:
    """Nonzero weights of every Conv2d, in order (masked weights count as zero)."""
    return [int((m.weight != 0).sum()) for m in model.modules() if isinstance(m, nn.Conv2d)]


def vgg_plan(teacher_plan: Sequence, conv_nnz: Sequence[int], in_channels: int = 3, kernel: int = 3) -> list:
    """c_l = round(nnz_l / (k^2 * c_{l-1})) layer by layer, c_0 = input channels; max-pools kept in place.

    (Park & No's automatic builder divides by 3 * c_{l-1} and raises a TypeError; their hard-coded
    VGG19-ST plans follow this formula.)
    """
    convs = iter(conv_nnz)
    plan, previous = [], in_channels
    for v in teacher_plan:
        if v == "M":
            plan.append("M")
            continue
        width = max(1, round(next(convs) / (kernel * kernel * previous)))
        plan.append(width)
        previous = width
    return plan


def vgg_student(pruned_teacher: nn.Module, teacher_plan: Sequence, num_classes: int,
                in_channels: int = 3) -> tuple[list, Net]:
    """The VGG student matched to a pruned VGG teacher (its FC is c_last x classes, not matched)."""
    plan = vgg_plan(teacher_plan, conv_nonzeros(pruned_teacher), in_channels)
    return plan, vgg_cifar(plan, num_classes, in_channels)


def stage_densities(model: Net) -> list[float]:
    """Fraction of nonzero conv weights in each residual stage of a `resnet_cifar` model."""
    out = []
    for stage in model.features:
        if isinstance(stage, nn.Sequential):
            convs = [m for m in stage.modules() if isinstance(m, nn.Conv2d)]
            out.append(sum(int((m.weight != 0).sum()) for m in convs) / sum(m.weight.numel() for m in convs))
    return out


def resnet_widths(widths: Sequence[int], densities: Sequence[float]) -> list[int]:
    """One width per stage, w_s = round(c_s * sqrt(density_s)): a c -> c conv's weights scale with width^2.

    Park & No hard-code these widths without saying how they were derived; this rule is our inference.
    """
    return [max(1, round(c * math.sqrt(d))) for c, d in zip(widths, densities)]


def resnet_student(pruned_teacher: Net, layers: Sequence[int], widths: Sequence[int], num_classes: int,
                   in_channels: int = 3, stem_width: int = 64) -> tuple[list[int], Net]:
    """The ResNet student of a pruned `resnet_cifar` teacher; the stem keeps its width, as in the reference."""
    student_widths = resnet_widths(widths, stage_densities(pruned_teacher))
    return student_widths, resnet_cifar(layers, student_widths, num_classes, in_channels=in_channels,
                                        stem_width=stem_width)
