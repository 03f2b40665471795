"""Post-training static int8 quantization on CPU through torchao's PT2E flow (Kieu & Sood, Sec. III-C).

export -> prepare_pt2e(X86InductorQuantizer) -> calibrate on training images -> convert_pt2e -> torch.compile.
The legacy eager flow (torch.ao.quantization) is deprecated and needs quantization stubs in the model; it is
not implemented here (see the README).
"""
from __future__ import annotations

import copy
import io
import types
from typing import Iterable

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck


def _basic_forward(self, x):
    identity = x if self.downsample is None else self.downsample(x)
    out = self.relu1(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    return self.relu2(out + identity)


def _bottleneck_forward(self, x):
    identity = x if self.downsample is None else self.downsample(x)
    out = self.relu1(self.bn1(self.conv1(x)))
    out = self.relu2(self.bn2(self.conv2(out)))
    out = self.bn3(self.conv3(out))
    return self.relu3(out + identity)


def untie_relu(model: nn.Module) -> nn.Module:
    """Give each torchvision ResNet block its own ReLU modules (in place).

    torchvision blocks call one `self.relu` two or three times; X86InductorQuantizer then merges partitions
    and fails with "Input partition has more than one output node".
    """
    for block in model.modules():
        if isinstance(block, (BasicBlock, Bottleneck)) and not hasattr(block, "relu1"):
            n = 2 if isinstance(block, BasicBlock) else 3
            for i in range(1, n + 1):
                setattr(block, f"relu{i}", nn.ReLU(inplace=False))
            block.forward = types.MethodType(_basic_forward if n == 2 else _bottleneck_forward, block)
    return model


def _batches(calibration: Iterable) -> Iterable[torch.Tensor]:
    for batch in calibration:
        yield batch[0] if isinstance(batch, (tuple, list)) else batch


def ptq_int8(model: nn.Module, calibration: Iterable, example: torch.Tensor) -> torch.fx.GraphModule:
    """The int8 model of `model` (fp32, on CPU), calibrated on `calibration` batches (x or (x, y)).

    Run it through torch.compile for int8 speed (`compiled()`): uncompiled it executes reference q/dq ops.
    """
    from torchao.quantization.pt2e import allow_exported_model_train_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq

    if any(hasattr(m, "weight_mask") for m in model.modules()):
        raise ValueError("the model still has pruning masks: call kdlib.prune.make_permanent(model) first")
    model = untie_relu(copy.deepcopy(model).cpu().eval())
    batch = torch.export.Dim("batch", min=1, max=65536)
    example = example.cpu() if len(example) > 1 else example.cpu().repeat(2, 1, 1, 1)  # batch 1 would specialise
    with torch.no_grad():
        graph = torch.export.export(model, (example,), dynamic_shapes=({0: batch},)).module()
        quantizer = xiq.X86InductorQuantizer()
        quantizer.set_global(xiq.get_default_x86_inductor_quantization_config())
        prepared = prepare_pt2e(graph, quantizer)
        for x in _batches(calibration):
            prepared(x.cpu())
        # .eval() then works (evaluate() calls it); the graph has no train-time behaviour left
        return allow_exported_model_train_eval(convert_pt2e(prepared))


def compiled(model: nn.Module, dynamic: bool = False):
    """torch.compile (Inductor) with constant freezing, which lowers int8 q/dq patterns to oneDNN kernels.

    Static shapes by default: Inductor's int8 lowering has failed here on recompiling for a batch of 1 after
    larger batches (a stride assertion), so a compiled model is used at the one shape it is timed on.
    """
    import torch._inductor.config as inductor_config
    inductor_config.freezing = True
    return torch.compile(model, dynamic=dynamic)


def serialized_size(model: nn.Module) -> int:
    """Bytes of the serialized weights the model actually uses.

    A converted PT2E graph still holds the unused fp32 originals of every folded conv; only tensors read by a
    get_attr node are counted, so the int8 size is the int8 model's alone.
    """
    state = model.state_dict()
    if isinstance(model, torch.fx.GraphModule):
        used = {n.target for n in model.graph.nodes if n.op == "get_attr"}
        state = {k: v for k, v in state.items() if k in used}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.tell()


def calibration_batches(data, n_batches: int, batch_size: int, seed: int, image_size: int | None = None) -> list:
    """`n_batches` batches of training images drawn at random (by `seed`) without augmentation: what the observers
    of post-training quantization see. Only these images are read, never the whole training set."""
    from . import data as kdata
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(seed))[:n_batches * batch_size]
    subset = kdata.train_subset(data, order.sort().values)
    return [x.cpu() for x, _ in kdata.loader(subset, "train", batch_size, train=False, image_size=image_size)]


def compare_int8(model: nn.Module, calibration: Iterable, test_loader: Iterable, example: torch.Tensor,
                 min_run_time: float = 1.0):
    """Kieu & Sood's Table I: fp32 vs int8 PT2E: test top-1, median latency of one batch `example` on this CPU
    (threads recorded) eager and compiled, and serialized weight size.

    Accuracy is measured on the uncompiled models (the int8 one runs its quantize/dequantize reference ops with
    the same scales the compiled kernels use); latency on the compiled ones at the example's shape.
    """
    import pandas as pd
    from . import metrics, train
    fp32 = copy.deepcopy(model).cpu().eval()
    int8 = ptq_int8(fp32, calibration, example)
    rows = []
    with torch.no_grad():
        accuracy = {"fp32": train.evaluate(fp32, test_loader, "cpu", topk=(1,))["top1"],
                    "int8": train.evaluate(int8, test_loader, "cpu", topk=(1,))["top1"]}
    for name, module, runner in [("fp32 eager", fp32, fp32), ("fp32 inductor", fp32, compiled(fp32)),
                                 ("int8 PT2E inductor", int8, compiled(int8))]:
        rows.append({"model": name, "test_top1": accuracy[name[:4]], **metrics.latency(runner, example, min_run_time),
                     "size_MiB": serialized_size(module) / 2**20})
    return pd.DataFrame(rows)
