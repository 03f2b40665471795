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

PROFILES = ("smoke", "cpu", "paper")


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
    """The config of `profile`: the paper config, then the cpu overrides, then (for smoke) the smoke ones, then
    a user's `extra` overrides (a notebook parameter), all merged strictly."""
    profile = resolve(profile)
    cfg = copy.deepcopy(paper)
    if profile in ("cpu", "smoke"):
        cfg = merge(cfg, overrides.get("cpu", {}))
    if profile == "smoke":
        cfg = merge(cfg, overrides.get("smoke", {}))
    return merge(cfg, extra or {})


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
    return pd.DataFrame(rows)
