"""Models: `build(name, num_classes)` for every architecture the four papers use.

Every model is a `Net`: `features` (input -> feature map before global pooling) and `head` (feature map ->
logits, pooling included), so SimKD can project a student's features into a teacher's head.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import torch
import torchvision
from torch import nn
from torchvision.models.resnet import Bottleneck

from .architectures import (Net, mobilenet_v1, pool_linear, repdistiller_resnet, resnet_cifar, scaled,  # noqa: F401
                            small_cnn, tinyimagenet_vgg16, vgg16_bn_3fc, vgg_cifar, VGG_PLANS)


# ---------------------------------------------------------------- torchvision ImageNet architectures
def wrap_torchvision(model: nn.Module) -> Net:
    """Split a torchvision classifier into features and head (pooling + classifier), keeping its modules."""
    if isinstance(model, torchvision.models.ResNet):
        f = nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool,
                          model.layer1, model.layer2, model.layer3, model.layer4)
        return Net(f, nn.Sequential(model.avgpool, nn.Flatten(), model.fc))
    if isinstance(model, torchvision.models.DenseNet):  # torchvision applies a final ReLU before pooling
        return Net(nn.Sequential(model.features, nn.ReLU(inplace=False)),
                   nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), model.classifier))
    if isinstance(model, torchvision.models.SqueezeNet):  # classifier: dropout, 1x1 conv, ReLU, pool
        return Net(model.features, nn.Sequential(*model.classifier, nn.Flatten()))
    if isinstance(model, torchvision.models.VGG):
        return Net(model.features, nn.Sequential(model.avgpool, nn.Flatten(), model.classifier))
    # MobileNetV2 and EfficientNet: features, global pool, classifier (dropout + linear)
    return Net(model.features, nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), model.classifier))


def replace_first_conv(model: nn.Module, in_channels: int | None = None, stride: int | None = None) -> None:
    """Replace the first Conv2d by one with another input channel count and/or stride (fresh weights)."""
    for parent in model.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Conv2d):
                new = nn.Conv2d(in_channels or child.in_channels, child.out_channels, child.kernel_size,
                                stride or child.stride, child.padding, bias=child.bias is not None)
                if in_channels in (None, child.in_channels):
                    new.weight.data.copy_(child.weight.data)
                setattr(parent, name, new)
                return


TORCHVISION = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "densenet121", "densenet161",
               "densenet169", "densenet201", "mobilenet_v2", "squeezenet1_0", "squeezenet1_1", "vgg16_bn"] + \
              [f"efficientnet_b{i}" for i in range(6)]
# Constructor arguments that scale width, where torchvision has them.
DENSENET_CONFIG = {"densenet121": (32, (6, 12, 24, 16), 64), "densenet161": (48, (6, 12, 36, 24), 96),
                   "densenet169": (32, (6, 12, 32, 32), 64), "densenet201": (32, (6, 12, 48, 32), 64)}


def torchvision_model(name: str, num_classes: int, width: float = 1.0) -> nn.Module:
    """A randomly initialised torchvision model, width-scaled where torchvision allows it."""
    kwargs: dict = {"weights": None, "num_classes": num_classes}
    if width != 1.0:
        if name == "mobilenet_v2":
            kwargs["width_mult"] = width
        elif name in DENSENET_CONFIG:
            growth, blocks, init = DENSENET_CONFIG[name]
            return torchvision.models.DenseNet(scaled(growth, width), blocks, scaled(init, width),
                                               num_classes=num_classes)
        else:
            raise ValueError(f"width={width} is not supported for {name}; width multipliers work for "
                             f"mobilenet_v2, densenet*, mobilenet_v1 and every cifar_* model")
    return torchvision.models.get_model(name, **kwargs)


def pretrained_state_dict(name: str, weights_path: str | Path | None = None, download: bool | None = None) -> dict:
    """torchvision's default ImageNet weights for `name`, from a file, the torch hub cache or a download."""
    weights = torchvision.models.get_model_weights(name).DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
    path = Path(weights_path) if weights_path else cached
    if path.exists():
        return torch.load(path, map_location="cpu", weights_only=True)
    allowed = download if download is not None else os.environ.get("KDLIB_DOWNLOAD") == "1"
    if not allowed:
        raise FileNotFoundError(f"pretrained weights for {name} not found at {path}. Download {weights.url} "
                                f"to {cached} (or pass weights_path=), or allow downloads with KDLIB_DOWNLOAD=1.")
    return weights.get_state_dict(progress=True, check_hash=True)


def load_pretrained(model: nn.Module, state: dict) -> None:
    """Load ImageNet weights into a torchvision model; a head of another size keeps its fresh init."""
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    skipped = sorted(set(own) - set(usable))
    if any(not (k.startswith(("fc.", "classifier")) ) for k in skipped):
        raise ValueError(f"pretrained weights do not fit the model beyond its classifier: {skipped[:5]}")
    model.load_state_dict(usable, strict=False)


MODELS: dict[str, Callable[..., Net]] = {
    # RepDistiller / SimKD CIFAR ResNets (Malihi's SimKD stage)
    "cifar_resnet20": lambda c, i, w: repdistiller_resnet(20, [16, 16, 32, 64], c, i, w),
    "cifar_resnet32": lambda c, i, w: repdistiller_resnet(32, [16, 16, 32, 64], c, i, w),
    "cifar_resnet56": lambda c, i, w: repdistiller_resnet(56, [16, 16, 32, 64], c, i, w),
    "cifar_resnet8x4": lambda c, i, w: repdistiller_resnet(8, [32, 64, 128, 256], c, i, w),
    "cifar_resnet32x4": lambda c, i, w: repdistiller_resnet(32, [32, 64, 128, 256], c, i, w),
    # ResNet-18 without max-pool (Park & No's TinyImageNet ResNet, Kuang Liu's CIFAR ResNet-18)
    "cifar_resnet18": lambda c, i, w: resnet_cifar([2, 2, 2, 2], [scaled(x, w) for x in (64, 128, 256, 512)], c,
                                                   in_channels=i),
    "cifar_resnet18dbl": lambda c, i, w: resnet_cifar([2, 2, 2, 2], [scaled(x, 2 * w) for x in (64, 128, 256, 512)],
                                                      c, in_channels=i, stem_width=scaled(64, w)),
    # Park & No's CIFAR VGGs (one FC)
    "cifar_vgg11": lambda c, i, w: vgg_cifar(VGG_PLANS["11"], c, i, w),
    "cifar_vgg16": lambda c, i, w: vgg_cifar(VGG_PLANS["16"], c, i, w),
    "cifar_vgg19": lambda c, i, w: vgg_cifar(VGG_PLANS["19"], c, i, w),
    "cifar_vgg19dbl": lambda c, i, w: vgg_cifar(VGG_PLANS["19dbl"], c, i, w),
    "cifar_vgg19cl1": lambda c, i, w: vgg_cifar(VGG_PLANS["19cl1"], c, i, w),
    "cifar_vgg19cl2": lambda c, i, w: vgg_cifar(VGG_PLANS["19cl2"], c, i, w),
    "park2022_tinyimagenet_vgg16": lambda c, i, w: tinyimagenet_vgg16(c, i, w),  # Park & No's code: 3-FC head
    # small-image variants of mobile networks: stride-1 stem
    "cifar_mobilenet_v1": lambda c, i, w: mobilenet_v1(c, i, w, first_stride=1),
    "cifar_mobilenet_v2": lambda c, i, w: _cifar_mobilenet_v2(c, i, w),
    # DG2PF's CIFAR-10 models (huyvnphan/PyTorch_CIFAR10): 3x3 stem, max-pool kept; VGG16-BN with 3 FCs
    "dg2pf_resnet18": lambda c, i, w: resnet_cifar([2, 2, 2, 2], [scaled(x, w) for x in (64, 128, 256, 512)], c,
                                                   in_channels=i, maxpool=True),
    "dg2pf_resnet34": lambda c, i, w: resnet_cifar([3, 4, 6, 3], [scaled(x, w) for x in (64, 128, 256, 512)], c,
                                                   in_channels=i, maxpool=True),
    "dg2pf_resnet50": lambda c, i, w: resnet_cifar([3, 4, 6, 3], [scaled(x, w) for x in (64, 128, 256, 512)], c,
                                                   in_channels=i, maxpool=True, block=Bottleneck,
                                                   stem_width=scaled(64, w)),
    "dg2pf_vgg16_bn": lambda c, i, w: vgg16_bn_3fc(c, i, w),
    "mobilenet_v1": lambda c, i, w: mobilenet_v1(c, i, w),
    "studentnet": lambda c, i, w: small_cnn(c, i, w),
}


def _cifar_mobilenet_v2(num_classes: int, in_channels: int, width: float) -> Net:
    model = torchvision_model("mobilenet_v2", num_classes, width)
    replace_first_conv(model, in_channels if in_channels != 3 else None, stride=1)
    return wrap_torchvision(model)


# Architectures given by a plan of widths (Park & No's sparsity-matched students): a VGG plan (widths and "M"),
# or a ResNet-18's stem width followed by its four stage widths.
CUSTOM: dict[str, Callable[..., Net]] = {
    "cifar_vgg_custom": lambda plan, c, i: vgg_cifar(list(plan), c, i),
    "cifar_resnet18_custom": lambda plan, c, i: resnet_cifar([2, 2, 2, 2], list(plan[1:]), c, in_channels=i,
                                                             stem_width=plan[0]),
}


def names() -> list[str]:
    """Every model name `build` accepts."""
    return sorted(list(MODELS) + TORCHVISION + list(CUSTOM))


def build(name: str, num_classes: int, in_channels: int = 3, width: float = 1.0, *, pretrained: bool = False,
          plan: Sequence = (), weights_path: str | Path | None = None, download: bool | None = None) -> Net:
    """Build model `name` with `num_classes` outputs; `pretrained` loads torchvision's ImageNet weights; the
    CUSTOM names take a `plan` of layer widths."""
    if num_classes < 1 or in_channels < 1 or width <= 0:
        raise ValueError(f"need num_classes >= 1, in_channels >= 1, width > 0; got {num_classes}, "
                         f"{in_channels}, {width}")
    if bool(plan) != (name in CUSTOM):
        raise ValueError(f"a plan of widths is given exactly for {', '.join(CUSTOM)} (got {name!r} with plan {plan!r})")
    if name in CUSTOM:
        return CUSTOM[name](plan, num_classes, in_channels)
    if name in MODELS:
        if pretrained:
            raise ValueError(f"no pretrained weights exist for {name}; only for {', '.join(TORCHVISION)}")
        return MODELS[name](num_classes, in_channels, width)
    if name not in TORCHVISION:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(names())}")
    model = torchvision_model(name, num_classes, width)
    if pretrained:
        if in_channels != 3 or width != 1.0:
            raise ValueError("pretrained weights need in_channels=3 and width=1.0")
        load_pretrained(model, pretrained_state_dict(name, weights_path, download))
    if in_channels != 3:
        replace_first_conv(model, in_channels)
    return wrap_torchvision(model)


def reset_classifier(model: nn.Module, num_classes: int) -> None:
    """Replace the final Linear by a freshly initialised one with `num_classes` outputs (transfer learning)."""
    last = classifier_layers(model)[0]
    if not isinstance(last, nn.Linear):
        raise ValueError(f"reset_classifier needs a final Linear layer, found {last}")
    for parent in model.modules():
        for name, child in parent.named_children():
            if child is last:
                setattr(parent, name, nn.Linear(last.in_features, num_classes))
                return


def classifier_layers(model: nn.Module) -> list[nn.Module]:
    """The Linear (or 1x1 conv, SqueezeNet) layers that produce the logits, i.e. the last prunable layer."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    return layers[-1:]


def check_classes(model: nn.Module, state: dict, source: str = "checkpoint") -> None:
    """One clear error when a state_dict's classifier has another number of classes than `model`."""
    last = classifier_layers(model)[0]
    name = next(n for n, m in model.named_modules() if m is last)
    theirs = state.get(f"{name}.weight")
    if theirs is not None and theirs.shape[0] != last.weight.shape[0]:
        raise ValueError(f"{source} has {theirs.shape[0]} output classes but the model has {last.weight.shape[0]} "
                         f"(layer {name!r}); build the model with num_classes={theirs.shape[0]}, or load it and "
                         f"then call reset_classifier for a new task")


def load_weights(model: nn.Module, state: dict, source: str = "checkpoint") -> nn.Module:
    """Load a state_dict into `model`, with one clear error when its class count or shapes do not fit."""
    check_classes(model, state, source)
    own = model.state_dict()
    wrong = [f"{k}: {tuple(v.shape)} vs model {tuple(own[k].shape)}" for k, v in state.items()
             if k in own and own[k].shape != v.shape]
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if wrong or missing or unexpected:
        raise ValueError(f"{source} does not fit this architecture: shape mismatches {wrong[:3]}, missing "
                         f"{missing[:3]}, unexpected {unexpected[:3]}")
    model.load_state_dict(state)
    return model
