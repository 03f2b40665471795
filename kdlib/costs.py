"""What the paper profiles cost: each paper module's `cost(cfg)`, in GPU-hours (`metrics.gpu_hours`: 3 x forward
FLOPs x images x epochs on an A100 at 35% of its bf16 peak unless said otherwise: a lower bound)."""
from __future__ import annotations

import pandas as pd

from . import papers


def estimate(paper: str, cfg: dict | None = None) -> pd.Series:
    """Estimated GPU-hours of `paper`'s paper profile (or of `cfg`), by component."""
    module = papers.get(paper)
    return pd.Series(module.cost(cfg or module.PAPER), name="GPU-hours")
