"""kdlib.deploy: byte counts checked against hand arithmetic, masks counted as zeros, int8 against a real PT2E model."""
import pytest
import torch
from torch import nn

from kdlib import deploy, models, prune, quantize


def test_index_bytes_is_the_narrowest_unsigned_integer():
    assert [deploy.index_bytes(m) for m in (0, 255, 256, 65535, 65536, 2**32 - 1, 2**32)] == [1, 1, 2, 2, 4, 4, 8]
    with pytest.raises(ValueError):
        deploy.index_bytes(-1)


def test_weight_bytes_by_hand():
    # a 3 x 4 matrix with 2 nonzeros
    assert deploy.weight_bytes(3, 4, 2, "dense", 4) == 48
    assert deploy.weight_bytes(3, 4, 2, "bitmask", 4) == 2 + 8           # ceil(12 / 8) mask bytes + 2 fp32 values
    assert deploy.weight_bytes(3, 4, 2, "csr", 4) == 2 * (4 + 1) + 4 * 1  # values + uint8 columns, 4 uint8 row pointers
    assert deploy.weight_bytes(3, 4, 2, "csr", 1) == 2 * (1 + 1) + 4
    # 300 columns need uint16 column indices; 70,000 nonzeros need uint32 row pointers
    assert deploy.weight_bytes(1000, 300, 70_000, "csr", 1) == 70_000 * (1 + 2) + 1001 * 4
    with pytest.raises(ValueError, match="unknown format"):
        deploy.weight_bytes(3, 4, 2, "coo", 4)
    with pytest.raises(ValueError, match="nonzero"):
        deploy.weight_bytes(3, 4, 13, "dense", 4)


def _tiny() -> nn.Module:
    """conv 1->2 (3x3, no bias) + BatchNorm (folds into a 2-channel bias), linear 2->3 with bias: 5 + 5 nonzeros."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, bias=False), nn.BatchNorm2d(2), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 3))
    with torch.no_grad():
        conv, linear = model[0].weight, model[5].weight
        conv.add_(torch.sign(conv) * 0.1)                     # no accidental zeros
        conv.view(-1)[5:] = 0                                  # 5 of 18 nonzero
        linear.copy_(torch.tensor([[1.0, 0.0], [2.0, 3.0], [4.0, 5.0]]))  # 5 of 6 nonzero
    return model


@pytest.mark.parametrize("precision, fmt, expected", [
    # fp32: conv 18 weights, linear 6; fixed: conv 2 folded-BN biases + linear 3 biases = 5 x 4 bytes
    ("fp32", "dense", 72 + 24 + 20),
    ("fp32", "bitmask", (3 + 5 * 4) + (1 + 5 * 4) + 20),
    ("fp32", "csr", (5 * 5 + 3 * 1) + (5 * 5 + 4 * 1) + 20),
    ("fp32", "best", 23 + 21 + 20),
    # int8: fixed per layer = biases + 4-byte scale per output channel + 8 activation bytes: conv 8+8+8, linear 12+12+8
    ("int8", "dense", 18 + 6 + 24 + 32),
    ("int8", "bitmask", (3 + 5) + (1 + 5) + 56),
    ("int8", "csr", (5 * 2 + 3) + (5 * 2 + 4) + 56),
    ("int8", "best", 8 + 6 + 56),
])
def test_size_by_hand(precision, fmt, expected):
    assert deploy.size(_tiny(), precision, fmt) == expected


def test_layers_count_nonzeros_and_folded_biases():
    df = deploy.layers(_tiny())
    assert df[["rows", "cols", "nonzero", "bias"]].values.tolist() == [[2, 9, 5, 2], [3, 2, 5, 3]]
    assert deploy.sizes(_tiny())["nonzero_weights"] == 10


def test_unfolded_batchnorm_counts_two_vectors():
    model = nn.Sequential(nn.BatchNorm2d(1), nn.Conv2d(1, 2, 1, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    # BN before any conv: scale + shift (2 floats) stored; conv 2 weights, no bias
    assert deploy.size(model, "fp32", "dense") == 2 * 4 + 2 * 1 * 4


def test_masked_weights_count_as_zeros_and_sparse_formats_pay_off():
    model = models.build("cifar_resnet20", 10, in_channels=1, width=0.5)
    dense = deploy.sizes(model)
    prune.l1_unstructured(model, 0.9)                          # masks attached, weight_orig still dense
    masked = deploy.sizes(model)
    prune.make_permanent(model)
    assert deploy.sizes(model) == masked
    assert masked["fp32_dense"] == dense["fp32_dense"]          # stored dense, zeros cost as much as any weight
    assert masked["fp32_best"] < 0.2 * dense["fp32_dense"]      # ~ 1/8 + 0.1 x 4 bytes per weight instead of 4
    assert masked["int8_best"] < masked["fp32_best"] < masked["fp32_dense"]
    assert masked["nonzero_weights"] == pytest.approx(0.1 * dense["nonzero_weights"], rel=0.01)


def test_int8_arithmetic_matches_a_real_pt2e_model():
    torch.manual_seed(0)
    model = models.build("cifar_resnet18", 10, in_channels=1, width=0.25).eval()
    x = torch.randn(4, 1, 16, 16)
    qmodel = deploy.int8_model(model, [x], x)
    real = quantize.serialized_size(qmodel)
    assert deploy.size(model, "int8", "dense") == pytest.approx(real, rel=0.1)
    assert deploy.size(model, "fp32", "dense") == pytest.approx(4 * deploy.size(model, "int8", "dense"), rel=0.1)


def test_latency_of_fp32_and_int8_models():
    torch.manual_seed(0)
    model = models.build("cifar_resnet20", 4, in_channels=1, width=0.25)
    prune.l1_unstructured(model, 0.5)                          # masks are folded into a copy before compiling
    x = torch.randn(2, 1, 8, 8)
    fp32 = deploy.latency(model, x, min_run_time=0.05)
    int8 = deploy.latency(deploy.int8_model(model, [x], x), x, min_run_time=0.05)
    assert fp32["median_ms"] > 0 and int8["median_ms"] > 0 and fp32["batch"] == int8["batch"] == 2
    assert hasattr(model[0] if isinstance(model, nn.Sequential) else model.features[0], "weight_mask")
