"""Distillation losses and SimKD. Every loss object is a `loss_fn(model, x, y) -> (loss, logits)` for fit().

`alpha` is always the weight of the soft (teacher) term; each notebook translates its paper's notation.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from .models import Net


def soft_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(softmax(t/T) || softmax(s/T)) averaged over the batch ('batchmean', not the 1/C-smaller 'mean')."""
    return F.kl_div(F.log_softmax(student_logits / temperature, dim=1),
                    F.log_softmax(teacher_logits / temperature, dim=1), reduction="batchmean", log_target=True)


def check_loss_args(temperature: float, alpha: float) -> None:
    """One error for a bad temperature or alpha: temperature finite and > 0, alpha finite in [0, 1]."""
    if not (math.isfinite(temperature) and temperature > 0 and math.isfinite(alpha) and 0 <= alpha <= 1):
        raise ValueError(f"need a finite temperature > 0 and a finite alpha in [0, 1], got temperature={temperature}, "
                         f"alpha={alpha}")


CORRECTED_LABELS = ("student", "teacher")


def _check_corrected_labels(corrected_labels: str) -> None:
    if corrected_labels not in CORRECTED_LABELS:
        raise ValueError(f"unknown corrected_labels {corrected_labels!r}; valid: 'student' (the paper's eq. 6) or "
                         f"'teacher' (Meyer & Wong's code)")


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, y: torch.Tensor,
            temperature: float, alpha: float) -> torch.Tensor:
    """Hinton et al. 2015: alpha * T^2 * KL(p_t^T || p_s^T) + (1 - alpha) * CE(s, y) (Park & No, Sec. 4)."""
    check_loss_args(temperature, alpha)
    soft = soft_kl(student_logits, teacher_logits, temperature) * temperature ** 2
    return alpha * soft + (1 - alpha) * F.cross_entropy(student_logits, y)


def dg2pf_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, y: torch.Tensor,
               temperature: float, alpha: float, gamma: float = 1.0, beta: float = 0.1,
               corrected_labels: str = "student") -> torch.Tensor:
    """Fontana et al. 2024, eqs. (4)-(9): (alpha * KL + (1 - alpha) * PW) * tau^2.

    PW (eq. 7) is a cross-entropy against corrected labels (eq. 6), weighted per sample by
    w_i = (1 - p_teacher[i, y_i])^gamma + beta (eq. 5). corrected_labels="student" (default, decision 13) is the
    paper's text: the student's own probabilities where the student classifies the sample correctly, the one-hot
    label otherwise. "teacher" is the reading of Meyer & Wong's code: the teacher's probabilities where the
    teacher is correct. Weights, corrected labels and the CE use temperature 1.
    Eq. (8) is garbled in the extracted text; we use the KL between the teacher's and the student's
    distributions at temperature tau, as in the authors' code (KL(softmax(t/tau) || softmax(s/tau))).
    """
    check_loss_args(temperature, alpha)
    _check_corrected_labels(corrected_labels)
    p_teacher = F.softmax(teacher_logits, dim=1)
    weights = (1 - p_teacher.gather(1, y[:, None]).squeeze(1)) ** gamma + beta
    # Detached: eq. (6) makes the prediction a label, a constant of the CE. Through it, a correct sample's term
    # would be the student's entropy and PW would push it to overconfidence; detached, its gradient is 0.
    source = student_logits.detach() if corrected_labels == "student" else teacher_logits
    p_source = F.softmax(source, dim=1)
    correct = (source.argmax(1) == y)[:, None]
    target = torch.where(correct, p_source, F.one_hot(y, student_logits.shape[1]).to(p_source.dtype))
    pw = (weights * -(target * F.log_softmax(student_logits, dim=1)).sum(1)).mean()
    return (alpha * soft_kl(student_logits, teacher_logits, temperature) + (1 - alpha) * pw) * temperature ** 2


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and no gradients: a teacher is never trained by the student's loss."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _ready(teacher: nn.Module, x: torch.Tensor) -> None:
    """The teacher in eval mode on the batch's device and memory format (channels_last after train.prepare)."""
    fmt = torch.channels_last if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) \
        else torch.preserve_format
    teacher.to(x.device, memory_format=fmt).eval()


class Distill:
    """loss_fn for fit(): a logit-distillation loss (kd_loss or dg2pf_loss) against a frozen teacher."""

    def __init__(self, teacher: nn.Module, temperature: float, alpha: float, loss=kd_loss, **loss_kwargs):
        check_loss_args(temperature, alpha)  # at once, not at the first batch
        if "corrected_labels" in loss_kwargs:
            _check_corrected_labels(loss_kwargs["corrected_labels"])
        self.teacher, self.temperature, self.alpha = freeze(teacher), temperature, alpha
        self.loss, self.loss_kwargs = loss, loss_kwargs

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        _ready(self.teacher, x)
        with torch.no_grad():
            teacher_logits = self.teacher(x).float()
        logits = model(x)
        return self.loss(logits.float(), teacher_logits, y, self.temperature, self.alpha, **self.loss_kwargs), logits


# ---------------------------------------------------------------- SimKD (Chen et al. 2022), Malihi's KD stage
def projector(student_channels: int, teacher_channels: int, factor: int = 2) -> nn.Sequential:
    """SimKD's projector: 1x1, 3x3, 1x1 convolutions, each bias-free with BN and ReLU, bottleneck t/factor."""
    mid = max(1, teacher_channels // factor)
    return nn.Sequential(
        nn.Conv2d(student_channels, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
        nn.Conv2d(mid, mid, 3, padding=1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
        nn.Conv2d(mid, teacher_channels, 1, bias=False), nn.BatchNorm2d(teacher_channels), nn.ReLU(inplace=True))


class SimKD(Net):
    """The deployable SimKD student: student backbone -> (spatial alignment) -> projector -> frozen teacher head."""

    def __init__(self, student: Net, teacher: Net, example: torch.Tensor, factor: int = 2):
        with torch.no_grad():
            f_s, f_t = student.eval().features(example), teacher.eval().features(example)
        align = [nn.AdaptiveAvgPool2d(f_t.shape[-2:])] if f_s.shape[-1] > f_t.shape[-1] else []
        features = nn.Sequential(student.features, *align, projector(f_s.shape[1], f_t.shape[1], factor))
        super().__init__(features, freeze(copy.deepcopy(teacher.head)))

    def train(self, mode: bool = True):
        super().train(mode)
        self.head.eval()  # the reused teacher classifier stays frozen (dropout off)
        return self


class SimKDLoss:
    """loss_fn for fit(): MSE between projected student features and the teacher's last feature map only."""

    def __init__(self, teacher: Net):
        self.teacher = freeze(teacher)

    def __call__(self, model: SimKD, x: torch.Tensor, y: torch.Tensor):
        _ready(self.teacher, x)
        projected = model.features(x)
        with torch.no_grad():
            target = self.teacher.features(x)
        if target.shape[-1] > projected.shape[-1]:  # SimKD pools the larger map to the smaller one
            target = F.adaptive_avg_pool2d(target, projected.shape[-2:])
        return F.mse_loss(projected.float(), target.float()), model.head(projected)


def simkd_param_counts(student: nn.Module, simkd: SimKD) -> dict:
    """Parameters of the deployable SimKD model, and as SimKD's code reports them (the student alone,
    its unused classifier included, projector and teacher classifier left out)."""
    count = lambda m: sum(p.numel() for p in m.parameters())
    return {"deployable": count(simkd), "simkd_code": count(student),
            "projector": count(simkd.features[-1]), "teacher_head": count(simkd.head)}
