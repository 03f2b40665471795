import pytest
import torch
from torch import nn

from kdlib import data, dg2pf, models, prune, train


def linear(values):
    layer = nn.Linear(len(values), 1, bias=False)
    layer.weight.data = torch.tensor([values], dtype=torch.float)
    return nn.Sequential(layer)


def test_percentile_pruning_removes_the_central_signed_mass():
    model = linear([-5., -4., -3., -0.5, 0.1, 0.2, 0.3, 0.4, 9., 10.])  # skewed: many small positives
    dg2pf.apply_percentile_pruning(model, 0.4)
    kept = model[0].weight[0].tolist()
    # eq. (1): the 4 weights of sorted ranks 3..6 (the signed middle) go, -0.5 among them;
    # magnitude pruning would drop 0.1, 0.2, 0.3 and 0.4 instead and keep -0.5
    assert kept == pytest.approx([-5., -4., -3., 0., 0., 0., 0., 0.4, 9., 10.])


def test_percentile_pruning_equals_magnitude_pruning_on_symmetric_weights():
    values = [float(v) for v in range(1, 11)]
    a, b = linear([-v for v in values] + values), linear([-v for v in values] + values)
    dg2pf.apply_percentile_pruning(a, 0.5)
    prune.l1_unstructured(b, 0.5)
    assert torch.equal(a[0].weight, b[0].weight)


def test_gradual_schedule_reaches_each_target_exactly_with_nested_masks():
    torch.manual_seed(0)
    model = models.build("cifar_resnet20", 4, in_channels=1, width=0.25)
    n = sum(m.weight.numel() for _, m in prune.prunable(model))
    assert dg2pf.schedule(0.9, 3) == pytest.approx([0.3, 0.6, 0.9])
    previous = None
    for target in dg2pf.schedule(0.9, 3):
        dg2pf.apply_percentile_pruning(model, target)
        assert round(prune.sparsity_of(model) * n) == round(target * n)
        current = prune.masks(model)
        assert previous is None or all((current[k] <= previous[k]).all() for k in previous)
        previous = current


def test_simulated_pruning_zeroes_smallest_then_restores_with_straight_through_gradient():
    model = linear([0.1, -0.2, 0.3, -0.4, 0.5, 0.6, -0.7, 0.8, 0.9, -1.0])
    prune.l1_unstructured(model, 0.1)  # -> 0.1 pruned for good
    sim = dg2pf.SimulatedPruning(0.25, epochs=1)  # 25% of the 9 survivors -> 2 weights: -0.2 and 0.3
    sim.on_epoch_start(model, 0)
    original = model[0].weight_orig.detach().clone()
    sim.on_batch_start(model)
    effective = model[0].weight_orig * model[0].weight_mask  # what the next forward uses
    assert effective[0].tolist() == pytest.approx([0, 0, 0, -0.4, 0.5, 0.6, -0.7, 0.8, 0.9, -1.0])
    model(torch.ones(1, 10)).sum().backward()
    sim.on_after_backward(model)
    assert torch.equal(model[0].weight_orig.detach(), original)
    grad = model[0].weight_orig.grad[0]
    assert grad[1] != 0 and grad[2] != 0 and grad[0] == 0  # simulated: gradient passes; truly pruned: none
    sim.on_epoch_start(model, 1)  # after s_e epochs: nothing simulated
    sim.on_batch_start(model)
    assert sim.saved == []


def test_dg2pf_reaches_the_target_and_keeps_only_fully_pruned_checkpoints(tiny_data):
    torch.manual_seed(0)
    teacher = models.build("cifar_resnet20", 4, in_channels=1, width=0.25)
    tl, vl = data.loader(tiny_data, "train", 16), data.loader(tiny_data, "val", 64)
    train.fit(teacher, tl, vl, config=train.TrainConfig(epochs=4, lr=0.05, schedule="cosine"), progress=False)
    student = models.build("cifar_resnet20", 4, in_channels=1, width=0.25)
    student.load_state_dict(teacher.state_dict())
    cfg = dg2pf.DG2PFConfig(sparsity=0.8, pruning_epochs=3,
                            dgp=train.TrainConfig(epochs=5, optimizer="adamw", lr=1e-3, weight_decay=1e-2,
                                                  schedule="constant", patience=2, batch_size=16),
                            pf=train.TrainConfig(epochs=2, lr=1e-2, schedule="constant", patience=2, batch_size=16))
    out = dg2pf.dg2pf(student, teacher, tl, vl, cfg, progress=False)
    assert out["dgp"].best_epoch >= 2 and len(out["pf"].history) >= 1
    assert prune.sparsity_of(student) == pytest.approx(0.8, abs=1e-3)
    assert train.evaluate(student, data.loader(tiny_data, "test", 64))["top1"] > 0.5


def test_cubic_schedule_and_magnitude_callback():
    targets = prune.cubic_schedule(0.8, 4)
    assert targets[-1] == pytest.approx(0.8) and targets == sorted(targets)
    assert targets[0] == pytest.approx(0.8 * (1 - 0.75 ** 3))
    model = linear([float(v) for v in range(1, 11)])
    callback = prune.MagnitudeSchedule([0.3, 0.6])
    callback.on_epoch_start(model, 0)
    assert int((model[0].weight == 0).sum()) == 3
    callback.on_epoch_start(model, 1)
    callback.on_epoch_start(model, 5)  # past the schedule: nothing more
    assert model[0].weight[0].tolist()[:6] == [0.0] * 6


def test_margins_are_the_central_quantiles():
    model = linear([float(v) for v in range(-50, 51)])  # 101 symmetric weights
    m_l, m_r = dg2pf.margins(model, 0.9)
    assert (m_l, m_r) == (-45.0, 45.0)


@pytest.mark.parametrize("bad, message", [({"sparsity": 1.5}, "sparsity must be in"), ({"temperature": -4.0}, "temperature"),
                                          ({"alpha": 1.5}, "alpha"), ({"pruning_epochs": 0}, "pruning_epochs"),
                                          ({"corrected_labels": "both"}, "corrected_labels")])
def test_meaningless_dg2pf_settings_are_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        dg2pf.DG2PFConfig(**bad)


@pytest.mark.parametrize("kind, criterion", [("cubic", "magnitude"), ("one_shot", "magnitude"), ("linear", "percentile")])
def test_baseline_variants_share_dg2pfs_budget_and_reach_the_target(tiny_data, kind, criterion):
    torch.manual_seed(0)
    teacher = models.build("cifar_resnet20", 4, in_channels=1, width=0.25)
    student = models.build("cifar_resnet20", 4, in_channels=1, width=0.25)
    student.load_state_dict(teacher.state_dict())
    tl, vl, test = data.loader(tiny_data, "train", 16), data.loader(tiny_data, "val", 64), data.loader(tiny_data, "test", 64)
    cfg = dg2pf.DG2PFConfig(sparsity=0.6, pruning_epochs=2, simulated_sparsity=0.0, schedule=kind, criterion=criterion,
                            distill=False, dgp=train.TrainConfig(epochs=2, lr=1e-3, optimizer="adamw", batch_size=16),
                            pf=train.TrainConfig(epochs=1, lr=1e-3, batch_size=16))
    out = dg2pf.dg2pf(student, teacher, tl, vl, cfg, progress=False, test_loader=test)
    assert prune.sparsity_of(student) == pytest.approx(0.6, abs=1e-3) and "top1" in out["after_dgp"]
    assert dg2pf.targets(0.6, 2, kind)[-1] == pytest.approx(0.6)
