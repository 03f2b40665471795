"""Paper-profile cost estimates: read from the notebooks' own configs, checked against a hand computation."""
import math

import pytest

from kdlib import costs, reproduce


def test_every_notebook_config_is_read_and_costed():
    for paper in reproduce.NOTEBOOKS:
        cfg = costs.paper_config(paper)
        assert "seeds" in cfg
        hours = costs.gpu_hours(paper, cfg)
        assert len(hours) >= 1 and all(math.isfinite(h) and h > 0 for h in hours)


def test_kieu_baselines_by_hand():
    # ResNet-50 at 224 px: 4.09 GMACs (published ~4.1); 3 runs x 10 epochs x 84,635 images x 6 FLOPs per MAC,
    # on 312 TFLOP/s at 35%.
    by_hand = 3 * 6 * 4.09e9 * 84_635 * 10 / (312e12 * 0.35) / 3600
    assert costs.gpu_hours("kieu_sood")["3 baselines"] == pytest.approx(by_hand, rel=0.01)


def test_unknown_paper():
    with pytest.raises(ValueError, match="unknown paper 'park2023'; valid: park2022"):
        costs.gpu_hours("park2023")
