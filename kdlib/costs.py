"""What the paper profiles cost: estimated GPU-hours per notebook, from forward MACs (report.gpu_hours).

The paper config is read from the notebook itself (its `PAPER = {...}` cell), so the estimate follows the notebook.
Every estimate is 3 x forward FLOPs x images x epochs at 35% of an A100's bf16 peak: a lower bound.
"""
from __future__ import annotations

import nbformat
import pandas as pd
import torch

from . import metrics, models, plans, profiles, report, reproduce


def paper_config(paper: str) -> dict:
    """The `PAPER` dict of a notebook, by executing its (self-contained) config cell."""
    nb = nbformat.read(reproduce.ROOT / "notebooks" / reproduce.NOTEBOOKS[paper], as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and "PAPER = {" in c.source]
    if len(cells) != 1:
        raise ValueError(f"{reproduce.NOTEBOOKS[paper]}: expected one cell defining PAPER, found {len(cells)}")
    namespace = {"profiles": profiles}
    exec(compile(cells[0], f"<{paper} config cell>", "exec"), namespace)
    return namespace["PAPER"]


def _macs(name: str, num_classes: int, size: int) -> int:
    return metrics.macs(models.build(name, num_classes), torch.zeros(1, 3, size, size))["macs"]


def park2022(cfg: dict) -> dict:
    n_students = len(cfg["seeds"]) * (9 + 3 * 3 * 2 + 2 * 9 + 3)  # Table 1 + Table 4 + Table 6 + extra Fig. 3 ratios
    cost = plans.park_cost(cfg, n_students)
    return {"teacher chain": cost["teacher chain (GPU-h)"], f"{n_students} students": cost["students (GPU-h)"]}


def kieu_sood(cfg: dict) -> dict:
    r50, sq, n = _macs("resnet50", 525, 224), _macs("squeezenet1_0", 525, 224), 84_635  # Birds-525 train images
    return {"3 baselines": 3 * report.gpu_hours(r50, n, cfg["finetune"]["epochs"]),
            "KD students": 2 * report.gpu_hours(sq, n, cfg["kd"]["epochs"])
            + report.gpu_hours(r50 / 3, n, cfg["kd"]["epochs"]),
            "pruning": 16 * report.gpu_hours(r50, n, cfg["prune"]["finetune"]["epochs"])}


def malihi2024(cfg: dict) -> dict:
    per_dataset = plans.malihi_cost(cfg["pairs"], seeds=len(cfg["seeds"]))
    return {f"{len(cfg['pairs'])} pairs x {len(cfg['datasets'])} datasets": len(cfg["datasets"]) * per_dataset.sum()}


def fontana2024(cfg: dict) -> dict:
    n_runs = len(cfg["seeds"]) * (len(cfg["sparsities"]) * len(cfg["models"])
                                  + sum(len(v) for v in cfg["ablations"].values()))
    per_run = report.gpu_hours(_macs("dg2pf_resnet18", 10, 32) * 4 / 3, 45_000, 30)  # + teacher forward; ~30 epochs
    return {f"{n_runs} DG2PF runs": n_runs * per_run}


ESTIMATES = {"park2022": park2022, "kieu_sood": kieu_sood, "malihi2024": malihi2024, "fontana2024": fontana2024}


def gpu_hours(paper: str, cfg: dict | None = None) -> pd.Series:
    """Estimated GPU-hours of `paper`'s paper profile, by component."""
    if paper not in ESTIMATES:
        raise ValueError(f"unknown paper {paper!r}; valid: {', '.join(ESTIMATES)}")
    return pd.Series(ESTIMATES[paper](cfg or paper_config(paper)), name="GPU-hours")
