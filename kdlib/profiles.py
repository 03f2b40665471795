"""Profiles: `paper` is each paper's exact setting; `cpu` and `smoke` are derived from it by overriding keys.

A profile config is plain data (dicts, lists, numbers); `optim`, `data` and `model` turn its groups into the
typed specs runs are made of, rejecting unknown keys.
"""
from __future__ import annotations

import copy
import os

import pandas as pd

from . import specs
from .train import TrainConfig

PROFILES = ("smoke", "cpu", "paper", "dryrun")
# The paper-shaped dry run: the paper profile on stand-in data (kdlib.standins), every training capped at
# DRYRUN_CAP = {"epochs": ..., "max_steps": ...} and the repetition axes cut by the paper's OVERRIDES["dryrun"].
DRYRUN_CAP = {"epochs": 1, "max_steps": 2}


def resolve(profile: str) -> str:
    """The profile to run: $KDLIB_PROFILE (set by CI to 'smoke') wins over the notebook's parameter."""
    chosen = os.environ.get("KDLIB_PROFILE") or profile
    if chosen not in PROFILES:
        raise ValueError(f"unknown profile {chosen!r}; valid profiles: {', '.join(PROFILES)}")
    return chosen


class Replace:
    """An override that replaces a value wholesale instead of merging into it (e.g. a different set of pairs)."""

    def __init__(self, value):
        self.value = value


def merge(base: dict, overrides: dict) -> dict:
    """`base` with `overrides` applied recursively; an override of a key `base` lacks is a typo, not data."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if key not in out:
            raise KeyError(f"override {key!r} is not a key of the paper config; valid keys: {', '.join(out)}")
        if isinstance(value, Replace):
            out[key] = copy.deepcopy(value.value)
        elif isinstance(value, dict) and isinstance(out[key], dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def derive(paper: dict, overrides: dict[str, dict], profile: str, extra: dict | None = None) -> dict:
    """The config of `profile`: the paper config, then the cpu overrides, then (for smoke) the smoke ones (for the
    dry run: its cuts, then every training capped), then a user's `extra` overrides, all merged strictly."""
    profile = resolve(profile)
    cfg = copy.deepcopy(paper)
    if profile in ("cpu", "smoke"):
        cfg = merge(cfg, overrides.get("cpu", {}))
    if profile == "smoke":
        cfg = merge(cfg, overrides.get("smoke", {}))
    if profile == "dryrun":
        cfg = cap_trainings(merge(cfg, overrides.get("dryrun", {})))
    return merge(cfg, extra or {})


def is_training(group) -> bool:
    """A config group that describes a training (becomes a TrainConfig)."""
    return isinstance(group, dict) and "epochs" in group and "lr" in group


def cap_trainings(cfg):
    """Every training group of `cfg` capped at DRYRUN_CAP (min of the two epoch counts)."""
    if is_training(cfg):
        capped = {**cfg, "epochs": min(cfg["epochs"], DRYRUN_CAP["epochs"]), "max_steps": DRYRUN_CAP["max_steps"]}
        if "milestones" in cfg:
            capped["milestones"] = [m for m in cfg["milestones"] if m <= capped["epochs"]]
        return capped
    if isinstance(cfg, dict):
        return {k: cap_trainings(v) for k, v in cfg.items()}
    return cfg


def optim(group: dict, where: str = "training config") -> TrainConfig:
    return specs.strict(TrainConfig, group, where)


def data(group: dict, **changes) -> specs.Data:
    return specs.strict(specs.Data, {**group, **changes}, "data")


def model(group: dict) -> specs.Model:
    return specs.strict(specs.Model, group, "model")


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out.update(_flat(v, key + ".") if isinstance(v, dict) else {key: v})
    return out


def fidelity_table(paper: dict, sources: dict[str, str], profile_cfg: dict | None = None,
                   profile: str | None = None) -> pd.DataFrame:
    """Every paper hyperparameter, its value, its source, and (given a profile) its value where it deviates."""
    flat_paper, flat_prof = _flat(paper), _flat(profile_cfg or {})
    rows = []
    for key, value in flat_paper.items():
        parts = key.split(".")
        source = next((sources[".".join(parts[:i])] for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in sources),
                      "not stated by the paper")
        row = {"hyperparameter": key, "paper": repr(value), "source": source}
        if profile_cfg is not None:
            ours = flat_prof.get(key)
            row[profile] = "same" if ours == value else repr(ours)
        rows.append(row)
    if profile_cfg is not None:  # keys only this profile sets (e.g. the dry run's max_steps)
        rows += [{"hyperparameter": k, "paper": "-", "source": "this profile only", profile: repr(v)}
                 for k, v in flat_prof.items() if k not in flat_paper]
    return pd.DataFrame(rows)
