"""Run specs: what a run computes, as frozen dataclasses. A run's id is the hash of its fully resolved spec.

Every field takes part in the id, defaults included (open_lth's rule: a default changes nothing or changes the
id); a parent or a teacher enters by its own id, and a dataset by its fingerprint (file sizes and label hashes),
so relabelled data is a new run. A key no field has is an error, never ignored. One seed per run: its split,
init, data-order and sampling seeds derive from it (`derived_seeds`); a child run inherits its parent's seed.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field, fields, is_dataclass, replace
from functools import lru_cache
from typing import Any, ClassVar, Union

from . import data as kdata
from .fingerprint import fingerprint
from . import models
from .dg2pf import DG2PFConfig
from .train import TrainConfig

FORMAT = 3  # the cache format: bumped with every change of what an id covers (pinned in tests/test_specs.py)
PRUNING_METHODS = ("l1_unstructured", "channel_l1", "percentile", "synflow")
KD_METHODS = ("hinton", "simkd")


def strict(cls, mapping: dict, where: str = ""):
    """`cls(**mapping)`, with an unknown key named (and the valid ones listed) instead of a TypeError."""
    if not isinstance(mapping, dict):
        raise TypeError(f"{where or cls.__name__}: expected a mapping of settings, got {type(mapping).__name__}")
    valid = [f.name for f in fields(cls) if f.init]
    unknown = sorted(set(mapping) - set(valid))
    if unknown:
        raise KeyError(f"{where or cls.__name__}: unknown key(s) {', '.join(map(repr, unknown))}; "
                       f"valid: {', '.join(valid)}")
    return cls(**mapping)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _fraction(value, name: str, upper_open: bool = True) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and \
        0 <= value and (value < 1 if upper_open else value <= 1)
    _require(ok, f"{name} must be in [0, {'1)' if upper_open else '1]'}, got {value!r}")


@dataclass(frozen=True)
class Data:
    """A dataset and the part of it a run sees: subsets per class, classes kept, validation split, input size."""
    name: str
    train_per_class: int | None = None
    val_per_class: int | None = None      # validation held out of the whole training set; else val_fraction
    val_fraction: float = 0.1             # of the training subset, when val_per_class is None
    test_per_class: int | None = None     # None: the whole test set
    classes: tuple | None = None          # only these classes, relabelled 0..k-1
    image_size: int | None = None         # resize inputs to this many pixels (None: native)

    def __post_init__(self):
        _require(self.name in kdata.DATASETS, f"unknown dataset {self.name!r}; valid names: {', '.join(kdata.DATASETS)}")
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(int(c) for c in self.classes))
        _fraction(self.val_fraction, "val_fraction")
        for name in ("train_per_class", "val_per_class", "test_per_class", "image_size"):
            value = getattr(self, name)
            _require(value is None or (isinstance(value, int) and value >= 1), f"{name} must be None or >= 1, got {value!r}")


@dataclass(frozen=True)
class Model:
    """An architecture: a registry name at a width, ImageNet weights or not, or a plan of layer widths."""
    name: str
    width: float = 1.0
    pretrained: bool = False
    plan: tuple = ()    # cifar_vgg_custom: conv widths and "M"; cifar_resnet18_custom: stem width then 4 stage widths

    def __post_init__(self):
        object.__setattr__(self, "plan", tuple(self.plan))
        _require(self.name in models.names(), f"unknown model {self.name!r}; valid names: {', '.join(models.names())}")
        _require(isinstance(self.width, (int, float)) and self.width > 0, f"width must be > 0, got {self.width!r}")
        _require(bool(self.plan) == (self.name in models.CUSTOM), f"a plan is given exactly for {', '.join(models.CUSTOM)}")


@dataclass(frozen=True)
class KD:
    """Distillation from `teacher` (a run spec): Hinton's logit loss or SimKD's feature loss."""
    teacher: "Spec"
    method: str = "hinton"
    temperature: float = 4.0
    alpha: float = 0.9                  # weight of the soft (teacher) term
    factor: int = 2                     # SimKD only: the projector's bottleneck is teacher channels / factor

    def __post_init__(self):
        _require(is_spec(self.teacher), f"a KD teacher must be a run spec, got {type(self.teacher).__name__}")
        _require(self.method in KD_METHODS, f"unknown KD method {self.method!r}; valid: {', '.join(KD_METHODS)}")
        _require(isinstance(self.temperature, (int, float)) and math.isfinite(self.temperature) and self.temperature > 0,
                 f"temperature must be a finite number > 0, got {self.temperature!r}")
        _fraction(self.alpha, "alpha", upper_open=False)
        _require(isinstance(self.factor, int) and self.factor >= 1, f"factor must be an integer >= 1, got {self.factor!r}")


@dataclass(frozen=True)
class GMP:
    """Gradual magnitude pruning (Zhu & Gupta 2017) during a training: cubic schedule to `sparsity` over `epochs`."""
    sparsity: float
    epochs: int

    def __post_init__(self):
        _fraction(self.sparsity, "GMP sparsity")
        _require(isinstance(self.epochs, int) and self.epochs >= 1, f"GMP epochs must be >= 1, got {self.epochs!r}")


@dataclass(frozen=True)
class Train:
    """Train `model` from its initialisation, or continue from `parent`'s weights (its masks stay on)."""
    stage: ClassVar[str] = "train"
    optim: TrainConfig
    model: Model | None = None
    parent: "Spec | None" = None
    data: Data | None = None            # required with `model`; with `parent`: a new task (transfer)
    seed: int | None = None             # None: the parent's seed (0 for a run from scratch)
    kd: KD | None = None
    reset_head: bool = False            # transfer: a fresh classifier for the new task, the backbone kept
    last_layer_only: bool = False       # only the classifier trains (Malihi & Heidemann's fine-tuning)
    gmp: GMP | None = None

    def __post_init__(self):
        _require((self.model is None) != (self.parent is None), "a train spec needs exactly one of model= or parent=")
        _require(self.parent is not None or self.data is not None, "a train spec from scratch needs data=")
        _require(not (self.last_layer_only and self.gmp), "last_layer_only and gmp do not combine")
        _inherit_seed(self)


@dataclass(frozen=True)
class Init:
    """A model as built, not trained: its random initialisation (from the run's init seed), or torchvision's
    published ImageNet weights when `model.pretrained`; evaluated on `data`. A starting point for pruning at
    initialisation (SynFlow) or for pruning published weights (DG2PF on ImageNet)."""
    stage: ClassVar[str] = "init"
    model: Model
    data: Data
    seed: int = 0
    evaluate: bool = True


@dataclass(frozen=True)
class Prune:
    """Prune `parent` once (no training). channel_l1's `sparsity` is the fraction of parameters removed."""
    stage: ClassVar[str] = "prune"
    parent: "Spec"
    method: str
    sparsity: float
    scope: str = "global"          # l1_unstructured: "global" ranks all layers together, "layer" each alone
    first_conv: bool = True
    classifier: bool = True
    iterations: int = 100          # synflow only
    part: str = ""                 # prune only inside this submodule (dotted path; "" = the whole model)
    evaluate: bool = True
    seed: int | None = None

    def __post_init__(self):
        _require(self.method in PRUNING_METHODS, f"unknown pruning method {self.method!r}; valid: {', '.join(PRUNING_METHODS)}")
        _fraction(self.sparsity, "sparsity")
        _require(self.scope in ("global", "layer"), f"unknown scope {self.scope!r}; valid: 'global', 'layer'")
        _require(isinstance(self.iterations, int) and self.iterations >= 1, "iterations must be >= 1")
        _inherit_seed(self)


@dataclass(frozen=True)
class DG2PF:
    """Fontana et al. 2024: distilled gradual pruning of `parent` (teacher: its dense self unless `teacher` is
    given), then pruned fine-tuning; `settings` default to the paper's (Sec. IV-B)."""
    stage: ClassVar[str] = "dg2pf"
    parent: "Spec"
    settings: DG2PFConfig = field(default_factory=DG2PFConfig)
    teacher: "Spec | None" = None
    seed: int | None = None

    def __post_init__(self):
        _inherit_seed(self)


@dataclass(frozen=True)
class Int8:
    """int8 post-training quantization of `parent` measured on this machine (accuracy, latency, size)."""
    stage: ClassVar[str] = "int8"
    parent: "Spec"
    calibration_batches: int = 10
    latency_batch: int = 1
    machine: str = ""              # what a latency depends on besides the model; another machine re-measures
    seed: int | None = None

    def __post_init__(self):
        _require(self.calibration_batches >= 1 and self.latency_batch >= 1, "calibration_batches and latency_batch must be >= 1")
        _inherit_seed(self)


Spec = Union[Train, Init, Prune, DG2PF, Int8]
STAGES = {cls.stage: cls for cls in (Train, Init, Prune, DG2PF, Int8)}
NESTED = {"model": Model, "data": Data, "optim": TrainConfig, "kd": KD, "gmp": GMP, "dgp": TrainConfig, "pf": TrainConfig,
          "settings": DG2PFConfig}
SPEC_FIELDS = ("parent", "teacher")


def _inherit_seed(spec) -> None:
    parent = getattr(spec, "parent", None)
    if spec.seed is None:
        object.__setattr__(spec, "seed", parent.seed if parent is not None else 0)
    _require(isinstance(spec.seed, int) and not isinstance(spec.seed, bool) and spec.seed >= 0,
             f"seed must be an integer >= 0, got {spec.seed!r}")


def is_spec(value) -> bool:
    return isinstance(value, tuple(STAGES.values()))


# ---------------------------------------------------------------- identity
def parents(spec: Spec) -> list[Spec]:
    """The runs `spec` needs finished first: its parent, its teacher (KD or DG2PF), a SimKD model's teacher."""
    out = [getattr(spec, "parent", None), getattr(spec, "teacher", None)]
    kd = getattr(spec, "kd", None)
    return [p for p in out + [kd.teacher if kd else None] if p is not None]


def root(spec: Spec) -> Spec:
    """The run at the start of a chain (the one that names the architecture)."""
    while getattr(spec, "parent", None) is not None:
        spec = spec.parent
    return spec


def data_owner(spec: Spec) -> Spec:
    """The run that chose the data `spec` trains and is tested on: itself, else the nearest parent with data."""
    while getattr(spec, "data", None) is None:
        spec = spec.parent
    return spec


def model_name(spec: Spec) -> str:
    return root(spec).model.name


def _plain(value, by_id: bool) -> Any:
    """JSON values of a spec: nested run specs by id (for the hash) or in full (to store and rebuild)."""
    if is_spec(value):
        return run_id(value) if by_id else {"stage": value.stage, **_plain_fields(value, by_id)}
    if is_dataclass(value):
        return _plain_fields(value, by_id)
    if isinstance(value, (list, tuple)):
        return [_plain(v, by_id) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"spec values must be plain data; got {type(value).__name__}: {value!r}")


def _plain_fields(obj, by_id: bool) -> dict:
    out = {f.name: _plain(getattr(obj, f.name), by_id) for f in fields(obj)}
    if isinstance(obj, Data) and by_id:
        out["fingerprint"] = fingerprint(obj.name)
    return out


def to_dict(spec: Spec) -> dict:
    """The whole spec as JSON values, parents and teachers in full: what config.json stores."""
    return _plain(spec, by_id=False)


def identity(spec: Spec) -> dict:
    """What the id hashes: stage, format, every field with defaults, parents by id, data by fingerprint."""
    return {"format": FORMAT, "stage": spec.stage, **_plain_fields(spec, by_id=True)}


@lru_cache(maxsize=4096)
def run_id(spec: Spec) -> str:
    """`<stage>-<model>-<hash>`: the folder of the run in the cache; the same spec from two notebooks is one run."""
    text = json.dumps(identity(spec), sort_keys=True, separators=(",", ":"))
    return f"{spec.stage}-{model_name(spec)}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def from_dict(d: dict) -> Spec:
    """Rebuild a spec from `to_dict` output (collect files, config.json); unknown keys are errors."""
    d = dict(d)
    stage = d.pop("stage", None)
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; valid: {', '.join(STAGES)}")
    return strict(STAGES[stage], {k: _rebuild(k, v) for k, v in d.items()}, f"{stage} spec")


def _rebuild(key: str, value):
    if value is None:
        return None
    if key in SPEC_FIELDS:
        return from_dict(value)
    if key == "kd":
        return strict(KD, {**value, "teacher": from_dict(value["teacher"])}, "kd")
    if key == "settings":
        return strict(DG2PFConfig, {k: _rebuild(k, v) for k, v in value.items()}, key)
    if key in NESTED:
        return strict(NESTED[key], value, key)
    return value


# ---------------------------------------------------------------- seeds
def _derive(seed: int, purpose: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}/{purpose}".encode()).digest()[:4], "big")


def derived_seeds(spec: Spec) -> dict:
    """The seeds a run uses, all derived from its one seed: the split comes from the run that chose the data
    (a chain keeps its split), init, data order and sampling from the run's own seed."""
    return {"seed": spec.seed, "split": _derive(data_owner(spec).seed, "split"), "init": _derive(spec.seed, "init"),
            "order": _derive(spec.seed, "order"), "sampling": _derive(spec.seed, "sampling")}


def child(parent: Spec, cls, **fields_) -> Spec:
    """A spec of stage `cls` continuing from `parent`."""
    return cls(parent=parent, **fields_)


def with_changes(spec: Spec, **changes) -> Spec:
    """`spec` with some fields replaced (validated again)."""
    return replace(spec, **changes)


def safe_name(name: str) -> str:
    """A run id or model name usable as a folder name inside the cache, or a ValueError."""
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*", name) or ".." in name:
        raise ValueError(f"{name!r} is not a valid run name (letters, digits, '_', '-', '.'; no '..' or '/')")
    return name
