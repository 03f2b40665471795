"""The synthesis notebook's module: claims on fixed synthetic run tables with known verdicts, the frontier, the plans."""
import numpy as np
import pandas as pd
import pytest
import torch

from kdlib import claims, models, prune
from kdlib.data import Info
from kdlib.papers import synthesis as S, synthesis_claims as sc, synthesis_plots as sp

SEEDS = [0, 1, 2, 3, 4]
NOISE = np.array([-1.0, 0.5, 1.0, -0.8, 0.3])  # a fixed zero-mean-ish pattern, in points


def _cfg(**changes) -> dict:
    return {**S.config("cpu", {"seeds": SEEDS}), **changes}


def _results(level: dict, noise: dict | None = None) -> pd.DataFrame:
    """A results table: accuracy (points) per (recipe, target, precision) = level + noise pattern x scale."""
    rows = []
    for (recipe, target, precision), acc in level.items():
        scale = (noise or {}).get((recipe, target, precision), 0.1)
        for seed, e in zip(SEEDS, NOISE):
            rows.append({"recipe": recipe, "target": target, "seed": seed, "precision": precision,
                         "test_top1": (acc + scale * e) / 100, "bytes": 1000.0, "fewer_nonzeros": target, "run": "r"})
    return pd.DataFrame(rows)


BASE = {("alone", 0.0, "fp32"): 85.0, ("kd", 0.0, "fp32"): 87.0, ("kd", 0.0, "int8"): 86.9,
        ("park", 0.9, "fp32"): 84.0,            # claim 1: +4 over Malihi's weight pruning -> reproduced
        ("malihi_weight", 0.9, "fp32"): 80.0,
        ("dg2pf", 0.9, "fp32"): 86.0,           # claim 2: park - dg2pf = -2 -> not reproduced
        ("malihi_channel", 0.9, "fp32"): 79.9,  # claim 3: +0.1 with noise 2 -> inconclusive
        ("one_shot", 0.9, "fp32"): 85.0, ("gmp", 0.9, "fp32"): 85.5, ("dg2pf", 0.9, "int8"): 85.9,
        ("dg2pf", 0.8, "fp32"): 86.5}
NOISY = {("malihi_channel", 0.9, "fp32"): 2.0}
LATENCY = pd.DataFrame([{"architecture": "dense student", "precision": p, "batch": b, "median_ms": ms, "iqr_ms": 0.1,
                         "threads": 2}
                        for p, b, ms in [("fp32", 64, 10.0), ("int8", 64, 4.0), ("fp32", 1, 1.0), ("int8", 1, 1.5)]])
FLAT = [0.89, 0.891, 0.889, 0.89, 0.892, 0.888, 0.89, 0.891, 0.889, 0.89, 0.89, 0.89]  # 12 flat epochs
TEACHER = pd.DataFrame({"epoch": range(16), "val_top1": [0.5, 0.7, 0.8, 0.85] + FLAT})


def _table(results: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    checks = sc.checks(results, TEACHER, 0.89, cfg)
    return claims.table(sc.claims_rows(results, LATENCY, checks, cfg)).set_index("id")


def test_known_verdicts():
    df = _table(_results(BASE, NOISY), _cfg())
    assert df.loc["1", "verdict"] == "reproduced"
    assert df.loc["1b", "verdict"] == "not reproduced"  # park 84 vs one-shot 85: the order alone loses here
    assert df.loc["2", "verdict"] == "not reproduced"
    assert df.loc["3", "verdict"] == "inconclusive" and "would give 80% power" in df.loc["3", "note"]
    assert df.loc["4", "verdict"] == df.loc["5", "verdict"] == "reproduced"
    assert df.loc["6", "verdict"] == df.loc["7", "verdict"] == "reproduced"          # -0.1 points vs a 0.5 margin
    assert df.loc["9", "verdict"] == "reproduced" and df.loc["10", "verdict"] == "not reproduced"  # 2.5x, 0.67x
    assert (df.loc[[str(i) for i in range(1, 9)], "n"] == len(SEEDS)).all()          # every seed once per claim
    assert df.loc["9", "p_adjusted"] != df.loc["9", "p_adjusted"]                     # deterministic: outside Holm


def test_failed_precondition_makes_kd_claims_untested():
    level = {**BASE, ("kd", 0.0, "fp32"): 85.0}  # KD no better than training alone
    df = _table(_results(level, NOISY), _cfg())
    for cid in ("1", "1b", "2", "3"):
        assert df.loc[cid, "verdict"] == "not tested at this profile"
        assert "KD beats training the student alone" in df.loc[cid, "note"]
    assert df.loc["4", "verdict"] == "reproduced"  # DG2PF vs one-shot does not presuppose KD working


def test_a_plateau_that_is_not_there_blocks_claims_1_and_2_only():
    rising = pd.DataFrame({"epoch": range(6), "val_top1": [0.5, 0.6, 0.7, 0.75, 0.8, 0.85]})
    results = _results(BASE, NOISY)
    checks = sc.checks(results, rising, 0.89, _cfg())
    df = claims.table(sc.claims_rows(results, LATENCY, checks, _cfg())).set_index("id")
    assert df.loc["1", "verdict"] == df.loc["1b", "verdict"] == df.loc["2", "verdict"] == "not tested at this profile"
    assert df.loc["3", "verdict"] == "inconclusive"


def test_a_collapsed_side_is_named_in_the_note():
    """Fashion-MNIST: chance 10%, so the floor is 30%; channel pruning at 12% is a collapse, weight pruning at 80% not."""
    level = {**BASE, ("malihi_channel", 0.9, "fp32"): 12.0}
    df = _table(_results(level, NOISY), _cfg())
    assert df.loc["3", "verdict"] == "reproduced"
    assert "the control at 12.0% is below 30% (chance + 20 points)" in df.loc["3", "note"]
    assert "collapsed" not in df.loc["1", "note"]


def test_no_replicate_is_used_twice():
    results = _results(BASE, NOISY)
    twice = pd.concat([results, results[(results.recipe == "malihi_weight") & (results.seed == 0)]])
    with pytest.raises(ValueError, match="seed twice"):
        sc.paired(twice, ("park", 0.9), ("malihi_weight", 0.9))
    ours, control = sc.paired(results, ("park", 0.9), ("malihi_weight", 0.9))
    assert len(ours) == len(control) == len(SEEDS)


def test_one_seed_or_a_missing_target_is_not_tested_with_a_reason():
    one = _results(BASE, NOISY)
    df = _table(one[one.seed == 0], _cfg(seeds=[0]))
    assert (df.loc[[str(i) for i in range(1, 9)], "verdict"] == "not tested at this profile").all()
    no_80 = _table(one[one.target != 0.8], _cfg())
    assert no_80.loc["8", "verdict"] == "not tested at this profile" and "0 paired seed" in no_80.loc["8", "note"]


def test_frontier_and_winners():
    s = pd.DataFrame({"recipe": ["kd", "dg2pf", "malihi_weight", "park"], "target": [0.0, 0.9, 0.9, 0.9],
                      "precision": ["fp32", "int8", "fp32", "fp32"], "bytes": [1000.0, 100.0, 300.0, 200.0],
                      "acc": [90.0, 85.0, 80.0, 88.0], "sd": [0.1] * 4, "n": [3] * 4})
    front = sp.frontier(s, "bytes")
    assert front.recipe.tolist() == ["dg2pf", "park", "kd"]  # malihi_weight: bigger and worse than park
    win = sp.winners(front, "bytes", "B")
    assert win[["lower", "upper"]].values.tolist() == [[100, 200], [200, 1000], [1000, np.inf]]
    assert "from 200 to 1000 B: pruned teacher → KD (Park & No) at 90% fewer nonzeros, fp32" in sp.note(win)
    tiny = pd.concat([s, s.iloc[[0]].assign(recipe="malihi_channel", bytes=50.0, acc=12.0)], ignore_index=True)
    assert sp.frontier(tiny, "bytes").recipe.tolist()[0] == "malihi_channel"  # smallest: on the bare frontier
    assert sp.frontier(tiny, "bytes", floor=30.0).recipe.tolist() == ["dg2pf", "park", "kd"]  # a collapse is not
    nothing = sp.winners(sp.frontier(s, "bytes", floor=95.0), "bytes", "B")  # every model below the floor
    assert nothing.empty and "no frontier" in sp.note(nothing)


def test_profiles_and_module_attributes():
    for profile in ("cpu", "smoke", "paper", "dryrun"):
        cfg = S.config(profile)
        assert cfg["primary_target"] in cfg["targets"] and set(cfg["baseline_targets"]) <= set(cfg["targets"])
    assert S.ID == "synthesis" and S.NOTEBOOK.endswith(".ipynb") and "10.3390/asi7040056" in S.CITATION
    assert all(v > 0 for v in S.cost(S.PAPER).values())
    stems = [s for item in S.COVERAGE for s in item.outputs]
    assert len(stems) == len(set(stems))
    assert {b["recipe"] for b in sp.budgets(S.config("cpu"))} == set(S.PAPER["recipes"])


def test_baselines_keep_dg2pf_budget_and_switch_off_only_the_method():
    cfg = S.config("cpu")
    dg, one, gmp = (S.settings(cfg, 0.9, k) for k in ("dg2pf", "one_shot", "gmp"))
    assert dg.dgp == one.dgp == gmp.dgp and dg.pf == one.pf == gmp.pf and dg.pruning_epochs == gmp.pruning_epochs
    assert (one.schedule, one.distill, gmp.schedule, gmp.distill, dg.distill) == ("one_shot", False, "cubic", False, True)


def test_latency_cells_one_per_architecture():
    cells = {(r, t, s): f"{r}-{t}-{s}" for r in ("alone", "kd", "malihi_weight", "malihi_channel", "park")
             for t in (0.8, 0.9) for s in (0, 1)}
    cfg = S.config("cpu", {"seeds": [0, 1]})
    assert S.latency_cells(cells, cfg) == {"dense student": "kd-0.8-0", "channel-pruned 80%": "malihi_channel-0.8-0",
                                           "channel-pruned 90%": "malihi_channel-0.9-0",
                                           "Park & No student 80%": "park-0.8-0", "Park & No student 90%": "park-0.9-0"}
    dense_only = S.config("cpu", {"seeds": [0, 1], "latency": {"architectures": "dense"}})
    assert list(S.latency_cells(cells, dense_only)) == ["dense student"]


class _FakeRunner:
    """Hands out one pruned teacher and the dataset's info, as Runner.load_for_shape / Runner.dataset would."""

    def __init__(self, teacher):
        self.teacher = teacher

    def load_for_shape(self, spec):
        return self.teacher

    def dataset(self, spec):
        return type("D", (), {"info": Info(10, 1, 28, (0.3,), (0.3,), "x", "x")})()


def test_park_student_is_sparsity_matched_and_follows_the_pruned_teacher(monkeypatch):
    monkeypatch.setattr(S.specs, "run_id", lambda spec: "chain")
    torch.manual_seed(0)
    teacher = models.build("dg2pf_resnet50", 10, 1, 0.25)
    prune.l1_unstructured(teacher, 0.9)
    cfg = S.config("cpu")
    model = S.st_model(_FakeRunner(teacher), cfg, 0.9)
    student = models.build(model.name, 10, 1, plan=model.plan)
    dense = models.build("cifar_resnet18", 10, 1, cfg["student"]["width"])
    count = lambda m: sum(c["weights"] for c in prune.layer_counts(m))
    assert count(student) == pytest.approx(0.1 * count(dense), rel=0.03)
    base = [models.scaled(c, cfg["student"]["width"]) for c in (64, 128, 256, 512)]
    assert model.plan[0] == base[0] and all(w <= b for w, b in zip(model.plan[1:], base))
    kept = [w / b for w, b in zip(model.plan[1:], base)]
    densities = S.students.stage_densities(teacher)
    assert np.argmin(kept) == np.argmin(densities)  # the stage the teacher pruned hardest is the narrowest
