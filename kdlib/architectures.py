"""The architectures the papers define and torchvision lacks: CIFAR-style ResNets and VGGs (RepDistiller,
Park & No, including their TinyImageNet VGG16, huyvnphan's DG2PF models), MobileNetV1 and Kieu & Sood's StudentNet. Every one is a `Net`."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock


class Net(nn.Module):
    """A classifier split as features (feature map) and head (pooling + classifier)."""

    def __init__(self, features: nn.Module, head: nn.Module):
        super().__init__()
        self.features, self.head = features, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def pool_linear(in_features: int, num_classes: int, dropout: float = 0.0) -> nn.Sequential:
    """Global average pooling, flatten, (dropout), linear: the head of most CNNs."""
    layers = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(in_features, num_classes))


def scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


# ---------------------------------------------------------------- CIFAR-style ResNets
def resnet_cifar(layers: Sequence[int], widths: Sequence[int], num_classes: int, *, in_channels: int = 3,
                 stem_width: int | None = None, block: type = BasicBlock, maxpool: bool = False) -> Net:
    """ResNet with a 3x3 stride-1 stem, one stage per entry of `layers`/`widths` (strides 1, 2, 2, ...).

    Shortcuts are 1x1 conv + BN where shape changes (option B), as in RepDistiller, Park & No and
    huyvnphan/PyTorch_CIFAR10; `maxpool=True` keeps the 3x3/2 max-pool of the latter (DG2PF).
    """
    stem_width = widths[0] if stem_width is None else stem_width
    modules: list[nn.Module] = [nn.Conv2d(in_channels, stem_width, 3, 1, 1, bias=False),
                                nn.BatchNorm2d(stem_width), nn.ReLU(inplace=True)]
    if maxpool:
        modules.append(nn.MaxPool2d(3, 2, 1))
    inplanes = stem_width
    for i, (n, planes) in enumerate(zip(layers, widths)):
        stage = []
        for j in range(n):
            stride = 2 if (i > 0 and j == 0) else 1
            down = None
            if stride != 1 or inplanes != planes * block.expansion:
                down = nn.Sequential(nn.Conv2d(inplanes, planes * block.expansion, 1, stride, bias=False),
                                     nn.BatchNorm2d(planes * block.expansion))
            stage.append(block(inplanes, planes, stride, down))
            inplanes = planes * block.expansion
        modules.append(nn.Sequential(*stage))
    net = Net(nn.Sequential(*modules), pool_linear(inplanes, num_classes))
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return net


def repdistiller_resnet(depth: int, filters: Sequence[int], num_classes: int, in_channels: int = 3,
                        width: float = 1.0) -> Net:
    """RepDistiller/SimKD CIFAR ResNet (resnet20/32/56/8x4/32x4): (depth-2)/6 basic blocks per stage."""
    f = [scaled(c, width) for c in filters]
    n = (depth - 2) // 6
    return resnet_cifar([n, n, n], f[1:], num_classes, in_channels=in_channels, stem_width=f[0])


# ---------------------------------------------------------------- CIFAR-style VGG (Park & No)
VGG_PLANS = {
    "11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    "16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
    "19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512],
    # Park & No's VGG19DBL (models/cifar_vgg.py): not 2x everywhere, first layer 64, last 512.
    "19dbl": [64, 128, "M", 256, 256, "M", 512, 512, 512, 512, "M", 1024, 1024, 1024, 1024, "M",
              1024, 1024, 1024, 512],
    # Park & No's manually designed students of Table 6.
    "19cl1": [64, 64, "M", 64, 64, "M", 128, 128, 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512],
    "19cl2": [64, 39, "M", 179, 79, "M", 354, 155, 362, 146, "M", 614, 247, 500, 158, "M", 271, 139, 547, 512],
}


def vgg_cifar(plan: Sequence, num_classes: int, in_channels: int = 3, width: float = 1.0) -> Net:
    """Park & No's CIFAR VGG: conv3x3 (bias) -> BN -> ReLU, max-pools at 'M', global avg-pool, one FC.

    The reference uses AvgPool2d(2) on the 2x2 map of a 32 px input; adaptive pooling is the same there and
    also works at 28 px.
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for v in plan:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            out = scaled(int(v), width)
            layers += [nn.Conv2d(channels, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            channels = out
    net = Net(nn.Sequential(*layers), pool_linear(channels, num_classes))
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)
            nn.init.zeros_(m.bias)
    return net


def vgg16_bn_3fc(num_classes: int, in_channels: int = 3, width: float = 1.0) -> Net:
    """huyvnphan/PyTorch_CIFAR10 VGG16-BN used by DG2PF: adaptive pool to 1x1, then 512-4096-4096-classes."""
    base = vgg_cifar(VGG_PLANS["16"] + ["M"], num_classes, in_channels, width)
    c = scaled(512, width)
    hidden = scaled(4096, width)
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, hidden), nn.ReLU(True), nn.Dropout(),
                         nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(), nn.Linear(hidden, num_classes))
    return Net(base.features, head)


# ---------------------------------------------------------------- MobileNetV1 (torchvision has none)
def mobilenet_v1(num_classes: int, in_channels: int = 3, width: float = 1.0, first_stride: int = 2) -> Net:
    """MobileNetV1 (Howard et al. 2017): a 3x3 conv then 13 depthwise-separable blocks, 4.23 M params at 1000."""
    def conv_bn(cin, cout, k, stride, groups=1):
        return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True)]
    cfg = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    c = scaled(32, width)
    layers = conv_bn(in_channels, c, 3, first_stride)
    for out, stride in cfg:
        out = scaled(out, width)
        layers += conv_bn(c, c, 3, stride, groups=c) + conv_bn(c, out, 1, 1)
        c = out
    return Net(nn.Sequential(*layers), pool_linear(c, num_classes))


def small_cnn(num_classes: int, in_channels: int = 3, width: float = 1.0,
              widths: Sequence[int] = (24, 48, 96, 164)) -> Net:
    """A plain CNN (3x3 conv-BN-ReLU blocks, max-pool between them, one FC) sized as Kieu & Sood's
    "StudentNet": 281,473 parameters with 525 classes (the paper gives 281,613 but not the architecture)."""
    layers, c = [], in_channels
    for i, w in enumerate(widths):
        w = scaled(w, width)
        layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
        if i < len(widths) - 1:
            layers.append(nn.MaxPool2d(2))
        c = w
    return Net(nn.Sequential(*layers), pool_linear(c, num_classes))


def tinyimagenet_vgg16(num_classes: int, in_channels: int = 3, width: float = 1.0) -> Net:
    """models/tinyimagenet_vgg.py: VGG16-BN with five max-pools, flatten of the 2x2 map (64 px), then
    2048 -> 1024 -> 1024 -> classes with ReLU and dropout; Linear init N(0, 0.01). Adaptive pooling to 2x2 keeps
    64 px exact and lets other sizes (>= 32 px) run."""
    base = vgg_cifar(VGG_PLANS["16"] + ["M"], num_classes, in_channels, width)
    dim = 4 * scaled(512, width)
    head = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(dim, dim // 2), nn.ReLU(True), nn.Dropout(),
                         nn.Linear(dim // 2, dim // 2), nn.ReLU(True), nn.Dropout(), nn.Linear(dim // 2, num_classes))
    for m in head.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
    for m in base.features.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return Net(base.features, head)
