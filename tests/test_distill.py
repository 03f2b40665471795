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


def dg2pf_by_hand(s, t, y, tau, alpha, gamma, beta, corrected_labels):
    """Eqs. (5)-(9) in plain Python: (alpha * KL_tau(t || s) + (1 - alpha) * PW) * tau^2, PW at temperature 1."""
    classes = range(len(s[0]))
    kl = pw = 0.0
    for si, ti, yi in zip(s, t, y):
        p_t, p_s = softmax(ti, tau), softmax(si, tau)
        kl += sum(a * (math.log(a) - math.log(b)) for a, b in zip(p_t, p_s)) / len(s)
        w = (1 - softmax(ti)[yi]) ** gamma + beta                                   # eq. (5)
        source = si if corrected_labels == "student" else ti
        right = max(classes, key=lambda c: source[c]) == yi
        target = softmax(source) if right else [float(c == yi) for c in classes]  # eq. (6)
        pw += w * -sum(a * math.log(b) for a, b in zip(target, softmax(si))) / len(s)  # eq. (7)
    return (alpha * kl + (1 - alpha) * pw) * tau ** 2                                # eq. (9)


def test_dg2pf_loss_by_hand_for_both_corrected_labels():
    # 2 samples, 3 classes: the student is right on sample 0 and wrong on 1, the teacher the other way round,
    # so the two readings of eq. (6) swap which sample gets soft labels.
    s = [[2.0, 0.5, -1.0], [0.2, 0.1, 1.5]]
    t = [[0.5, 2.0, 0.0], [0.0, 3.0, 1.0]]
    y = [0, 1]
    args = (torch.tensor(s), torch.tensor(t), torch.tensor(y), 0.5, 0.9, 2.0, 0.1)
    student = dg2pf_by_hand(s, t, y, 0.5, 0.9, 2.0, 0.1, "student")
    teacher = dg2pf_by_hand(s, t, y, 0.5, 0.9, 2.0, 0.1, "teacher")
    assert distill.dg2pf_loss(*args).item() == pytest.approx(student, rel=1e-6)  # the default: the paper's text
    assert distill.dg2pf_loss(*args, corrected_labels="student").item() == pytest.approx(student, rel=1e-6)
    assert distill.dg2pf_loss(*args, corrected_labels="teacher").item() == pytest.approx(teacher, rel=1e-6)
    assert abs(student - teacher) > 1e-3


def test_dg2pf_student_labels_carry_no_gradient():
    # Detached soft labels: CE(softmax(z) as a constant, softmax(z)) has gradient softmax(z) - softmax(z) = 0, so
    # only the sample the student gets wrong (row 1) is pushed by PW (alpha = 0 leaves PW alone).
    s = torch.tensor([[2.0, 0.5, -1.0], [0.2, 0.1, 1.5]], requires_grad=True)
    t, y = torch.tensor([[0.5, 2.0, 0.0], [0.0, 3.0, 1.0]]), torch.tensor([0, 1])
    distill.dg2pf_loss(s, t, y, 1.0, 0.0).backward()
    assert torch.allclose(s.grad[0], torch.zeros(3), atol=1e-7) and s.grad[1].abs().sum() > 0.1


@pytest.mark.parametrize("loss", [distill.kd_loss, distill.dg2pf_loss])
@pytest.mark.parametrize("temperature,alpha", [(0.0, 0.5), (-1.0, 0.5), (math.inf, 0.5), (math.nan, 0.5),
                                               (4.0, -0.1), (4.0, 1.5), (4.0, math.nan), (4.0, math.inf)])
def test_bad_temperature_or_alpha(loss, temperature, alpha):
    s, t, y = torch.zeros(2, 3), torch.zeros(2, 3), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="finite temperature > 0 and a finite alpha in"):
        loss(s, t, y, temperature, alpha)


def test_corrected_labels_validated_and_passed_through_distill():
    s, t, y = torch.randn(4, 3), torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    with pytest.raises(ValueError, match="corrected_labels 'truth'"):
        distill.dg2pf_loss(s, t, y, 1.0, 0.5, corrected_labels="truth")
    teacher = models.build("cifar_resnet20", 3, width=0.25)
    with pytest.raises(ValueError, match="corrected_labels"):
        distill.Distill(teacher, 1.0, 0.5, loss=distill.dg2pf_loss, corrected_labels="truth")
    with pytest.raises(ValueError, match="temperature"):
        distill.Distill(teacher, 0.0, 0.5)
    torch.manual_seed(0)
    student, x = models.build("cifar_resnet20", 3, width=0.25).eval(), torch.randn(2, 3, 16, 16)
    labels = torch.tensor([0, 1])
    loss_fn = distill.Distill(teacher, 0.5, 0.9, loss=distill.dg2pf_loss, corrected_labels="teacher")
    loss, logits = loss_fn(student, x, labels)
    with torch.no_grad():
        expected = distill.dg2pf_loss(logits, teacher(x), labels, 0.5, 0.9, corrected_labels="teacher")
        other = distill.dg2pf_loss(logits, teacher(x), labels, 0.5, 0.9, corrected_labels="student")
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6) and abs(loss.item() - other.item()) > 1e-4


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
    # SimKD's count for resnet8x4 -> resnet32x4 on CIFAR-100 (computed from its architecture definitions)
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
