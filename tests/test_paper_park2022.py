"""Park & No 2022: the claims on fixed synthetic run tables with known verdicts, the run plans, the paper table."""
import numpy as np
import pandas as pd
import pytest

from kdlib import claims as kc
from kdlib import report, specs
from kdlib.papers import park2022 as paper
from kdlib.papers import park2022_claims as pc

SEEDS = range(6)
NOISE = np.array([-0.4, 0.1, 0.3, -0.2, 0.5, -0.3]) / 100  # a fixed zero-mean pattern per seed (fractions)


def _rows(teacher, cond, student, base, shift=0.0, noise=1.0):
    return [{"teacher": teacher, "pruning_ratio": cond, "student": student, "seed": s,
             "test_top1": base + shift + noise * NOISE[s] * (1 if i % 2 else -1) ** cond.count("0"),
             "run": f"{teacher}|{cond}|{student}|{s}", "agreement": 0.9 + shift} for i, s in enumerate(SEEDS)]


def synthetic(kd_gain=0.02, st_vs_cl1=-0.02, dbl_gap=0.0):
    """Runs with known effects: pruned teachers +1 point over their equal-budget controls, KD +`kd_gain` over alone,
    ST59 `st_vs_cl1` against CL1, VGG19 vs VGG19DBL `dbl_gap` under large noise."""
    rows = _rows("none", "-", "VGG11", 0.80) + _rows("VGG19", "none", "VGG11", 0.80, kd_gain)
    for r in ("0.36", "0.59", "0.79"):
        rows += _rows("VGG19", r, "VGG11", 0.81, kd_gain) + _rows("VGG19", f"dense {r}", "VGG11", 0.80, kd_gain)
        rows += _rows("VGG19DBL", r, "VGG11", 0.81, kd_gain - dbl_gap, noise=8.0)
    rows += _rows("none", "-", "VGG19DBL", 0.8) + _rows("VGG19DBL", "none", "VGG11", 0.80, kd_gain)
    rows += _rows("VGG19", "0.59", "VGG19-ST59", 0.80) + _rows("VGG19", "0.59", "VGG19-CL1", 0.80, -st_vs_cl1)
    teachers = pd.DataFrame([{"teacher": "VGG19", "pruning_ratio": c, "seed": s, "test_top1": a + NOISE[s] / 4,
                              "true_label_prob": p + NOISE[s] * (1 if i % 2 else -1)}  # one teacher chain per seed
                             for s in SEEDS
                             for i, (c, a, p) in enumerate([("none", 0.84, 0.90), ("0.36", 0.845, 0.87),
                                                            ("dense 0.36", 0.85, 0.91), ("0.59", 0.84, 0.86),
                                                            ("dense 0.59", 0.85, 0.92), ("0.79", 0.85, 0.85),
                                                            ("dense 0.79", 0.84, 0.93)])])
    plateau = {n: kc.Check(f"{n} trained to a plateau", True, "synthetic") for n in ("VGG19", "VGG19DBL")}
    return pd.DataFrame(rows), teachers, plateau


def _verdicts(runs, teachers, plateau):
    df = kc.table(pc.rows(runs, teachers, plateau, report.paper_numbers(paper.ID)))
    return df.set_index("id")


def test_known_verdicts_reproduced_not_reproduced_inconclusive():
    df = _verdicts(*synthetic())
    assert df.loc["1", "verdict"] == "reproduced" and df.loc["1", "n"] == 6
    assert df.loc["3", "verdict"] == "reproduced"
    assert df.loc["7a", "verdict"] == "not reproduced"
    assert df.loc["10", "verdict"] == "inconclusive" and "would give 80% power" in df.loc["10", "note"]
    assert df.loc["4", "n"] == 6 and df.loc["4", "effect"] > 0  # pruned teachers give a lower true-label probability
    one_chain = synthetic()[1].assign(seed=1000).drop_duplicates(["teacher", "pruning_ratio"])
    assert "one teacher chain" in _verdicts(synthetic()[0], one_chain, synthetic()[2]).loc["4", "note"]
    assert df.loc["2", "verdict"] == "reproduced" and "0.36" in df.loc["2", "precondition"]


def test_failed_preconditions_make_claims_not_tested():
    runs, teachers, plateau = synthetic(kd_gain=-0.02)  # KD worse than training alone
    df = _verdicts(runs, teachers, plateau)
    assert df.loc["1", "verdict"] == "not tested at this profile"
    assert "KD beats training alone on VGG19 -> VGG11" in df.loc["1", "note"]
    plateau["VGG19"] = kc.Check("VGG19 trained to a plateau", False, "still rising")
    assert "plateau" in _verdicts(*synthetic()[:2], plateau).loc["7a", "note"]


def test_claims_without_runs_or_with_one_seed_say_why():
    runs, teachers, plateau = synthetic()
    df = _verdicts(runs, teachers, plateau)
    assert df.loc["6a", "verdict"] == "not tested at this profile" and "paper profile" in df.loc["6a", "note"]
    assert df.loc["14", "verdict"] == "not tested at this profile"
    one = _verdicts(runs[runs.seed == 0], teachers, plateau)
    assert one.loc["1", "verdict"] == "not tested at this profile" and "at least 2" in one.loc["1", "note"]


def test_no_control_run_is_used_twice():
    runs, _, _ = synthetic()
    a = [[(1, ("VGG19", "0.36", "VGG11"))], [(1, ("VGG19", "0.59", "VGG11"))]]
    with pytest.raises(ValueError, match="used twice"):
        pc.paired(runs, a, [[(1, ("VGG19", "none", "VGG11"))]] * 2)
    ours, control = pc.paired(runs, a, [[(1, ("VGG19", "dense 0.36", "VGG11"))], [(1, ("VGG19", "dense 0.59", "VGG11"))]])
    assert len(ours) == len(control) == 6  # one value per seed: the mean over the two ratios


def test_paper_effects_come_from_the_transcription():
    eff = pc.paper_effects(report.paper_numbers(paper.ID))
    assert eff[eff.id == "8a"].effect.round(2).tolist() == [1.45, 2.01, 2.50]
    assert (eff.sd > 0).all() and set(pc.EVIDENCE) <= set(eff.id)


def test_paper_table2_resnet18dbl_79_is_transcribed():
    p = report.paper_numbers(paper.ID).set_index(["table", "teacher", "pruning_ratio", "student"])
    row = p.loc[(2, "ResNet18DBL", "0.79", "ResNet18DBL")]
    assert (row.teacher_accuracy, row.student_accuracy, row.student_std, row.status) == (61.66, 63.16, 0.02, "ok")


def chain(spec) -> list[str]:
    """The stages from `spec` back to its root."""
    out = []
    while spec is not None:
        out.append(spec.stage)
        spec = getattr(spec, "parent", None)
    return out


def test_equal_budget_control_has_the_same_rounds_without_pruning():
    cfg = paper.config("cpu")
    pruned, dense = paper.teacher_run(cfg, "VGG19", "0.59", 1), paper.teacher_run(cfg, "VGG19", "dense 0.59", 1)
    assert chain(pruned).count("train") == chain(dense).count("train") == 5  # pre-training + 4 rounds
    assert chain(pruned).count("prune") == 4 and chain(dense).count("prune") == 0
    sf = paper.teacher_run(cfg, "VGG19", "synflow 0.79", 1)
    assert sf.parent.method == "synflow" and sf.parent.parent.stage == "init"
    assert specs.run_id(paper.teacher_run(cfg, "VGG19", "none", 1)) == specs.run_id(paper.teacher(cfg, "VGG19", 1))
    assert paper.teacher(cfg, "VGG19", 1).seed == 1 and pruned.seed == 1  # cpu: each seed its own teacher chain
    assert paper.teacher(paper.config("paper"), "VGG19", 1).seed == 1000  # paper: one teacher for every seed


def test_tinyimagenet_vgg16_matches_the_reference_head():
    net = paper.models.build(paper.VGG16_TINY, 200)
    linears = [m for m in net.head.modules() if m.__class__.__name__ == "Linear"]
    assert [(m.in_features, m.out_features) for m in linears] == [(2048, 1024), (1024, 1024), (1024, 200)]
    assert sum(p.numel() for p in net.parameters()) == 18_075_912  # reference-implementations.md section 1.5


def test_a_rows_teacher_accuracy_is_the_mean_over_its_seeds_teachers():
    from kdlib.papers import park2022_plots
    df = pd.DataFrame({"teacher": ["VGG19"] * 2, "pruning_ratio": ["0.36"] * 2, "student": ["VGG11"] * 2, "seed": [0, 1],
                       "test_top1": [0.78, 0.80], "teacher_top1": [0.86, 0.88]})
    row = park2022_plots.summary(df).iloc[0]
    assert row["mean"] == pytest.approx(79.0) and row.teacher_accuracy == pytest.approx(87.0) and row.n == 2
