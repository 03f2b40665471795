"""Malihi & Heidemann 2024: the claims on fixed synthetic per-pair tables with known verdicts, the units (no baseline
replicate serves two units), the breakpoint table, the run plans and the paper-vs-ours joins."""
import numpy as np
import pandas as pd
import pytest

from kdlib import claims
from kdlib.papers import malihi2024 as paper
from kdlib.papers import malihi2024_claims as pc
from kdlib.papers import malihi2024_plots as plots

TEACHERS = {"T1": {"name": "cifar_resnet18", "width": 0.25}, "T2": {"name": "cifar_vgg11", "width": 0.5}}
FAMILY = {"resnet20": "ResNet", "resnet32": "ResNet", "vgg11": "VGG", "vgg16": "VGG", "mobilenet_v1": "MobileNet",
          "mobilenet_v2": "MobileNet"}


def _cfg(students=("resnet20", "vgg11", "mobilenet_v1", "resnet32", "vgg16", "mobilenet_v2")):
    """Six pairs: teacher T1 teaches the first three students, T2 the last three (two units of teachers)."""
    pairs = {f"{'T1' if i < 3 else 'T2'}->{s}": {"teacher": TEACHERS["T1" if i < 3 else "T2"],
                                                  "student": {"name": f"cifar_{s}", "width": 0.5},
                                                  "family": FAMILY[s], "paper_pair": "-", "image_size": None}
             for i, s in enumerate(students)}
    return {"datasets": ["cifar10"], "pairs": pairs, "margin_points": 0.5, "learn_gap_points": 6.0, "sweep_alone": True}


def _rows(cfg, student_bp, channel, alone_acc=0.85, teacher_acc=(0.90, 0.91)):
    """A per-pair table: per pair i, the student's weight breakpoint (accuracy, params), its channel breakpoint
    (accuracy, params, level) and the student trained alone; the teachers' breakpoints sit at their level 0."""
    out = []
    for i, pair in enumerate(cfg["pairs"]):
        t = teacher_acc[0 if i < 3 else 1]
        (wa, wp), (ca, cp, level) = student_bp[i], channel[i]
        base = {"dataset": "cifar10", "pair": pair, "family": cfg["pairs"][pair]["family"], "seeds": 1}
        for method in ("weight", "channel"):
            out.append({**base, "role": "teacher", "method": method, "acc_before": t, "acc_breakpoint": t,
                        "params_before": 1e6, "params_breakpoint": 1e6, "level": 0.0, "min_level": 0.0})
        dense = {"acc_before": 0.88, "params_before": 1e5}
        out.append({**base, **dense, "role": "student", "method": "weight", "acc_breakpoint": wa,
                    "params_breakpoint": wp, "level": 0.7, "min_level": 0.7})
        out.append({**base, **dense, "role": "student", "method": "channel", "acc_breakpoint": ca,
                    "params_breakpoint": cp, "level": level, "min_level": level})
        a = alone_acc[i] if np.ndim(alone_acc) else alone_acc
        out += [{**base, "role": "alone", "method": m, "acc_before": a, "params_before": 1e5, "acc_breakpoint": a,
                 "params_breakpoint": p, "level": 0.5, "min_level": 0.5} for m, p in (("weight", 4e4), ("channel", 5e4))]
    df = pd.DataFrame(out)
    df["efficiency"] = df.acc_breakpoint / df.params_breakpoint
    df["efficiency_before"] = df.acc_before / df.params_before
    return df


def _trained(cfg, plateaued=True):
    return pd.DataFrame([{"dataset": "cifar10", "pair": p, "role": "teacher", "plateaued": plateaued} for p in cfg["pairs"]])


NOISE = np.array([0.3, -0.2, 0.1, -0.3, 0.25, -0.15])


def _table(cfg, **kw):
    weight = kw.pop("weight", [(0.88 + 0.01 * e, 3e4 * (1 + 0.1 * e)) for e in NOISE])
    channel = kw.pop("channel", [(0.875, 9e4 * (1 + 0.1 * e), 0.1) for e in NOISE])
    rows = pc.rows(_rows(cfg, weight, channel, **kw), _trained(cfg), cfg)
    return claims.table(rows).set_index("id")


def test_known_verdicts_reproduced_not_reproduced_inconclusive_and_failed_precondition():
    cfg = _cfg()
    # weight: 3x fewer params (claim 1 reproduced); accuracy at the weight breakpoint +-1 point around the
    # unpruned 88% (claim 4 inconclusive); channel keeps 90% of the params at a 3-point loss: its efficiency
    # (0.85/9e4) is below the unpruned student's (0.88/1e5 ... ) -> claim 7 not reproduced.
    channel = [(0.80, 9.5e4 * (1 + 0.01 * e), 0.1) for e in NOISE]
    weight = [(0.88 + 0.03 * e, 3e4 * (1 + 0.1 * e)) for e in NOISE]
    alone = [0.90] * 5 + [0.80]  # KD (88%) beats training alone on one student only: claim 8's precondition fails
    df = _table(cfg, weight=weight, channel=channel, alone_acc=alone)
    assert df.loc["1-cifar10", "verdict"] == "reproduced"
    assert df.loc["7-cifar10", "verdict"] == "not tested at this profile"
    assert "holds by construction" in df.loc["7-cifar10", "note"]
    assert df.loc["4-cifar10", "verdict"] == "inconclusive" and "would give 80% power" in df.loc["4-cifar10", "note"]
    assert df.loc["8-cifar10", "verdict"] == "not tested at this profile"
    assert "KD beats training alone" in df.loc["8-cifar10", "note"] and "FAILED" in df.loc["8-cifar10", "precondition"]
    assert df.loc["10-cifar10", "verdict"] == "not tested at this profile" and "lost" in df.loc["10-cifar10", "note"]
    assert np.isnan(df.loc["8-cifar10", "p_adjusted"]) and df.loc["1-cifar10", "n"] == 6


def test_no_baseline_replicate_serves_two_units():
    cfg = _cfg()
    df = _table(cfg)
    # claims 5 and 6 compare with the teacher: two teachers, so two units (not six pairs)
    assert df.loc["5-cifar10", "n"] == 2 and df.loc["6-cifar10", "n"] == 2
    units = pc.by_teacher(_rows(cfg, [(0.88, 3e4)] * 6, [(0.87, 9e4, 0.1)] * 6), cfg, "weight")
    assert len(units) == 2 and units.pairs.tolist() == [3, 3]
    # two pairs with the same student architecture share one student trained alone: one unit for claim 8
    same = _cfg(("resnet20", "vgg11", "mobilenet_v1", "resnet20", "vgg16", "mobilenet_v2"))
    rows = _rows(same, [(0.88, 3e4)] * 6, [(0.87, 9e4, 0.1)] * 6)
    assert len(pc.by_student(rows, same)) == 5
    assert _table(same).loc["8-cifar10", "n"] == 5
    rows.loc[(rows.role == "teacher") & (rows.pair == "T1->vgg11"), "acc_breakpoint"] = 0.5  # one teacher, two values
    with pytest.raises(ValueError, match="not one replicate"):
        pc.by_teacher(rows, same, "weight")


def test_channel_breakpoint_at_level_0_is_a_failed_precondition():
    cfg = _cfg()
    channel = [(0.88, 1e5, 0.0)] * 4 + [(0.87, 9e4, 0.1)] * 2   # four students never channel-pruned
    df = _table(cfg, channel=channel)
    for claim in ("6-cifar10", "9-cifar10"):
        assert df.loc[claim, "verdict"] == "not tested at this profile"
        assert "channel breakpoint above level 0" in df.loc[claim, "note"]
    assert df.loc["7-cifar10", "verdict"] == "not tested at this profile"  # by construction, whatever the data


def test_students_that_do_not_learn_fail_every_student_claim():
    cfg = _cfg()
    rows = _rows(cfg, [(0.88, 3e4)] * 6, [(0.87, 9e4, 0.1)] * 6, teacher_acc=(0.99, 0.91))
    df = claims.table(pc.rows(rows, _trained(cfg), cfg)).set_index("id")
    assert all(df.loc[c, "verdict"] == "not tested at this profile" for c in ("1-cifar10", "2-cifar10", "4-cifar10", "5-cifar10", "8-cifar10"))
    assert "within 6 points" in df.loc["1-cifar10", "note"]


def test_smoke_sized_tables_are_not_tested_with_the_reason():
    cfg = _cfg(("resnet20",))
    rows = _rows(cfg, [(0.88, 3e4)], [(0.87, 9e4, 0.1)])
    df = claims.table(pc.rows(rows, _trained(cfg), cfg))
    assert set(df.verdict) == {"not tested at this profile"}
    assert df.set_index("id").loc["1-cifar10", "note"].startswith("n = 1 unit")


def test_breakpoints_use_validation_and_level_0_is_the_fine_tuned_control():
    cfg = {"breakpoint_tolerance": 0.01, "w1": 0.5, "w2": 0.5}
    val = [0.90, 0.905, 0.895, 0.85, 0.80]
    test = [0.89, 0.90, 0.91, 0.84, 0.79]
    sweep = pd.DataFrame({"dataset": "cifar10", "pair": "p", "role": "student", "seed": 0, "method": "weight", "family": "F",
                          "level": [0.0, 0.1, 0.2, 0.3, 0.4], "val_top1": val, "test_top1": test,
                          "params": [100.0, 90, 80, 70, 60], "params_deployable": [150.0, 140, 130, 120, 110]})
    bp = paper.breakpoints(sweep, cfg).iloc[0]
    assert bp.level == 0.2 and bp.acc_breakpoint == 0.91 and bp.params_breakpoint == 80
    assert bp.efficiency == pytest.approx(0.91 / 80) and bp.efficiency_before == pytest.approx(0.89 / 100)


@pytest.mark.parametrize("profile", ["paper", "cpu", "smoke", "dryrun"])
def test_plans_prune_the_student_network_and_share_the_level_0_control(profile):
    cfg = paper.config(profile)
    cells = paper.cells(cfg)
    d, pair = cfg["datasets"][0], next(iter(cfg["pairs"]))
    s = cfg["seeds"][0]
    assert cells[(d, pair, "student", s, "weight", 0.0)] is cells[(d, pair, "student", s, "channel", 0.0)]
    level0 = cells[(d, pair, "student", s, "weight", 0.0)]
    assert level0.last_layer_only and level0.parent.kd.method == "simkd"
    cut = cells[(d, pair, "student", s, "channel", cfg["levels"][-1])]
    assert cut.last_layer_only and cut.optim == level0.optim and cut.parent.part == "features.0"
    assert cells[(d, pair, "alone", cfg["alone_seeds"][0], "weight", cfg["levels"][0])].parent.part == "features"
    alone = paper.alone(cfg, d, pair, s)
    assert alone.optim.epochs == cfg["kd_train"]["epochs"] and alone.kd is None and alone.seed == s
    assert set(cfg["fig5_pairs"]) <= set(cfg["pairs"])
    points, alone = 2 * len(cfg["levels"]) + 2, len(cfg["alone_seeds"])
    assert len(cells) == len(cfg["datasets"]) * len(cfg["pairs"]) * \
        ((1 + len(cfg["seeds"])) * points + alone * (points if cfg["sweep_alone"] else 2))


def test_paper_tables_join_on_the_papers_pair_names():
    cfg = paper.config("paper")
    rows = [{"dataset": "cifar100", "pair": p, "role": role, "method": m, "acc_before": 0.5, "acc_breakpoint": 0.5,
             "params_before": 1e7, "params_breakpoint": 1e6} for p in cfg["pairs"] for role in ("teacher", "student")
            for m in ("weight", "channel")]
    t1 = plots.table12(pd.DataFrame(rows), cfg, "cifar100")
    weight = t1[t1.method == "weight"]
    assert len(weight) == 80 and weight["paper (cifar100)"].notna().all()
    assert t1.set_index(["paper_pair", "method", "quantity"]).loc[
        ("ResNet101->ResNet50", "weight", "params_student_breakpoint"), "paper (cifar100)"] == pytest.approx(5e6)
    cpu = paper.config("cpu")
    assert set(p["paper_pair"] for p in cpu["pairs"].values()) <= set(paper.PAIRS)


def test_cost_and_fidelity_cover_the_paper_profile():
    assert list(paper.cost(paper.PAPER).values())[0] > 0
    fid = paper.fidelity(paper.config("dryrun"), "dryrun")
    cut = fid[fid["dryrun"] != "same"].hyperparameter.tolist()
    assert {"datasets", "pairs", "levels", "seeds", "alone_seeds"} <= set(cut)


def test_claim_8_needs_pruned_students_alone():
    cfg = {**_cfg(), "sweep_alone": False}
    df = _table(cfg, alone_acc=0.80)   # KD (88%) beats training alone everywhere, but nothing alone was pruned
    assert df.loc["8-cifar10", "verdict"] == "not tested at this profile" and "sweep_alone" in df.loc["8-cifar10", "note"]
    assert _table({**cfg, "sweep_alone": True}, alone_acc=0.80).loc["8-cifar10", "verdict"] != "not tested at this profile"


def test_models_at_chance_fail_the_learn_check_although_they_agree():
    cfg = _cfg()
    rows = _rows(cfg, [(0.11, 3e4)] * 6, [(0.10, 9e4, 0.1)] * 6, teacher_acc=(0.11, 0.10))
    rows.loc[rows.role == "student", "acc_before"] = 0.105  # every student within a point of its chance-level teacher
    df = claims.table(pc.rows(rows, _trained(cfg), cfg)).set_index("id")
    assert df.loc["1-cifar10", "verdict"] == "not tested at this profile"
    assert "floor 30%" in df.loc["1-cifar10", "precondition"] and "under the floor" in df.loc["1-cifar10", "precondition"]
