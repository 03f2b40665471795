import math

import pytest
import torch
import torch.nn.functional as F

from kdlib import distill, models


def softmax(v, T=1.0):
    e = [math.exp(x / T) for x in v]
    return [x / sum(e) for x in e]


def test_kd_loss_by_hand():
    s, t, T, alpha = [1.0, 2.0, 3.0], [3.0, 2.0, 1.0], 2.0, 0.5
    p_t, p_s = softmax(t, T), softmax(s, T)
    kl = sum(a * (math.log(a) - math.log(b)) for a, b in zip(p_t, p_s))
    ce = -math.log(softmax(s)[2])
    expected = alpha * T * T * kl + (1 - alpha) * ce
    got = distill.kd_loss(torch.tensor([s]), torch.tensor([t]), torch.tensor([2]), T, alpha)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_soft_term_agrees_with_kl_div_batchmean_and_scales_with_t_squared():
    torch.manual_seed(0)
    s, t, y = torch.randn(64, 100), torch.randn(64, 100), torch.randint(0, 100, (64,))
    for T in (1.0, 4.0, 10.0):
        reference = F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean")
        assert distill.kd_loss(s, t, y, T, 1.0).item() == pytest.approx(T * T * reference.item(), rel=1e-5)
    # batchmean: the sum over classes, averaged over the batch (not also over the 100 classes)
    p_t = F.softmax(t, 1)
    by_hand = (p_t * (p_t.log() - F.log_softmax(s, 1))).sum(1).mean()
    assert distill.kd_loss(s, t, y, 1.0, 1.0).item() == pytest.approx(by_hand.item(), rel=1e-5)


def test_alpha_endpoints_and_equal_logits():
    torch.manual_seed(1)
    s, t, y = torch.randn(8, 5), torch.randn(8, 5), torch.randint(0, 5, (8,))
    assert distill.kd_loss(s, t, y, 4.0, 0.0).item() == pytest.approx(F.cross_entropy(s, y).item())
    assert distill.kd_loss(s, s.clone(), y, 4.0, 1.0).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="alpha"):
        distill.kd_loss(s, t, y, 4.0, 1.5)


def test_dg2pf_loss_by_hand():
    s = [[2.0, 0.0], [0.0, 1.0]]
    t = [[3.0, 1.0], [2.0, 0.0]]  # teacher right on sample 0, wrong on sample 1 (label 1)
    y = [0, 1]
    alpha, tau, gamma, beta = 0.9, 0.5, 1.0, 0.1
    kl = 0.0
    for si, ti in zip(s, t):
        p_t, p_s = softmax(ti, tau), softmax(si, tau)
        kl += sum(a * (math.log(a) - math.log(b)) for a, b in zip(p_t, p_s))
    kl /= 2
    pw = 0.0
    for si, ti, yi in zip(s, t, y):
        p_t = softmax(ti)
        w = (1 - p_t[yi]) ** gamma + beta
        target = p_t if max(range(2), key=lambda c: ti[c]) == yi else [float(c == yi) for c in range(2)]
        pw += w * -sum(a * math.log(b) for a, b in zip(target, softmax(si)))
    pw /= 2
    expected = (alpha * kl + (1 - alpha) * pw) * tau ** 2
    got = distill.dg2pf_loss(torch.tensor(s), torch.tensor(t), torch.tensor(y), tau, alpha, gamma, beta)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_distill_loss_fn_keeps_teacher_frozen():
    teacher, student = models.build("cifar_resnet20", 4, width=0.25), models.build("cifar_resnet20", 4, width=0.25)
    loss_fn = distill.Distill(teacher, temperature=4.0, alpha=0.9)
    x, y = torch.randn(4, 3, 16, 16), torch.randint(0, 4, (4,))
    loss, logits = loss_fn(student.train(), x, y)
    loss.backward()
    assert logits.shape == (4, 4) and not teacher.training
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert any(p.grad is not None for p in student.parameters())


def test_simkd_parameter_counts_match_reference():
    # ../shared/notes/reference-implementations.md 2.2: resnet8x4 -> resnet32x4 on CIFAR-100
    student, teacher = models.build("cifar_resnet8x4", 100), models.build("cifar_resnet32x4", 100)
    simkd = distill.SimKD(student, teacher, torch.randn(2, 3, 32, 32))
    counts = distill.simkd_param_counts(student, simkd)
    assert counts == {"deployable": 1_447_556, "simkd_code": 1_233_540, "projector": 214_016,
                      "teacher_head": 25_700}


def test_simkd_trains_only_by_feature_mse_through_the_frozen_teacher_head():
    student, teacher = models.build("cifar_vgg11", 4, width=0.25), models.build("cifar_resnet20", 4, width=0.5)
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 4, (4,))
    simkd = distill.SimKD(student, teacher, x).train()
    assert not simkd.head.training
    loss, logits = distill.SimKDLoss(teacher)(simkd, x, y)
    target = F.adaptive_avg_pool2d(teacher.features(x), simkd.features(x).shape[-2:])  # 8x8 teacher map -> 2x2
    assert loss.item() == pytest.approx(F.mse_loss(simkd.features(x), target).item(), rel=1e-5)
    loss.backward()
    assert all(p.grad is None for p in simkd.head.parameters())
    assert simkd.features[-1][0].weight.grad is not None  # the projector learns
    assert torch.allclose(logits, simkd(x))
