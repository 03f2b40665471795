"""Sparsity-matched students (Park & No 2022, Sec. 5.3): a dense student whose layers hold about as many
weights as the pruned teacher's layers keep."""
from __future__ import annotations

import math
from typing import Sequence

from torch import nn

from .models import Net
from .prune import layer_counts


def conv_nonzeros(model: nn.Module) -> list[int]:
    """Nonzero weights of every Conv2d, in order (masked weights count as zero)."""
    return [c["nonzero"] for c in layer_counts(model) if isinstance(c["module"], nn.Conv2d)]


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


def vgg_student_plan(pruned_teacher: nn.Module, teacher_plan: Sequence, in_channels: int = 3) -> list:
    """The VGG plan of the student matched to a pruned VGG teacher (its FC is c_last x classes, not matched)."""
    return vgg_plan(teacher_plan, conv_nonzeros(pruned_teacher), in_channels)


def stage_densities(model: Net) -> list[float]:
    """Fraction of nonzero conv weights in each residual stage of a `resnet_cifar` model."""
    out = []
    for stage in model.features:
        if isinstance(stage, nn.Sequential):
            convs = [c for c in layer_counts(stage) if isinstance(c["module"], nn.Conv2d)]
            out.append(sum(c["nonzero"] for c in convs) / sum(c["weights"] for c in convs))
    return out


def resnet_widths(widths: Sequence[int], densities: Sequence[float]) -> list[int]:
    """One width per stage, w_s = round(c_s * sqrt(density_s)): a c -> c conv's weights scale with width^2.

    Park & No hard-code these widths without saying how they were derived; this rule is our inference.
    """
    return [max(1, round(c * math.sqrt(d))) for c, d in zip(widths, densities)]


def resnet_student_widths(pruned_teacher: Net, widths: Sequence[int]) -> list[int]:
    """The stage widths of the ResNet student of a pruned `resnet_cifar` teacher (the stem keeps its width)."""
    return resnet_widths(widths, stage_densities(pruned_teacher))
