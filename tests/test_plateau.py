"""The plateau check (metrics.plateaued) calibrated by simulation: validation accuracy on 1,000 images, binomial noise."""
import numpy as np
import pandas as pd

from kdlib import metrics

N_VAL, ACC, EPOCHS, REPS = 1000, 0.88, 40, 1500


def curves(rise_per_3: float, reps: int, rng) -> np.ndarray:
    """Noisy validation curves: a climb to ACC, then the last 10 epochs rising `rise_per_3` per 3 epochs."""
    true = np.concatenate([np.linspace(0.6, ACC, EPOCHS - 10), ACC + rise_per_3 / 3 * np.arange(1, 11)])
    return rng.binomial(N_VAL, true, size=(reps, EPOCHS)) / N_VAL


def fail_rate(rise_per_3: float, seeds: int = 1, rng=None) -> float:
    rng = rng or np.random.default_rng(0)
    fails = 0
    for _ in range(REPS // seeds if seeds > 1 else REPS):
        hs = [pd.DataFrame({"val_top1": c}) for c in curves(rise_per_3, seeds, rng)]
        fails += not metrics.plateaued_seeds(hs)[0]
    return fails / (REPS // seeds if seeds > 1 else REPS)


def test_trend_rise_of_a_straight_line_is_its_slope_times_three():
    rise, se, df = metrics.trend_rise([0.1 * i for i in range(20)])
    assert abs(rise - 0.3) < 1e-12 and se < 1e-12 and df == 8


def test_false_alarm_rate_at_the_tolerance_is_alpha():
    # a training still rising exactly the tolerance (0.5 points per 3 epochs) is called rising 5% of the time
    assert 0.025 <= fail_rate(0.005) <= 0.08
    assert fail_rate(0.0) <= 0.02  # a flat curve: almost never


def test_the_old_best_of_three_rule_failed_flat_curves_too_often():
    rng = np.random.default_rng(1)
    c = curves(0.0, REPS, rng)
    old = (c[:, -3:].max(1) - c[:, :-3].max(1)) > 0.005
    assert old.mean() > 0.05  # about 14%: with 5 seeds, half the checks of flat teachers would fail


def test_power_against_a_training_still_rising():
    assert fail_rate(0.015) >= 0.7  # 1.5 points per 3 epochs: caught by one run
    assert fail_rate(0.01, seeds=5) >= 0.8  # 1 point per 3 epochs: caught across 5 seeds
    assert 0.02 <= fail_rate(0.005, seeds=5) <= 0.09  # and 5 seeds at the tolerance: alpha


def test_too_short_a_history_is_not_a_plateau():
    ok, why = metrics.plateaued(pd.DataFrame({"val_top1": [0.5, 0.6, 0.7, 0.8]}))
    assert not ok and "too few" in why
