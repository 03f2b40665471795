import copy

import pytest
import torch
from torch import nn

from kdlib import models, prune, synflow


def two_layer_net() -> nn.Sequential:
    net = nn.Sequential(nn.Linear(2, 3, bias=False), nn.ReLU(), nn.Linear(3, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 3.0], [-1.0, 1.0]]))
        net[2].weight.copy_(torch.tensor([[2.0, -1.0, 0.5]]))
    return net


def test_scores_equal_the_hand_computation():
    # R = 1^T |W2| |W1| 1. dR/d|W1|_ij = (1^T |W2|)_i = [2, 1, 0.5]; dR/d|W2|_1i = (|W1| 1)_i = [3, 3.5, 2].
    # S1 = |W1| * [2, 1, 0.5] per row = [[2, 4], [0.5, 3], [0.5, 0.5]]; S2 = [2*3, 1*3.5, 0.5*2] = [6, 3.5, 1].
    net = two_layer_net()
    scores = synflow.synflow_scores(net, (1, 2))
    assert torch.equal(scores[net[0]], torch.tensor([[2.0, 4.0], [0.5, 3.0], [0.5, 0.5]], dtype=torch.float64))
    assert torch.equal(scores[net[2]], torch.tensor([[6.0, 3.5, 1.0]], dtype=torch.float64))
    # one shot at 3/9: the three scores of 0.5 go
    synflow.synflow_prune(net, 3 / 9, iterations=1, example_shape=(1, 2))
    assert net[0].weight_mask.tolist() == [[1, 1], [0, 1], [0, 0]] and net[2].weight_mask.tolist() == [[1, 1, 1]]


def test_ties_are_broken_by_position_and_the_count_is_exact():
    net = nn.Sequential(nn.Linear(4, 4, bias=False))
    nn.init.ones_(net[0].weight)  # every score is 1
    synflow.synflow_prune(net, 0.25, iterations=1, example_shape=(1, 4))  # the authors' `score <= t` would take all 16
    assert net[0].weight_mask.flatten().tolist() == [0] * 4 + [1] * 12


def _pruned(model, **kw):
    return sum(int((m.weight_mask == 0).sum()) for _, m in prune.prunable(model, **kw))


@pytest.mark.parametrize("name,width", [("cifar_vgg11", 0.125), ("cifar_resnet20", 0.25)])
def test_exact_sparsity_on_kdlib_cifar_models(name, width):
    torch.manual_seed(0)
    model = models.build(name, 10, width=width)
    n = sum(m.weight.numel() for _, m in prune.prunable(model))
    reached = synflow.synflow_prune(model, 0.79, iterations=20)
    assert _pruned(model) == round(0.79 * n) and reached == round(0.79 * n) / n == prune.sparsity_of(model)
    head = models.build(name, 10, width=width)
    synflow.synflow_prune(head, 0.5, iterations=5, first_conv=False, classifier=False)
    first, last = prune.prunable(head)[0][1], models.classifier_layers(head)[0]
    assert not hasattr(first, "weight_mask") and not hasattr(last, "weight_mask")


def test_masks_nest_under_a_second_call():
    torch.manual_seed(1)
    model = models.build("cifar_vgg11", 10, width=0.125)
    n = sum(m.weight.numel() for _, m in prune.prunable(model))
    synflow.synflow_prune(model, 0.5, iterations=10)
    first = prune.masks(model)
    synflow.synflow_prune(model, 0.79, iterations=10)
    assert all(not (prune.masks(model)[k] & ~first[k]).any() for k in first)  # nothing pruned comes back
    assert _pruned(model) == round(0.79 * n)
    conv = model.features[0]
    assert torch.equal(conv.weight, conv.weight_orig * conv.weight_mask)
    with pytest.raises(ValueError, match="masks only grow"):
        synflow.synflow_prune(model, 0.3)


def test_model_unchanged_except_masks_and_channels_last():
    torch.manual_seed(2)
    model = models.build("cifar_vgg11", 10, width=0.125)
    model.train()(torch.randn(8, 3, 32, 32))  # BN running statistics away from (0, 1)
    model.features[1].eval()  # a mixed train/eval state must survive, and a frozen layer stays frozen
    model.features[0].weight.requires_grad_(False)
    before = copy.deepcopy(model.state_dict())
    modes = [m.training for m in model.modules()]
    twin = copy.deepcopy(model).to(memory_format=torch.channels_last)
    synflow.synflow_prune(model, 0.6, iterations=10)
    after = model.state_dict()
    for k, v in before.items():
        assert torch.equal(after[k + "_orig"] if k + "_orig" in after else after[k], v), k
    assert [m.training for m in model.modules()] == modes and not model.features[0].weight_orig.requires_grad
    synflow.synflow_prune(twin, 0.6, iterations=10)
    assert twin.features[0].weight_orig.is_contiguous(memory_format=torch.channels_last)
    assert all(torch.equal(a, b) for a, b in zip(prune.masks(model).values(), prune.masks(twin).values()))


def _flow(net: nn.Module, shape) -> float:
    """R computed independently for an unmasked net: |every weight|, float64, all-ones input."""
    net = copy.deepcopy(net).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
        return float(net(torch.ones(shape, dtype=torch.float64)).sum())


def _chain_flow(net: nn.Sequential) -> float:
    """R = 1^T |W_L| ... |W_1| 1 of a chain of bias-free Linear layers, masks applied."""
    v = torch.ones(net[0].in_features, dtype=torch.float64)
    for m in net:
        if isinstance(m, nn.Linear):
            v = m.weight.detach().double().abs() @ v
    return float(v.sum())


def test_synaptic_flow_is_conserved():
    # No BN, no bias: R is homogeneous of degree 1 in every layer's weights (ReLU and max-pool are positively
    # homogeneous), so each layer's scores sum to R (Euler), and around a hidden unit in-flow equals out-flow.
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 4, 3, bias=False), nn.ReLU(), nn.Flatten(),
                        nn.Linear(16, 6, bias=False), nn.ReLU(), nn.Linear(6, 3, bias=False))
    scores = synflow.synflow_scores(net, (1, 2, 8, 8))
    R = _flow(net, (1, 2, 8, 8))
    for s in scores.values():
        assert float(s.sum()) == pytest.approx(R, rel=1e-9)
    into, out = scores[net[6]].sum(1), scores[net[8]].sum(0)  # per hidden unit of the 6-wide layer
    assert torch.allclose(into, out, rtol=1e-9)


def test_iterations_avoid_layer_collapse():
    # The middle layer's weights are 1000x smaller: global magnitude pruning to 50% removes all of it (64 of the
    # 96 pruned weights), cutting every path. One-shot SynFlow empties a layer at 95%; iterative SynFlow keeps
    # flow in every layer, down to 4 weights of 192 (a path needs 3): the paper's argument for iterating.
    torch.manual_seed(4)
    net = nn.Sequential(nn.Linear(8, 8, bias=False), nn.ReLU(), nn.Linear(8, 8, bias=False), nn.ReLU(),
                        nn.Linear(8, 8, bias=False))
    with torch.no_grad():
        net[2].weight.mul_(1e-3)
    magnitude, one_shot = copy.deepcopy(net), copy.deepcopy(net)
    prune.l1_unstructured(magnitude, 0.5)
    assert not magnitude[2].weight_mask.any() and _chain_flow(magnitude) == 0
    synflow.synflow_prune(one_shot, 0.95, iterations=1, example_shape=(1, 8))
    assert _chain_flow(one_shot) == 0
    for sparsity in (0.5, 0.95, 0.98):
        pruned = copy.deepcopy(net)
        synflow.synflow_prune(pruned, sparsity, iterations=50, example_shape=(1, 8))
        assert _pruned(pruned) == round(sparsity * 192)
        assert all(m.weight_mask.any() for m in pruned if isinstance(m, nn.Linear)) and _chain_flow(pruned) > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="sparsity"):
        synflow.synflow_prune(two_layer_net(), 1.0, example_shape=(1, 2))
    with pytest.raises(ValueError, match="iterations"):
        synflow.synflow_prune(two_layer_net(), 0.5, iterations=0, example_shape=(1, 2))
