"""The four papers, one module each: its paper config with sources, cpu and smoke overrides, run plans,
claims and cost. Notebooks import their paper's module; the library never reads a notebook."""
from __future__ import annotations

from importlib import import_module
from types import ModuleType

ORDER = ("kieu_sood", "park2022", "fontana2024", "malihi2024", "synthesis")  # the order `make reproduce` runs them (the synthesis, which shares runs with the papers, last)


def get(paper: str) -> ModuleType:
    """The module of `paper`, or a ValueError listing the valid names."""
    if paper not in ORDER:
        raise ValueError(f"unknown paper {paper!r}; valid: {', '.join(ORDER)}")
    return import_module(f"{__name__}.{paper}")
