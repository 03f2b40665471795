"""`make bench`: the package against its baselines, every figure a ratio measured side by side in this run.

python benchmarks/bench.py [--quick] [--only 1,4] [--cold-cpu] [--out benchmarks]
Writes benchmarks/RESULTS.md (and results.json) with the machine, threads and versions. --quick shrinks every
measurement (for the tests); --cold-cpu reruns the cpu profile from an empty run cache (hours) instead of
estimating its cold wall times from the committed reference run (every run's seconds in figures/cpu/runs.csv plus
each notebook's overhead, kdlib.eta.cold_seconds).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from kdlib import costs, data, device, eta, metrics, models, prune, quantize, report, reproduce, train  # noqa: E402

QUICK = False
CPU = torch.device("cpu")


def row(target: str, measure: str, ours: float, baseline: float, ratio: float, goal: str, passed: bool | None,
        note: str = "") -> dict:
    return {"target": target, "measure": measure, "ours": ours, "baseline": baseline, "ratio": ratio,
            "goal": goal, "pass": {True: "pass", False: "FAIL", None: "n/a"}[passed], "note": note}


# ---------------------------------------------------------------- 1. data pipeline
class PerSampleDataset(torch.utils.data.Dataset):
    """What torchvision's datasets do: one PIL image per __getitem__, then per-sample transforms."""

    def __init__(self, split: data.TensorSplit, transform):
        self.x, self.y, self.transform = split.x.numpy(), split.y.numpy(), transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        img = self.x[i]
        img = Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0))
        return self.transform(img), int(self.y[i])


def images_per_second(batches, n_images: int) -> float:
    seen, t0 = 0, time.perf_counter()
    for x, _ in batches:
        seen += len(x)
        if seen >= n_images:
            break
    return seen / (time.perf_counter() - t0)


def bench_data() -> list[dict]:
    fmnist = data.load("fashion_mnist")
    g = torch.Generator().manual_seed(0)
    cifar = data.TensorSplit(torch.randint(0, 256, (50_000, 3, 32, 32), dtype=torch.uint8, generator=g),
                             torch.randint(0, 10, (50_000,), generator=g))
    cifar_info = data.info("cifar10")
    n = 6_400 if QUICK else 25_600
    rows = []
    for name, split, info in [("Fashion-MNIST 28x28x1", fmnist.train, fmnist.info),
                              ("CIFAR-shaped 32x32x3", cifar, cifar_info)]:
        size, pad = split.x.shape[-1], info.crop_padding
        ours = images_per_second(data.TensorLoader(split, info, 128, train=True, seed=0), n)
        tf = T.Compose([T.RandomCrop(size, padding=pad), T.RandomHorizontalFlip(), T.ToTensor(),
                        T.Normalize(info.mean, info.std)])
        base = {}
        for workers in (0, 2):
            dl = torch.utils.data.DataLoader(PerSampleDataset(split, tf), batch_size=128, shuffle=True,
                                             num_workers=workers, drop_last=True)
            base[workers] = images_per_second(dl, n)
        best = max(base, key=base.get)
        ratio = ours / base[best]
        rows.append(row("1. data pipeline", f"{name}, random crop + flip, batch 128 (images/s)", ours, base[best],
                        ratio, ">= 5x", ratio >= 5,
                        f"baseline: torchvision transforms per sample + DataLoader, best of 0 and 2 workers "
                        f"({base[0]:.0f} / {base[2]:.0f} img/s)"))
    return rows


# ---------------------------------------------------------------- 2-3. training loop
def cifar_like(n: int) -> data.TensorLoader:
    g = torch.Generator().manual_seed(1)
    split = data.TensorSplit(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g),
                             torch.randint(0, 10, (n,), generator=g))
    return data.TensorLoader(split, data.info("cifar10"), 128, train=True, seed=0)


def bare_loop(model, loader, cfg: train.TrainConfig) -> float:
    """The loop a researcher writes by hand: same model, data, optimizer, memory format."""
    model = device.prepare(model, CPU).train()
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                          weight_decay=cfg.weight_decay)
    t0 = time.perf_counter()
    for x, y in loader:
        loss = F.cross_entropy(model(device.batch_to(x, CPU)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def fit_time(model, loader, cfg: train.TrainConfig) -> float:
    t0 = time.perf_counter()
    train.fit(model, loader, None, config=cfg, device="cpu", progress=False)
    return time.perf_counter() - t0


def alternate(a, b, repeats: int) -> tuple[float, float]:
    """Median times of a() and b(), run in turns so that machine load hits both alike."""
    ta, tb = [], []
    for _ in range(repeats):
        ta.append(a())
        tb.append(b())
    return statistics.median(ta), statistics.median(tb)


def bench_training() -> list[dict]:
    loader = cifar_like(1_280 if QUICK else 3_840)
    cfg = train.TrainConfig(epochs=1, lr=0.05, schedule="constant", optimizer="sgd", momentum=0.9, nesterov=True,
                            weight_decay=5e-4)
    make = lambda: models.build("cifar_resnet20", 10, width=0.5)
    repeats = 3 if QUICK else 5
    bare, ours = alternate(lambda: bare_loop(make(), loader, cfg), lambda: fit_time(make(), loader, cfg), repeats)
    rows = [row("2. fit() overhead", "cifar_resnet20 (width 0.5), 32x32x3, batch 128, SGD: seconds per epoch",
                ours, bare, ours / bare, "<= 1.05x", ours / bare <= 1.05,
                f"median of {repeats} alternating epochs; fit() adds history, accuracy, NaN check, callbacks")]

    def masked():
        model = make()
        prune.l1_unstructured(model, 0.5)
        return fit_time(model, loader, cfg)
    dense, sparse = alternate(lambda: fit_time(make(), loader, cfg), masked, repeats)
    rows.append(row("3. masked training", "same, 50% global L1 masks (torch.nn.utils.prune) vs dense: s/epoch",
                    sparse, dense, sparse / dense, "<= 1.15x", sparse / dense <= 1.15,
                    "masks recompute weight = weight_orig * mask in a forward pre-hook every step"))
    return rows


# The cpu profile's real models (name, width, channels, batch size), timed on Fashion-MNIST-shaped 28 px batches.
CPU_MODELS = [("cifar_vgg19", 0.125, 64), ("cifar_vgg11", 0.125, 64), ("dg2pf_resnet18", 0.25, 128),
              ("cifar_resnet8x4", 0.5, 128), ("cifar_resnet20", 0.5, 128), ("squeezenet1_0", 1.0, 64)]


def fashion_like(n: int, batch: int, size: int = 28) -> data.TensorLoader:
    g = torch.Generator().manual_seed(2)
    split = data.TensorSplit(torch.randint(0, 256, (n, 1, size, size), dtype=torch.uint8, generator=g),
                             torch.randint(0, 10, (n,), generator=g))
    return data.TensorLoader(split, data.info("fashion_mnist"), batch, train=True, seed=0)


def in_layout(channels_last: bool | None, fn):
    """fn() with the CPU memory format forced (True: channels_last, False: contiguous) or, with None, the one measured
    for this machine (kdlib.device.cpu_prefers_channels_last)."""
    old = os.environ.get("KDLIB_CHANNELS_LAST")
    if channels_last is None:
        os.environ.pop("KDLIB_CHANNELS_LAST", None)
    else:
        os.environ["KDLIB_CHANNELS_LAST"] = "1" if channels_last else "0"
    try:
        return fn()
    finally:
        os.environ.pop("KDLIB_CHANNELS_LAST", None) if old is None else os.environ.__setitem__("KDLIB_CHANNELS_LAST", old)


def fit_images_per_second(make, loader, cfg, channels_last: bool | None) -> float:
    """images/s of one fit() epoch; channels_last=True is the fit() the cpu-profile issue measured (channels_last forced
    on CPU), None today's (the layout measured for this machine)."""
    return len(loader) * loader.batch_size / in_layout(channels_last, lambda: fit_time(make(), loader, cfg))


def bench_cpu_profile_throughput() -> list[dict]:
    """fit() now (in the layout measured for this machine) against the fit() the cpu-profile issue measured
    (channels_last forced on CPU) and against a plain contiguous loop (what fit() did between the two), on the cpu
    profile's real models: images/s, alternating, median."""
    rows, totals = [], {"new": 0.0, "old": 0.0, "paired": 0.0, "bare": 0.0}
    repeats = 1 if QUICK else 3
    for name, width, batch in CPU_MODELS[:2] if QUICK else CPU_MODELS:
        loader = fashion_like(batch * (4 if QUICK else 12), batch)
        cfg = train.TrainConfig(epochs=1, lr=0.05, schedule="constant", batch_size=batch)
        make = lambda: models.build(name, 10, in_channels=1, width=width)
        new, old = alternate(lambda: fit_images_per_second(make, loader, cfg, None),
                             lambda: fit_images_per_second(make, loader, cfg, True), repeats)
        # fit() against the plain loop, alternating too: this box drifts by up to 20% between minutes
        paired, bare_s = alternate(lambda: fit_images_per_second(make, loader, cfg, None),
                                   lambda: in_layout(False, lambda: bare_loop(make(), loader, cfg)), repeats)
        bare = len(loader) * batch / bare_s
        totals["new"] += 1 / new
        totals["old"] += 1 / old
        totals["paired"] += 1 / paired
        totals["bare"] += 1 / bare
        rows.append(row("10. cpu profile training", f"{name} (width {width}), 1x28x28, batch {batch}: images/s, fit() now "
                        f"vs the previous fit()", new, old, new / old, ">= 1.0x; never below a plain loop",
                        paired >= 0.95 * bare, f"plain contiguous loop {bare:.0f} images/s, alternating "
                        f"with fit() at {paired:.0f} (fit/loop {paired / bare:.2f}x)"))
    ratio = totals["old"] / totals["new"]  # equal images per model: harmonic throughput
    rows.append(row("10. cpu profile training", "all models above, equal images each: total throughput now vs before",
                    ratio, 1.0, ratio, ">= 1.5x", ratio >= 1.5,
                    f"{device.cpu_model()}, {torch.get_num_threads()} threads; this machine's measured CPU layout: "
                    f"{'channels_last' if device.cpu_prefers_channels_last() else 'contiguous'} (kdlib.device)"))
    loop = totals["bare"] / totals["paired"]
    rows.append(row("10. cpu profile training", "all models above, equal images each: total throughput of fit() vs a "
                    "plain contiguous loop", loop, 1.0, loop, "reported", None,
                    "what a researcher's own loop would get on this machine; fit() uses the layout measured for it"))
    return rows + training_candidates()


def step_images_per_second(model, batch: int, steps: int) -> tuple[float, float]:
    """(images/s after warm-up, seconds of the first step) of SGD steps on one random 28 px batch, in this machine's
    layout: the training step alone, without data loading or fit()'s bookkeeping."""
    model = device.prepare(model, CPU).train()
    x = device.batch_to(torch.randn(batch, 1, 28, 28), CPU)
    y = torch.randint(0, 10, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0
    for _ in range(2):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t0), first


def training_candidates() -> list[dict]:
    """Speed-ups the cpu profile could take and does not (reported, not adopted): torch.compile of the training
    step, and larger batches, on Park & No's teacher (its largest cost) and DG2PF's ResNet-18."""
    rows, steps = [], 3 if QUICK else 20
    for name, width, batch in [("cifar_vgg19", 0.125, 64), ("dg2pf_resnet18", 0.25, 128)][:1 if QUICK else 2]:
        make = lambda: models.build(name, 10, in_channels=1, width=width)
        torch.manual_seed(0)
        eager = step_images_per_second(make(), batch, steps)[0]
        torch._dynamo.reset()
        compiled, first = step_images_per_second(torch.compile(make()), batch, steps)
        eager = (eager + step_images_per_second(make(), batch, steps)[0]) / 2  # before and after: drift hits both
        rows.append(row("10. not adopted", f"{name} (width {width}), batch {batch}: training step images/s, "
                        f"torch.compile (Inductor) vs eager", compiled, eager, compiled / eager, "reported", None,
                        f"first compiled step {first:.0f} s (16-23 s with a cold Inductor cache; each new architecture "
                        f"compiles, and the cpu profile builds hundreds of models); "
                        f"compiled kernels change the last float bits of every cached run"))
        big = 4 * batch
        large = step_images_per_second(make(), big, max(2, steps // 4))[0]
        rows.append(row("10. not adopted", f"{name} (width {width}): training step images/s, batch {big} vs the "
                        f"profile's {batch}", large, eager, large / eager, "reported", None,
                        "changes the experiment: the cpu profile's epochs, learning rates and KD checks were tuned at "
                        "its batch sizes"))
    return rows


# ---------------------------------------------------------------- 4. channel pruning latency
def bench_channel_pruning() -> list[dict]:
    rows = []
    for name, example in [("cifar_resnet56", torch.randn(64, 3, 32, 32)), ("resnet18", torch.randn(8, 3, 224, 224))]:
        dense = models.build(name, 10 if name.startswith("cifar") else 1000).eval()
        pruned = copy.deepcopy(dense)
        prune.channel_l1(pruned, example[:1], ratio=0.5)
        pruned.eval()
        run = 0.5 if QUICK else 2.0
        lat = {k: metrics.latency(m, example, run)["median_ms"] for k, m in (("dense", dense), ("pruned", pruned))}
        macs = {k: metrics.macs(m, example)["macs"] for k, m in (("dense", dense), ("pruned", pruned))}
        params = {k: metrics.count_params(m)["total"] for k, m in (("dense", dense), ("pruned", pruned))}
        speedup = lat["dense"] / lat["pruned"]
        rows.append(row("4. channel pruning", f"{name}, 50% of channels removed (Torch-Pruning L1), batch "
                        f"{example.shape[0]} at {example.shape[-1]} px: latency ms", lat["pruned"], lat["dense"],
                        speedup, ">= 1.5x faster", speedup >= 1.5,
                        f"MACs {macs['dense'] / 1e6:.1f}M -> {macs['pruned'] / 1e6:.1f}M "
                        f"({macs['dense'] / macs['pruned']:.2f}x fewer); params {params['dense']:,} -> "
                        f"{params['pruned']:,}; eager fp32, {torch.get_num_threads()} threads"))
    return rows


# ---------------------------------------------------------------- 5. int8
def bench_int8() -> list[dict]:
    """ResNet-50 (torchvision, 10 classes) trained briefly on Fashion-MNIST at 32 px, then PT2E int8."""
    per_class = 100 if QUICK else 500
    d = data.load("fashion_mnist", train_per_class=per_class, test_per_class=50 if QUICK else 200)
    torch.manual_seed(0)
    model = models.build("resnet50", 10, in_channels=1)
    loader = data.TensorLoader(d.train, d.info, 64, train=True, seed=0, image_size=32)
    cfg = train.TrainConfig(epochs=1 if QUICK else 6, lr=0.05, schedule="cosine")
    train.fit(model, loader, None, config=cfg, device="cpu", progress=False)
    model = model.cpu().to(memory_format=torch.contiguous_format).eval()
    test = data.TensorLoader(d.test, d.info, 256, image_size=32)
    calib = [x for x, _ in data.TensorLoader(d.val, d.info, 64, image_size=32)][:8]
    small_test = data.TensorSplit(d.test.x[:64], d.test.y[:64])
    settings = [(32, 32, calib, test),  # the resolution it was trained and is tested at
                (8, 224, [F.interpolate(x, size=224, mode="bilinear") for x in calib[:2]],
                 data.TensorLoader(small_test, d.info, 32, image_size=224))]  # ImageNet/Birds resolution: speed only
    rows = []
    for batch, size, calibration, test_loader in settings:
        example = torch.randn(batch, 1, size, size)
        int8 = quantize.ptq_int8(model, calibration, example)
        with torch.no_grad():
            acc = {name: train.evaluate(m, test_loader, "cpu", topk=(1,))["top1"] for name, m in
                   (("fp32", model), ("int8", int8))}
        runners = {"fp32": quantize.compiled(model), "int8": quantize.compiled(int8)}
        run = 0.5 if QUICK else 1.0
        fp32_ms, int8_ms = alternate(lambda: metrics.latency(runners["fp32"], example, run)["median_ms"],
                                     lambda: metrics.latency(runners["int8"], example, run)["median_ms"], 3)
        speedup, drop = fp32_ms / int8_ms, 100 * (acc["fp32"] - acc["int8"])
        accuracy = (f"test top-1 fp32 {100 * acc['fp32']:.2f}% vs int8 {100 * acc['int8']:.2f}% "
                    f"({len(d.test)} Fashion-MNIST test images)" if size == 32 else
                    "accuracy not judged at 224 px (the model was trained at 32 px); int8 calibrated on upsampled images")
        rows.append(row("5. int8 PTQ", f"ResNet-50, batch {batch} at {size} px, both Inductor-compiled: latency ms",
                        int8_ms, fp32_ms, speedup, ">= 3x faster, accuracy kept",
                        speedup >= 3 and (drop <= 1.0 or size != 32),
                        f"{accuracy}; medians of 3 alternating 1 s timings each; size "
                        f"{quantize.serialized_size(model) / 2**20:.1f} -> {quantize.serialized_size(int8) / 2**20:.1f} "
                        f"MiB; {torch.get_num_threads()} threads (CPU has AVX-512 VNNI)"))
    return rows


# ---------------------------------------------------------------- 6-7. notebooks
def reproduce_run(profile: str, papers: list[str], runs_dir: Path, figures: Path) -> dict:
    """Wall time of each notebook, run in a fresh process by `python -m kdlib.reproduce`."""
    env = {**os.environ, "KDLIB_RUNS": str(runs_dir), "KDLIB_FIGURES": str(figures), "TQDM_DISABLE": "1"}
    times = {}
    for paper in papers:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kdlib.reproduce", "--profile", profile, "--notebook", paper],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        times[paper] = time.perf_counter() - t0
    return times


def bench_notebooks(cold_cpu: bool) -> list[dict]:
    rows, papers = [], list(reproduce.NOTEBOOKS)
    with tempfile.TemporaryDirectory() as tmp:
        smoke = reproduce_run("smoke", papers, Path(tmp) / "smoke-runs", Path(tmp) / "figures")
    total = sum(smoke.values())
    rows.append(row("7. make reproduce, smoke", "every notebook from an empty run cache: minutes",
                    total / 60, 3.0, total / 180, "<= 3 min", total <= 180,
                    ", ".join(f"{p} {s:.0f} s" for p, s in smoke.items()) + "; includes kernel start-up"))
    cpu_runs = ROOT / "runs"
    if cold_cpu:
        cpu_runs = Path(tempfile.mkdtemp(prefix="kdrepro-cold-"))
        cold = reproduce_run("cpu", papers, cpu_runs, cpu_runs / "figures")
        source = "measured now from an empty run cache"
    else:
        cold = eta.cold_seconds("cpu")
        if set(cold) != set(papers):
            return rows + [row("6-7. cpu profile", "no reference cpu run recorded", float("nan"), float("nan"),
                               float("nan"), "", None, "run `make reproduce` (or bench --cold-cpu) first")]
        ref = eta.read_json(report.figures_root() / "cpu" / "timings.json")
        source = (f"estimated from the reference run (figures/cpu/runs.csv: every run's seconds when computed, plus "
                  f"each notebook's overhead; {ref.get('cpu')}, {ref.get('threads')} threads, "
                  f"{ref.get('gflops', float('nan')):.0f} GFLOP/s probe; the synthesis's int8 and latency "
                  f"measurements, cached outside the run log, are not counted)")
    four = sum(s for p, s in cold.items() if p != "synthesis")
    rows.append(row("7. make reproduce, cpu", "the four paper notebooks from an empty run cache: minutes",
                    four / 60, 45.0, four / 2700, "<= 45 min", four <= 2700,
                    ", ".join(f"{p} {s / 60:.1f} min" for p, s in cold.items()) + f"; {source}"))
    with tempfile.TemporaryDirectory() as figs:
        warm = reproduce_run("cpu", papers, cpu_runs, Path(figs))
    for paper in papers:
        ratio = warm[paper] / cold[paper]
        rows.append(row("6. warm rerun", f"{paper} at cpu, every run cached: seconds", warm[paper], cold[paper],
                        ratio, "<= 5% of cold", ratio <= 0.05, "cold: as in row 7"))
    return rows


# ---------------------------------------------------------------- 8. GPU-hours and the CUDA path
def bench_gpu_hours() -> list[dict]:
    """The paper profiles' estimated cost, from each notebook's own paper config and forward MACs."""
    rows = []
    for paper in reproduce.NOTEBOOKS:
        hours = costs.estimate(paper)
        rows.append(row("8. paper profile cost", f"{paper}: estimated GPU-hours", hours.sum(), float("nan"),
                        float("nan"), "reported", None,
                        "; ".join(f"{k} {v:.2f}" for k, v in hours.items()) +
                        " (3x forward FLOPs x images x epochs on an A100 at 35% of its 312 bf16 TFLOP/s: a lower "
                        "bound; small 32 px models are usually input-bound, expect 2-5x more)"))
    cast = device.autocast(torch.device("cuda"))
    ok = isinstance(cast, torch.autocast) and cast.fast_dtype == torch.bfloat16
    rows.append(row("8. CUDA path", "bf16 autocast and channels_last chosen for device 'cuda' (inspection)",
                    float(ok), float("nan"), float("nan"), "bf16 + channels_last", ok,
                    "device.autocast(cuda) is bf16 torch.autocast; device.prepare/batch_to use channels_last on "
                    "cuda (tests/test_train.py checks both); not run: no GPU here"))
    return rows


# Each paper's main training at the paper profile: (paper, model, classes, image size, batch).
GPU_MODELS = [("park2022", "cifar_vgg19", 100, 32, 128), ("kieu_sood", "resnet50", 525, 224, 64),
              ("fontana2024", "dg2pf_resnet18", 10, 32, 128), ("malihi2024", "resnet101", 100, 32, 64)]


def bench_gpu() -> list[dict]:
    """On CUDA: images/s of fit() (data on the device, bf16 autocast, channels_last) against a plain loop fed by a
    torchvision DataLoader with pinned memory, for each paper's main training. Skipped without a GPU."""
    if not torch.cuda.is_available():
        return [row("9. GPU training", "each paper's main training on CUDA vs a plain DataLoader loop", float("nan"),
                    float("nan"), float("nan"), ">= 1.0x", None, "skipped: no GPU on this machine")]
    cuda, rows = torch.device("cuda"), []
    for paper, name, classes, size, batch in GPU_MODELS:
        g = torch.Generator().manual_seed(0)
        split = data.TensorSplit(torch.randint(0, 256, (batch * 20, 3, size, size), dtype=torch.uint8, generator=g),
                                 torch.randint(0, classes, (batch * 20,), generator=g))
        info = data.Info(classes, 3, size, (0.5,) * 3, (0.25,) * 3, "x", "x")
        on_device = data.TensorLoader(split, info, batch, train=True, device=cuda, seed=0)
        cfg = train.TrainConfig(epochs=1, lr=0.01, schedule="constant", batch_size=batch)
        ours = len(on_device) * batch / fit_time_on(models.build(name, classes), on_device, cfg, cuda)
        tv = torch.utils.data.TensorDataset(split.x.float().div(255), split.y)
        plain = torch.utils.data.DataLoader(tv, batch_size=batch, shuffle=True, pin_memory=True, num_workers=4)
        base = len(plain) * batch / plain_gpu_loop(models.build(name, classes).to(cuda), plain, cuda)
        rows.append(row("9. GPU training", f"{paper}: {name} at {size} px, batch {batch}: images/s", ours, base,
                        ours / base, ">= 1.0x", ours >= base, "bf16 autocast + channels_last vs fp32 DataLoader loop"))
    return rows


def fit_time_on(model, loader, cfg, dev) -> float:
    t0 = time.perf_counter()
    train.fit(model, loader, None, config=cfg, device=dev, progress=False)
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def plain_gpu_loop(model, loader, dev) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    t0 = time.perf_counter()
    for x, y in loader:
        loss = F.cross_entropy(model(x.to(dev, non_blocking=True)), y.to(dev, non_blocking=True))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    torch.cuda.synchronize()
    return time.perf_counter() - t0


SECTIONS = {1: bench_data, 2: bench_training, 10: bench_cpu_profile_throughput, 4: bench_channel_pruning, 5: bench_int8,
            6: None, 8: bench_gpu_hours, 9: bench_gpu}


def write_results(rows: list[dict], seconds: float, out: Path) -> Path:
    m = report.machine()
    df = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"machine": m, "rows": rows}, indent=1, default=float))
    shown = df.assign(ours=df.ours.map(lambda v: f"{v:.4g}"), baseline=df.baseline.map(lambda v: f"{v:.4g}"),
                      ratio=df.ratio.map(lambda v: f"{v:.2f}")).drop(columns=["section"], errors="ignore")
    shown = shown[[c for c in shown.columns if c != "measured"] + (["measured"] if "measured" in shown else [])]
    text = [
        "# Benchmarks", "",
        f"Written by `make bench` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} (this call: {seconds / 60:.1f} min;"
        f" `--only` reruns replace just their sections, see `measured`)"
        f"{' (--quick: reduced sizes)' if QUICK else ''}. Machine: {m['processor']}, {m['threads']} torch threads, "
        f"{'CUDA' if m['cuda'] else 'no GPU'}; torch {m['torch']}, kdlib {m['kdlib']}, commit `{m['commit']}`.",
        "Every ratio compares two measurements taken side by side in this run (alternating where noisy).", "",
        shown.to_markdown(index=False), "",
        f"{(df['pass'] == 'pass').sum()} pass, {(df['pass'] == 'FAIL').sum()} fail, "
        f"{(df['pass'] == 'n/a').sum()} reported only.", ""]
    (out / "RESULTS.md").write_text("\n".join(text))
    return out / "RESULTS.md"


def section_of(r: dict) -> int:
    """A row's section: stored, or read from its target's number (2-3 and 6-7 are measured together)."""
    n = int(r["target"].split(".")[0].split("-")[0])
    return r.get("section") or {3: 2, 7: 6}.get(n, n)


def main(argv: list[str] | None = None) -> int:
    global QUICK
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", help="comma-separated section numbers: 1, 2 (2-3), 4, 5, 6 (6-7), 8, 9 (GPU), 10 (cpu profile training)")
    parser.add_argument("--cold-cpu", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "benchmarks"), help="folder for RESULTS.md and results.json")
    args = parser.parse_args(argv)
    QUICK = args.quick
    only = [int(s) for s in args.only.split(",")] if args.only else list(SECTIONS)
    rows, t0 = [], time.perf_counter()
    for k in only:
        print(f"section {k} ...", flush=True)
        new = bench_notebooks(args.cold_cpu) if k == 6 else SECTIONS[k]()
        rows += [{**r, "section": k, "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())} for r in new]
        for r in rows[-3:]:
            print(f"  {r['measure'][:70]}: ratio {r['ratio']:.2f} ({r['pass']})", flush=True)
    previous = Path(args.out) / "results.json"
    if args.only and previous.exists():  # a partial run replaces only its sections of the last full run
        kept = [{"measured": "in the previous full run", **r} for r in json.loads(previous.read_text())["rows"]
                if section_of(r) not in only]
        rows = sorted(kept + rows, key=lambda r: r.get("section", 0))
    path = write_results(rows, time.perf_counter() - t0, Path(args.out))
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
