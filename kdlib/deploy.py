"""What a compressed classifier costs to deploy: its size in bytes as stored, and its CPU latency.

Size is format arithmetic on the tensors inference needs (raw tensor bytes: no container, names or alignment):

- BatchNorm is folded into the convolution before it (its scale multiplies that conv's weight rows, so zeros stay
  zero; its shift becomes a bias): every Conv2d/Linear stores its weight and, when it has a bias or a BatchNorm
  follows it, one fp32 bias per output channel. A BatchNorm that follows no conv of its width keeps two fp32
  vectors (scale and shift); other float parameters and buffers count 4 bytes each (num_batches_tracked: none).
- Value bytes v: fp32 4, int8 1. int8 also stores, per output channel, an fp32 weight scale (symmetric per-channel
  weights: the zero point is 0 and not stored) and, per layer, its input's activation scale and zero point (fp32 +
  int32: 8 bytes); biases stay fp32, as PT2E's x86 quantizer keeps them.
- A weight W (out x in x k x k) is a matrix of r = out rows and c = in*k*k columns with z nonzeros:
    dense    r*c*v
    bitmask  ceil(r*c / 8) + z*v                    one bit per position, then the nonzero values in order
    csr      z*(v + b(c - 1)) + (r + 1)*b(z)        values, column indices, row pointers
  where b(m) is the width of the narrowest unsigned integer (1, 2, 4 or 8 bytes) that holds m. "best" takes, per
  layer, the smallest of the three (a deployment picks a format per tensor). A masked weight that is stored dense
  costs its full dense size: only a sparse format makes zeros cheaper.

Latency is the median of repeated batches (torch.utils.benchmark via kdlib.metrics.latency) of the fp32 model or its
int8 PT2E model (kdlib.quantize), both compiled by Inductor at that batch shape. Unstructured zeros run through the
same dense kernels (PyTorch has no sparse CPU convolution), so they change size, not latency.
"""
from __future__ import annotations

import math

import pandas as pd
import torch
from torch import nn

from . import metrics, quantize
from .prune import PRUNABLE, prunable

FORMATS = ("dense", "bitmask", "csr")
VALUE_BYTES = {"fp32": 4, "int8": 1}
FLOAT_BYTES = 4           # biases, folded BatchNorm shifts, scales
INT8_LAYER_BYTES = 8      # per quantized layer: its input's activation scale (fp32) and zero point (int32)


def index_bytes(largest: int) -> int:
    """Bytes of the narrowest unsigned integer (1, 2, 4 or 8 bytes) that holds every value in 0..largest."""
    if largest < 0:
        raise ValueError(f"an index is >= 0, got {largest}")
    return next(b for b in (1, 2, 4, 8) if largest < 2 ** (8 * b))


def weight_bytes(rows: int, cols: int, nonzero: int, fmt: str, value_bytes: int) -> int:
    """Bytes of one weight matrix of `rows` x `cols` with `nonzero` nonzeros in format `fmt` (module docstring)."""
    if not 0 <= nonzero <= rows * cols:
        raise ValueError(f"nonzero must be in [0, {rows * cols}], got {nonzero}")
    if fmt == "dense":
        return rows * cols * value_bytes
    if fmt == "bitmask":
        return math.ceil(rows * cols / 8) + nonzero * value_bytes
    if fmt == "csr":
        return nonzero * (value_bytes + index_bytes(max(cols - 1, 0))) + (rows + 1) * index_bytes(nonzero)
    raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")


def folded_biases(model: nn.Module) -> tuple[set[str], int]:
    """The Conv/Linear layers that store a bias after BatchNorm folding (their own, or a following BatchNorm's
    shift), and the number of BatchNorm channels that could not be folded (no conv of their width just before)."""
    with_bias, unfolded, last = set(), 0, None
    for name, m in model.named_modules():
        if isinstance(m, PRUNABLE):
            last = (name, m)
            if m.bias is not None:
                with_bias.add(name)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            if last is not None and isinstance(last[1], nn.Conv2d) and last[1].out_channels == m.num_features:
                with_bias.add(last[0])
                last = None  # one BatchNorm per conv
            else:
                unfolded += m.num_features
    return with_bias, unfolded


def _other_floats(model: nn.Module) -> int:
    """Float parameters and buffers that are neither Conv/Linear tensors nor BatchNorm ones (0 in kdlib's models)."""
    skip = (*PRUNABLE, nn.modules.batchnorm._BatchNorm)
    return sum(t.numel() for m in model.modules() if not isinstance(m, skip)
               for t in [*m.parameters(recurse=False), *m.buffers(recurse=False)] if t.is_floating_point())


def layers(model: nn.Module) -> pd.DataFrame:
    """Per Conv/Linear layer: rows, columns, nonzero weights (masked ones count as zero), bias channels stored."""
    with_bias, _ = folded_biases(model)
    out = []
    for name, m in prunable(model):
        w = m.weight.detach()
        out.append({"layer": name, "rows": w.shape[0], "cols": w[0].numel(), "nonzero": int((w != 0).sum()),
                    "bias": w.shape[0] if name in with_bias else 0})
    return pd.DataFrame(out, columns=["layer", "rows", "cols", "nonzero", "bias"])


def layer_bytes(model: nn.Module, precision: str = "fp32") -> pd.DataFrame:
    """layers() with each layer's weight bytes in every format, its best format, and its fixed bytes (bias, scales)."""
    if precision not in VALUE_BYTES:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(VALUE_BYTES)}")
    df = layers(model)
    v = VALUE_BYTES[precision]
    for fmt in FORMATS:
        df[fmt] = [weight_bytes(r.rows, r.cols, r.nonzero, fmt, v) for r in df.itertuples()]
    df["best"] = df[list(FORMATS)].min(axis=1)
    df["best_format"] = df[list(FORMATS)].idxmin(axis=1)
    extra = df.rows * FLOAT_BYTES + INT8_LAYER_BYTES if precision == "int8" else 0
    df["fixed"] = df.bias * FLOAT_BYTES + extra
    return df


def size(model: nn.Module, precision: str = "fp32", fmt: str = "best") -> int:
    """Deployable bytes of `model` at `precision` with its weights in `fmt` (dense, bitmask, csr or best)."""
    if fmt not in FORMATS + ("best",):
        raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS + ('best',))}")
    df = layer_bytes(model, precision)
    _, unfolded = folded_biases(model)
    return int(df[fmt].sum() + df.fixed.sum() + (2 * unfolded + _other_floats(model)) * FLOAT_BYTES)


def sizes(model: nn.Module) -> dict:
    """Every precision x format: {"fp32_dense": bytes, ..., "int8_best": bytes}, and the nonzero weight count."""
    out = {f"{p}_{f}": size(model, p, f) for p in VALUE_BYTES for f in FORMATS + ("best",)}
    out["nonzero_weights"] = int(layers(model).nonzero.sum())
    return out


# ---------------------------------------------------------------- latency
def plain(model: nn.Module) -> nn.Module:
    """A CPU copy of `model` in eval mode with its pruning masks folded into the weights (what is deployed)."""
    import copy
    from .prune import make_permanent
    # a masked weight is computed (not a leaf) and refuses deepcopy: hand the copy a detached clone of it
    memo = {id(m.weight): m.weight.detach().clone() for m in model.modules() if hasattr(m, "weight_mask")}
    out = copy.deepcopy(model, memo).cpu().eval()
    make_permanent(out)
    return out


def int8_model(model: nn.Module, calibration: list[torch.Tensor], example: torch.Tensor) -> nn.Module:
    """The int8 PT2E model of `model` (kdlib.quantize.ptq_int8 on a plain copy), calibrated on `calibration`."""
    return quantize.ptq_int8(plain(model), calibration, example)


def latency(model: nn.Module, example: torch.Tensor, min_run_time: float = 1.0) -> dict:
    """Median latency (ms) of `model` (fp32, or an int8 model from int8_model) on the batch `example`, compiled by
    Inductor for exactly that shape; the compiler caches are reset first so that every model compiles afresh."""
    import torch._dynamo
    torch._dynamo.reset()
    if not isinstance(model, torch.fx.GraphModule):
        model = plain(model)
    return metrics.latency(quantize.compiled(model, dynamic=False), example.cpu(), min_run_time)
