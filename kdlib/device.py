"""Where work runs: the device, its thread count, numeric precision and memory format.

CUDA trains in bf16 autocast with channels_last (the fast path on tensor cores). The CPU runs in fp32, and its memory
format is measured, not assumed: channels_last was 1.1-1.5x faster on one Intel AVX-512 machine, 8x slower on an AMD
AVX2 one under load, 1.2-1.4x faster on another AMD AVX2 one (`make bench`, section 10), and crashed with one thread.
So the first CPU training on a machine times a small convnet's training step in both formats, keeps channels_last only
if it is at least 5% faster, and stores the answer per machine (CPU model, threads, torch) in the user cache, so the
same machine always trains in the same format. KDLIB_CHANNELS_LAST=1 or 0 overrides the measurement.
"""
from __future__ import annotations

import contextlib
import os
import time

import torch
from torch import nn


def cpu_threads() -> int:
    """Threads for CPU work: $OMP_NUM_THREADS when set, else every core this process may run on."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        return int(os.environ["OMP_NUM_THREADS"])
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def runnable_tasks(path: str = "/proc/loadavg") -> int | None:
    """Tasks running or ready to run on the machine right now, the reader included (Linux); None elsewhere."""
    try:
        with open(path) as f:
            return int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


def contention_warning(samples: int = 5, interval: float = 0.1) -> str:
    """A warning when other processes keep so many CPUs busy that this one's threads will not all get one: PyTorch's
    threads then wait on each other at every small operation (a Park & No student took 137 s instead of 4 s with 2
    threads beside one busy process on 2 cores). '' when the CPUs are free, or where that cannot be read."""
    counts = []
    for _ in range(samples):
        counts.append(runnable_tasks())
        time.sleep(interval)
    if None in counts:
        return ""
    busy, threads = min(counts) - 1, cpu_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if threads < 2 or busy <= 0 or threads + busy <= cores:  # one thread waits on no other
        return ""
    return (f"warning: other processes keep {busy} of {cores} CPUs busy, and PyTorch will use {threads} threads: they "
            f"wait on each other, and training can run 10-30x slower. Stop the other work, or set "
            f"OMP_NUM_THREADS={max(1, cores - busy)}.")


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
    if device.type != "cpu":
        return False
    forced = os.environ.get("KDLIB_CHANNELS_LAST", "")
    return forced == "1" if forced in ("0", "1") else cpu_prefers_channels_last()


_CHOICE: dict[str, bool] = {}
MEMORY_FORMAT_FILE = "memory_format.json"


def cpu_prefers_channels_last() -> bool:
    """This machine's measured CPU memory format (module docstring): read from the user cache, else measured and stored.
    Never channels_last with one thread."""
    import json

    from .files import write_text
    from .formats import user_cache_dir
    if torch.get_num_threads() < 2:
        return False
    key = f"{cpu_model()}|{torch.get_num_threads()} threads|torch {torch.__version__}"
    if key not in _CHOICE:
        path = user_cache_dir() / MEMORY_FORMAT_FILE
        try:
            known = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, ValueError):
            known = {}
        if key not in known:
            contiguous, cl = measure_formats()
            known[key] = {"channels_last": cl < 0.95 * contiguous, "contiguous_ms": round(1e3 * contiguous, 2),
                          "channels_last_ms": round(1e3 * cl, 2)}
            try:
                write_text(path, json.dumps(known, indent=1))
            except OSError:
                pass  # a read-only home: measured again next time
        _CHOICE[key] = bool(known[key]["channels_last"])
    return _CHOICE[key]


def step_seconds(channels_last_: bool, steps: int = 4) -> float:
    """Median seconds of one SGD step of a small six-layer convnet on 64 28 px images, in the given memory format."""
    import statistics
    torch.manual_seed(0)
    conv = lambda i, o, s=1: [nn.Conv2d(i, o, 3, stride=s, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
    net = nn.Sequential(*conv(1, 32), *conv(32, 32), *conv(32, 64, 2), *conv(64, 64), *conv(64, 128, 2),
                        *conv(128, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))
    x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    if channels_last_:
        net, x = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])  # the first step warms up


def measure_formats(rounds: int = 3) -> tuple[float, float]:
    """Seconds per step, contiguous and channels_last: the best of `rounds` alternating measurements of each."""
    pairs = [(step_seconds(False), step_seconds(True)) for _ in range(rounds)]
    return min(p[0] for p in pairs), min(p[1] for p in pairs)

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
        a, b = torch.randn(512, 512), torch.randn(512, 512)
        a @ b  # warm-up
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            a @ b
            n += 1
        _PROBE.append(2 * 512 ** 3 * n / (time.perf_counter() - t0) / 1e9)
    return _PROBE[0]
