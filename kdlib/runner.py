"""The runner: computes (or loads) run specs on one device, and hands out their data, models and results.

A notebook makes one `Runner(device)`; `runner.results({key: spec}, keys)` gives one tidy row per run. Nothing
here is global: the device, progress display and process caches belong to the runner (caches are bounded).
"""
from __future__ import annotations

import copy
import json
import os
import sys
import time
from collections import OrderedDict
from functools import lru_cache

import pandas as pd
import torch
from torch import nn

from . import data as kdata
from . import distill, fingerprint, models, prune, runs, specs
from .stages import STAGES
from .device import pick_device

LOCAL_ONLY = ("int8",)  # measurements of this machine: never sent to a cluster


@lru_cache(maxsize=4)
def _dataset(data: specs.Data, split_seed: int) -> kdata.Data:
    full = kdata.load(data.name, seed=split_seed, val_fraction=data.val_fraction, train_per_class=data.train_per_class,
                      test_per_class=data.test_per_class,
                      **({"val_per_class": data.val_per_class} if data.val_per_class else {}))
    if data.classes is None:
        return full
    info = kdata.Info(**{**full.info.__dict__, "num_classes": len(data.classes)})
    pick = lambda s: kdata.class_subset(s, list(data.classes))
    return kdata.Data(full.name, info, pick(full.train), pick(full.val), pick(full.test), full.root)


def clear_caches() -> None:
    """Forget every process-wide cache (datasets, run ids, dataset fingerprints)."""
    _dataset.cache_clear()
    specs.run_id.cache_clear()
    fingerprint.clear_caches()


class PendingRuns(RuntimeError):
    """Raised in collect mode where a notebook needs results that are not computed yet."""


class Runner:
    """Runs specs on `device` ("auto": cuda, then mps, then cpu), with a progress display or quietly."""

    def __init__(self, device: str = "auto", progress: bool = True, root=None, max_models: int = 16):
        self.device, self.progress, self.root = pick_device(device), progress, root
        self._models: OrderedDict[str, nn.Module] = OrderedDict()
        self._shapes: OrderedDict[str, tuple] = OrderedDict()  # cost mode's estimates (load_for_shape)
        self.max_models = max_models

    # ------------------------------------------------------------ data
    def dataset(self, spec: specs.Spec) -> kdata.Data:
        """The dataset (with its train/val/test split) that run `spec` trains and is tested on."""
        return _dataset(specs.data_owner(spec).data, specs.derived_seeds(spec)["split"])

    def loaders(self, spec: specs.Spec, batch_size: int) -> tuple:
        """Train (augmented, shuffled by the run's order seed), validation and test batches of `spec`'s data."""
        d, seeds, size = self.dataset(spec), specs.derived_seeds(spec), specs.data_owner(spec).data.image_size
        make = lambda split, bs, **kw: kdata.loader(d, split, bs, device=self.device, image_size=size, **kw)
        return make("train", batch_size, seed=seeds["order"]), make("val", 512), make("test", 512)

    def eval_loader(self, spec: specs.Spec, split: str, batch_size: int = 512):
        """Batches of `split` (train included) without augmentation or shuffling, for measurements."""
        return kdata.loader(self.dataset(spec), split, batch_size, train=False, device=self.device,
                            image_size=specs.data_owner(spec).data.image_size)

    def example(self, spec: specs.Spec) -> torch.Tensor:
        info, size = self.dataset(spec).info, specs.data_owner(spec).data.image_size
        return torch.zeros(2, info.in_channels, size or info.image_size, size or info.image_size)

    # ------------------------------------------------------------ models
    def fresh_model(self, spec: specs.Spec) -> nn.Module:
        """The untrained architecture of a chain's root, initialised from the root's init seed."""
        r = specs.root(spec)
        info = self.dataset(r).info
        torch.manual_seed(specs.derived_seeds(r)["init"])
        m = r.model
        net = models.build(m.name, info.num_classes, info.in_channels, m.width, pretrained=m.pretrained, plan=m.plan)
        kd = getattr(r, "kd", None)
        if kd is not None and kd.method == "simkd":
            return distill.SimKD(net, self.load(kd.teacher), self.example(r), kd.factor)
        return net

    def load(self, spec: specs.Spec, masks: bool = True) -> nn.Module:
        """The trained model of run `spec` (computed if needed), pruning masks re-attached unless masks=False."""
        result = self.run(spec)
        if result.id not in self._models:
            model = self.fresh_model(spec)
            classes = self.dataset(spec).info.num_classes
            if models.classifier_layers(model)[0].weight.shape[0] != classes:  # a transfer run's new head
                models.reset_classifier(model, classes)
            model = prune.load_pruned(model, result.state_dict(), result.shape(), f"run {result.path}")
            self._models[result.id] = model.eval()
            while len(self._models) > self.max_models:
                self._models.popitem(last=False)
        self._models.move_to_end(result.id)
        model = copy.deepcopy(self._models[result.id])
        if masks and result.masks():
            prune.apply_masks(model, result.masks())
        return model.eval()

    def load_for_shape(self, spec: specs.Spec) -> nn.Module:
        """The model of run `spec` for a plan that only reads its nonzeros (a sparsity-matched student's widths):
        `load`, except in cost mode ($KDLIB_COST_SHAPES, set by `python -m kdlib.costs` only), where an unfinished
        run is estimated by its architecture at initialisation with its chain's pruning applied. Never trained on,
        measured or cached: the estimate only sizes the plan so that its cost can be counted before the run exists."""
        if not os.environ.get("KDLIB_COST_SHAPES") or runs.is_finished(spec, self.root):
            return self.load(spec)
        rid = specs.run_id(spec)
        if rid not in self._shapes:  # chains share their rounds: each estimated once (bounded like the model cache)
            model = self._shape_estimate(spec)
            self._shapes[rid] = (model, prune.make_permanent(model))  # masks folded in, so that it can be copied
            while len(self._shapes) > self.max_models:
                self._shapes.popitem(last=False)
        self._shapes.move_to_end(rid)
        model, kept = self._shapes[rid]
        return prune.apply_masks(copy.deepcopy(model), kept) if kept else copy.deepcopy(model)

    def _shape_estimate(self, spec: specs.Spec) -> nn.Module:
        if spec.stage == "prune":
            from .stages import apply_prune
            return apply_prune(self.load_for_shape(spec.parent).cpu(), spec, self)
        if spec.stage == "train" and spec.parent is not None:
            return self.load_for_shape(spec.parent)
        kd = getattr(spec, "kd", None)
        if spec.stage in ("train", "init") and (kd is None or kd.method != "simkd"):
            return self.fresh_model(spec)
        raise ValueError(f"no shape estimate for {spec.stage} run {specs.run_id(spec)} (cost mode estimates train, "
                         "init and prune chains)")

    # ------------------------------------------------------------ runs
    def run(self, spec: specs.Spec) -> runs.Run:
        """The finished run of `spec`: from the cache, or computed now (resuming an interrupted computation)."""
        if not specs.is_spec(spec):
            raise TypeError(f"expected a run spec ({', '.join(specs.STAGES)}), got {type(spec).__name__}")
        _defer([spec], self.root)
        started = time.perf_counter()
        computed = []

        def compute(workdir):
            with PeakMemory() as memory:
                result = STAGES[spec.stage](spec, self, workdir)
            result.meta.update(peak_rss_mib=memory.peak_mib, wall_seconds=time.perf_counter() - started)
            computed.append(1)
            return result
        run = runs.cached(spec, compute, root=self.root)
        if computed:
            self._announce(spec, run, time.perf_counter() - started)
        _log_run(spec, run, bool(computed))
        return run

    def _announce(self, spec: specs.Spec, run: runs.Run, seconds: float) -> None:
        """One line per finished computation, on stderr and appended to $KDLIB_PROGRESS (which `make reproduce`
        shows in the terminal while the notebook runs)."""
        top1 = run.metrics.get("test_top1")
        acc = f", test top-1 {100 * top1:.2f}%" if isinstance(top1, float) else ""
        announce(f"{spec.stage} {specs.model_name(spec)}: {seconds:.1f} s{acc}", run.id)

    def results(self, cells: dict, keys: list[str]) -> pd.DataFrame:
        """Run (or load) every spec of `cells` {key tuple: spec}; one tidy row per run: keys, metrics, run id."""
        from tqdm.auto import tqdm
        _defer(list(cells.values()), self.root)  # in collect mode, every pending run of this table at once
        rows = []
        for key, spec in tqdm(list(cells.items()), desc="runs", disable=not self.progress, leave=False):
            key = key if isinstance(key, tuple) else (key,)
            r = self.run(spec)
            rows.append({**dict(zip(keys, key)), **{k: v for k, v in r.metrics.items() if not isinstance(v, (dict, list))},
                         "run": r.id})
        return pd.DataFrame(rows)


def announce(line: str, detail: str = "") -> None:
    """One progress line on stderr and appended to $KDLIB_PROGRESS (which `make reproduce` shows in the terminal
    while the notebook runs); `detail` (e.g. the run id) goes to stderr only."""
    print(f"[kdlib] {line}" + (f" ({detail})" if detail else ""), file=sys.stderr, flush=True)
    if os.environ.get("KDLIB_PROGRESS"):
        with open(os.environ["KDLIB_PROGRESS"], "a") as f:
            f.write(line + "\n")


def _log_run(spec: specs.Spec, run: runs.Run, computed: bool) -> None:
    """Append every run a notebook used to $KDLIB_RUNLOG (JSON lines): what a profile really executes, with each
    run's seconds per step and peak memory (`make reproduce` writes figures/<profile>/runs.csv from it)."""
    target = os.environ.get("KDLIB_RUNLOG")
    if not target:
        return
    row = {"run": run.id, "stage": spec.stage, "model": specs.model_name(spec), "computed": computed,
           "seconds_per_step": run.metrics.get("seconds_per_step"), "peak_rss_mib": run.meta.get("peak_rss_mib"),
           "wall_seconds": run.meta.get("wall_seconds"), "spec": specs.to_dict(spec)}
    with open(target, "a") as f:
        f.write(json.dumps(row) + "\n")


class PeakMemory:
    """The peak resident memory of this process while the block runs (sampled every 20 ms from /proc), in MiB."""

    def __init__(self, every: float = 0.02):
        self.every, self.peak_mib, self._stop = every, float("nan"), None

    @staticmethod
    def rss_mib() -> float:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, ValueError, IndexError):
            import resource  # no /proc: the process's peak so far
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def __enter__(self):
        import threading
        self.peak_mib, self._stop = self.rss_mib(), threading.Event()

        def sample():
            while not self._stop.wait(self.every):
                self.peak_mib = max(self.peak_mib, self.rss_mib())
        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_mib = max(self.peak_mib, self.rss_mib())


def pending(cells: list, root=None) -> list[specs.Spec]:
    """The specs (and their parents) that have no finished run yet, parents first, without running them."""
    out, seen = [], set()

    def visit(spec):
        rid = specs.run_id(spec)
        if rid in seen:
            return
        seen.add(rid)
        if runs.is_finished(spec, root):  # its parents were finished before it
            return
        for dep in specs.parents(spec):
            visit(dep)
        out.append(spec)
    for s in cells:
        visit(s)
    return out


def _defer(cells: list, root=None) -> None:
    """In collect mode ($KDLIB_COLLECT names a file), record the unfinished runs among `cells` and stop here."""
    target = os.environ.get("KDLIB_COLLECT")
    if not target:
        return
    todo = pending(cells, root)
    if todo:
        with open(target, "a") as f:
            f.writelines(json.dumps(specs.to_dict(s), sort_keys=True) + "\n" for s in todo)
        raise PendingRuns(f"collect mode: {len(todo)} runs are not finished yet; recorded in {target}")


def machine_identity() -> str:
    """What a latency depends on besides the model: part of a measurement's spec, so another machine re-measures."""
    import platform
    return f"{platform.node()}|{platform.processor() or platform.machine()}|{torch.get_num_threads()} threads|" \
           f"torch {torch.__version__}"
