import pytest
import torch

from kdlib import models, prune, students


def prunable_weights(model):
    return sum(m.weight.numel() for _, m in prune.prunable(model))


VGG19 = models.VGG_PLANS["19"]
# Park & No's hard-coded plans (models/cifar_vgg.py) and their share of VGG19's Conv+FC weights.
ST_PLANS = {
    0.638: [53, 61, "M", 128, 121, "M", 258, 241, 258, 236, "M", 485, 410, 406, 374, "M", 340, 358, 390, 399],
    0.407: [44, 56, "M", 116, 112, "M", 238, 227, 240, 209, "M", 408, 348, 339, 246, "M", 196, 214, 367, 272],
    0.207: [40, 49, "M", 111, 97, "M", 225, 187, 224, 170, "M", 356, 233, 220, 99, "M", 111, 84, 297, 122],
}


def test_reference_plans_have_the_published_ratios():
    base = prunable_weights(models.vgg_cifar(VGG19, 100))
    assert base == 20_070_080
    for ratio, plan in ST_PLANS.items():
        assert prunable_weights(models.vgg_cifar(plan, 100)) / base == pytest.approx(ratio, abs=1e-3)


@pytest.mark.parametrize("sparsity,ratio", [(0.36, 0.638), (0.59, 0.407), (0.79, 0.207)])
def test_vgg19_students_from_pruned_teachers_match_the_st_ratios(sparsity, ratio):
    torch.manual_seed(0)
    teacher = models.build("cifar_vgg19", 100)
    rounds = prune.lr_rewinding_rounds(sparsity)
    # Without retraining between rounds, nested magnitude rounds give the one-shot mask at 1 - 0.8^rounds.
    prune.l1_unstructured(teacher, prune.geometric_targets(0.2, rounds)[-1])
    plan = students.vgg_student_plan(teacher, VGG19)
    student = models.vgg_cifar(plan, 100)
    assert len(plan) == len(VGG19) and [p == "M" for p in plan] == [p == "M" for p in VGG19]
    assert prunable_weights(student) / 20_070_080 == pytest.approx(ratio, abs=0.01)


def test_vgg_plan_formula_by_hand():
    # layer 1: 3 input channels, 270 nonzeros -> 270 / (9 * 3) = 10; layer 2: 450 / (9 * 10) = 5
    assert students.vgg_plan([64, "M", 64], [270, 450]) == [10, "M", 5]


def test_resnet_student_widths_follow_stage_density():
    assert students.resnet_widths([64, 128, 256, 512], [1.0, 0.25, 0.25, 0.04]) == [64, 64, 128, 102]
    torch.manual_seed(0)
    teacher = models.build("cifar_resnet18", 10, width=0.25)
    prune.l1_unstructured(teacher, 0.59)
    widths = students.resnet_student_widths(teacher, [16, 32, 64, 128])
    student = models.resnet_cifar([2, 2, 2, 2], widths, 10, stem_width=16)
    ratio = prunable_weights(student) / prunable_weights(teacher)
    assert 0.3 < ratio < 0.55 and student(torch.randn(2, 3, 32, 32)).shape == (2, 10)
