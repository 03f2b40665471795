import json
import copy

import pytest
import torch
from torch import nn

from kdlib import data, device, models, prune, train


def zeros(model, **kw):
    return sum(int((m.weight == 0).sum()) for _, m in prune.prunable(model, **kw))


def total(model, **kw):
    return sum(m.weight.numel() for _, m in prune.prunable(model, **kw))


def small(name="cifar_resnet20", classes=4, channels=1, width=0.25):
    torch.manual_seed(0)
    return models.build(name, classes, in_channels=channels, width=width)


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_exact_sparsity_and_smallest_magnitudes(scope):
    model = small()
    prune.l1_unstructured(model, 0.6, scope=scope)
    if scope == "global":
        assert zeros(model) == round(0.6 * total(model))
        pruned = torch.cat([m.weight_orig[m.weight_mask == 0].abs() for _, m in prune.prunable(model)])
        kept = torch.cat([m.weight_orig[m.weight_mask == 1].abs() for _, m in prune.prunable(model)])
        assert pruned.max() <= kept.min()
    else:
        for _, m in prune.prunable(model):
            assert int((m.weight == 0).sum()) == round(0.6 * m.weight.numel())


def test_masks_nest_across_rounds():
    model = small()
    prune.l1_unstructured(model, 0.3)
    first = prune.masks(model)
    prune.l1_unstructured(model, 0.7)
    second = prune.masks(model)
    assert all((second[k] <= first[k]).all() for k in first)
    assert zeros(model) == round(0.7 * total(model))
    with pytest.raises(ValueError, match="already sparser"):
        prune.l1_unstructured(model, 0.5)


def test_masks_survive_training(tiny_data):
    model = small()
    prune.l1_unstructured(model, 0.8)
    before = prune.masks(model)
    cfg = train.TrainConfig(epochs=2, lr=0.1, weight_decay=5e-3, momentum=0.9)
    train.fit(model, data.loader(tiny_data, "train", 16), config=cfg, progress=False)
    after = {n: (m.weight != 0) for n, m in model.named_modules() if hasattr(m, "weight_mask")}
    assert all(torch.equal(after[k], before[k]) for k in before)


def test_switches_for_first_conv_and_classifier():
    model = small()
    prune.l1_unstructured(model, 0.5, first_conv=False, classifier=False)
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert (layers[0].weight != 0).all() and (layers[-1].weight != 0).all()
    assert zeros(model, first_conv=False, classifier=False) == round(0.5 * total(model, first_conv=False, classifier=False))


def test_make_permanent_then_copy_save_and_reapply(tmp_path):
    model = small()
    prune.l1_unstructured(model, 0.5)
    kept = prune.make_permanent(model)
    clone = copy.deepcopy(model)  # fails while masks are attached
    assert not any("weight_orig" in k for k in clone.state_dict())
    assert prune.sparsity_of(clone) == pytest.approx(0.5, abs=1e-6)
    torch.save(kept, tmp_path / "masks.pt")
    fresh = small()
    fresh.load_state_dict(clone.state_dict())
    prune.apply_masks(fresh, torch.load(tmp_path / "masks.pt", weights_only=True))
    assert all(torch.equal(a, b) for a, b in zip(prune.masks(fresh).values(), kept.values()))
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        prune.l1_unstructured(fresh, 1.0)


def test_lr_rewinding_rounds_and_nested_rounds():
    assert [prune.lr_rewinding_rounds(s) for s in (0.36, 0.59, 0.79, 0.5, 0.9)] == [2, 4, 7, 3, 10]
    model = small()
    n = total(model)  # exact up to rounding to whole weights
    reached = [prune.l1_unstructured(model, t) for t in prune.geometric_targets(0.2, 3)]
    assert [round(r * n) for r in reached] == [round(s * n) for s in (0.2, 0.36, 0.488)]
    with pytest.raises(ValueError, match="rate must be in"):
        prune.lr_rewinding_rounds(0.59, rate=0.0)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name,width", [("cifar_resnet20", 1.0), ("cifar_resnet8x4", 0.5), ("cifar_vgg11", 0.5),
                                        ("cifar_mobilenet_v1", 0.5), ("cifar_mobilenet_v2", 0.5),
                                        ("densenet121", 0.5), ("efficientnet_b0", 1.0), ("squeezenet1_0", 1.0),
                                        ("resnet18", 1.0), ("mobilenet_v1", 0.5)])
def test_channel_pruning_really_removes_channels(name, width):
    torch.manual_seed(0)
    model = models.build(name, 10, width=width).eval()
    x = torch.randn(2, 3, 32, 32)
    dense = n_params(model)
    prune.channel_l1(model, x, 0.5)
    assert n_params(model) < 0.4 * dense  # roughly (1 - 0.5)^2 of the weights remain
    assert model(x).shape == (2, 10)


def test_channel_pruning_keeps_the_filters_with_largest_l1_norm():
    torch.manual_seed(0)
    model = models.vgg_cifar([8, "M", 8], 3, in_channels=1)
    norms = model.features[0].weight.detach().abs().sum((1, 2, 3))
    expected = model.features[0].weight.detach()[norms.argsort(descending=True)[:4].sort().values]
    prune.channel_l1(model, torch.randn(1, 1, 8, 8), 0.5)
    assert torch.equal(model.features[0].weight.detach(), expected)


def test_channel_pruning_to_a_parameter_reduction_and_errors():
    model = small(width=1.0, channels=3)
    dense = n_params(model)
    prune.channel_l1(model, torch.randn(1, 3, 32, 32), param_reduction=0.5)
    assert 1 - n_params(model) / dense == pytest.approx(0.5, abs=0.03)
    with pytest.raises(ValueError, match="would remove every channel"):
        prune.channel_l1(small(), torch.randn(1, 1, 8, 8), 1.0)
    with pytest.raises(ValueError, match="exactly one"):
        prune.channel_l1(small(), torch.randn(1, 1, 8, 8))


def test_channel_pruned_model_saves_and_rebuilds_without_pickle(tmp_path):
    model = models.build("cifar_resnet20", 10).eval()
    x = torch.randn(2, 3, 32, 32)
    prune.channel_l1(model, x, 0.4)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    (tmp_path / "shape.json").write_text(json.dumps(prune.shape_spec(model)))
    state = torch.load(tmp_path / "weights.pt", weights_only=True)
    shape = json.loads((tmp_path / "shape.json").read_text())
    rebuilt = prune.load_pruned(models.build("cifar_resnet20", 10), state, shape).eval()
    assert torch.allclose(rebuilt(x), model(x)) and n_params(rebuilt) == n_params(model)
    with pytest.raises(KeyError, match="another architecture"):
        prune.load_pruned(models.build("cifar_vgg11", 10), state, shape)


def test_global_pruning_of_a_channels_last_model_during_training(monkeypatch):
    """fit() puts models in channels_last where chosen; global pruning (GMP, iterative) must still work and nest."""
    monkeypatch.setenv("KDLIB_CHANNELS_LAST", "1")
    model = device.prepare(models.build("cifar_resnet20", 10, width=0.25), torch.device("cpu"))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    assert prune.l1_unstructured(model, 0.3) == pytest.approx(0.3, abs=1e-4)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    opt.step()
    assert prune.l1_unstructured(model, 0.6) == pytest.approx(0.6, abs=1e-4)
    assert prune.l1_unstructured(model, 0.7, scope="layer") == pytest.approx(0.7, abs=1e-3)
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight_orig.is_contiguous(memory_format=torch.channels_last)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
