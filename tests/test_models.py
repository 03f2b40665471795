import pytest
import torch
import torchvision

from kdlib import models


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# Published or independently derived counts (SimKD and huyvnphan READMEs, torchvision, our own architecture arithmetic).
PUBLISHED = [
    ("resnet50", 1000, 25_557_032),      # torchvision docs
    ("resnet50", 525, 24_583_757),       # Kieu & Sood, Table II (ResNet-50 with a 525-way head)
    ("squeezenet1_0", 525, 1_004_749),   # Kieu & Sood, Table II (SqueezeNet student)
    ("resnet18", 1000, 11_689_512),      # torchvision docs
    ("mobilenet_v2", 1000, 3_504_872),   # torchvision docs
    ("efficientnet_b0", 1000, 5_288_548),  # torchvision docs
    ("densenet121", 1000, 7_978_856),    # torchvision docs
    ("mobilenet_v1", 1000, 4_231_976),   # Howard et al. 2017 (4.2 M; Keras trainable count)
    ("cifar_resnet8x4", 100, 1_233_540),  # SimKD / RepDistiller
    ("cifar_resnet32x4", 100, 7_433_860),
    ("cifar_resnet20", 100, 278_324),
    ("cifar_resnet56", 100, 861_620),
    ("cifar_vgg19", 100, 20_086_692),    # Park & No reference code
    ("cifar_vgg11", 100, 9_277_284),
    ("cifar_vgg19dbl", 100, 75_360_612),
    ("cifar_resnet18", 10, 11_173_962),  # Kuang Liu's CIFAR ResNet-18
    ("dg2pf_resnet18", 10, 11_173_962),  # huyvnphan/PyTorch_CIFAR10 README: 11.174 M
    ("dg2pf_resnet50", 10, 23_520_842),  # README: 23.521 M
    ("dg2pf_vgg16_bn", 10, 33_646_666),  # README: 33.647 M
]


@pytest.mark.parametrize("name,classes,expected", PUBLISHED)
def test_parameter_counts_match_published(name, classes, expected):
    assert n_params(models.build(name, classes)) == expected


PLANS = {"cifar_vgg_custom": (8, "M", 12, "M", 16), "cifar_resnet18_custom": (8, 8, 12, 16, 20)}


@pytest.mark.parametrize("name", models.names())
def test_every_model_runs_and_exposes_features_and_head(name):
    torch.manual_seed(0)
    model = models.build(name, 7, plan=PLANS.get(name, ())).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        logits = model(x)
        fmap = model.features(x)
        assert logits.shape == (2, 7)
        assert fmap.dim() == 4  # a feature map before global pooling
        assert torch.allclose(model.head(fmap), logits)


@pytest.mark.parametrize("name", ["cifar_resnet20", "cifar_vgg11", "cifar_mobilenet_v1", "cifar_mobilenet_v2",
                                  "densenet121", "resnet18", "efficientnet_b0"])
def test_one_channel_input(name):
    model = models.build(name, 10, in_channels=1).eval()
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 10)  # ImageNet nets need >= 32 px


def test_width_multiplier_shrinks_model():
    full, half = models.build("cifar_resnet20", 10), models.build("cifar_resnet20", 10, width=0.5)
    assert n_params(half) < 0.3 * n_params(full)
    assert n_params(models.build("densenet121", 10, width=0.5)) < n_params(models.build("densenet121", 10))
    with pytest.raises(ValueError, match="width=0.5 is not supported for resnet50"):
        models.build("resnet50", 10, width=0.5)


def test_unknown_model_lists_names():
    with pytest.raises(ValueError, match="valid names: .*cifar_resnet20"):
        models.build("resnet19", 10)


def test_pretrained_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="resnet18-.*KDLIB_DOWNLOAD"):
        models.build("resnet18", 10, pretrained=True)


def test_pretrained_from_file_keeps_backbone_and_resets_head(tmp_path):
    reference = torchvision.models.resnet18(num_classes=1000)
    torch.save(reference.state_dict(), tmp_path / "r18.pth")
    model = models.build("resnet18", 10, pretrained=True, weights_path=tmp_path / "r18.pth")
    assert torch.equal(model.features[0].weight, reference.conv1.weight)
    assert model.head[-1].out_features == 10


def test_studentnet_is_sized_like_the_paper_studentnet():
    # Kieu & Sood, Table II: 281,613 parameters; the architecture is not given, ours is designed to that size
    assert n_params(models.build("studentnet", 525)) == pytest.approx(281_613, rel=0.001)


def test_reset_classifier_for_transfer():
    model = models.build("cifar_resnet20", 10)
    features_before = model.features[0].weight.clone()
    models.reset_classifier(model, 5)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 5)
    assert torch.equal(model.features[0].weight, features_before)
