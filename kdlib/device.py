"""Where work runs: the device, its thread count, numeric precision and memory format.

CUDA trains in bf16 autocast with channels_last (the fast path on tensor cores). The CPU runs in fp32 and in the
contiguous layout: channels_last was 1.1-1.5x faster on one Intel AVX-512 machine but 8x slower on an AMD AVX2
one and crashed with one thread, so on CPU it is used only when asked for (KDLIB_CHANNELS_LAST=1, e.g. after
`make bench` measured it faster on this machine).
"""
from __future__ import annotations

import contextlib
import os

import torch
from torch import nn


def cpu_threads() -> int:
    """Threads for CPU work: $OMP_NUM_THREADS when set, else every core this process may run on."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        return int(os.environ["OMP_NUM_THREADS"])
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """cuda, then mps, then cpu (with `cpu_threads()` threads); or the device named."""
    if str(device) == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    device = torch.device(device)
    if device.type == "cpu" and torch.get_num_threads() != cpu_threads():
        torch.set_num_threads(cpu_threads())
    return device


def autocast(device: torch.device):
    """bf16 autocast on CUDA, nothing elsewhere (CPU results stay exact and reproducible)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def channels_last(device: torch.device) -> bool:
    """Whether models and batches use channels_last on `device` (see the module docstring)."""
    if device.type == "cuda":
        return True
    return device.type == "cpu" and os.environ.get("KDLIB_CHANNELS_LAST") == "1"


def prepare(model: nn.Module, device: torch.device) -> nn.Module:
    """Move a model to `device`, in channels_last where `channels_last(device)` says so."""
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if channels_last(device) else model


def batch_to(x: torch.Tensor, device: torch.device, channels_last_: bool | None = None) -> torch.Tensor:
    """An input batch on `device`, in the memory format the model was prepared in."""
    x = x.to(device, non_blocking=True)
    use = channels_last(device) if channels_last_ is None else channels_last_
    if use and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def is_channels_last(model: nn.Module) -> bool:
    """Whether the model's conv weights are in channels_last; inputs are best given alike."""
    return any(p.dim() == 4 and not p.is_contiguous() and p.is_contiguous(memory_format=torch.channels_last)
               for p in model.parameters())


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo), e.g. "AMD EPYC" or "Intel(R) Xeon(R) Platinum 8375C CPU"."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or platform.machine()


_PROBE: list[float] = []


def speed_probe(seconds: float = 0.5) -> float:
    """This machine's fp32 matrix-multiply speed in GFLOP/s with the current threads (measured once per process):
    a one-number scale for comparing wall times across machines."""
    if not _PROBE:
        import time
        a, b = torch.randn(512, 512), torch.randn(512, 512)
        a @ b  # warm-up
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            a @ b
            n += 1
        _PROBE.append(2 * 512 ** 3 * n / (time.perf_counter() - t0) / 1e9)
    return _PROBE[0]
