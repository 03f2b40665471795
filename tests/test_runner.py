"""The cached stages end to end on a small Fashion-MNIST subset (the real loader, real data)."""
import pytest
import torch

from kdlib import pipeline, prune, runs

DATA = {"name": "fashion_mnist", "train_per_class": 24, "test_per_class": 10, "val_fraction": 0.2, "seed": 0}
FAST = {"epochs": 2, "lr": 0.05, "schedule": "constant"}


@pytest.fixture(autouse=True)
def quiet():
    pipeline.PROGRESS, pipeline.DEVICE = False, "cpu"


def teacher_cfg(seed=0):
    return pipeline.train_cfg({"name": "cifar_resnet8x4", "width": 0.25}, DATA, FAST, seed=seed, batch_size=32)


def test_train_then_reuse_from_cache():
    first = pipeline.run(teacher_cfg())
    assert 0 <= first.metrics["test_top1"] <= 1 and first.metrics["params_total"] > 0
    calls = []
    original = pipeline.STAGES["train"]
    pipeline.STAGES["train"] = lambda cfg, w: calls.append(cfg) or original(cfg, w)
    try:
        assert pipeline.run(teacher_cfg()).path == first.path and calls == []
    finally:
        pipeline.STAGES["train"] = original
    model = pipeline.load(teacher_cfg())
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_kd_and_simkd_students():
    kd = pipeline.train_cfg({"name": "cifar_resnet8x4", "width": 0.125}, DATA, FAST, batch_size=32,
                            teacher=teacher_cfg(), kd={"method": "hinton", "temperature": 4.0, "alpha": 0.9})
    assert "test_top1" in pipeline.run(kd).metrics
    simkd = pipeline.train_cfg({"name": "cifar_mobilenet_v1", "width": 0.25,
                                "simkd": {"teacher": teacher_cfg(), "factor": 2}}, DATA, FAST, batch_size=32,
                               teacher=teacher_cfg(), kd={"method": "simkd"})
    student = pipeline.load(simkd)
    teacher = pipeline.load(teacher_cfg())
    assert torch.equal(student.head[-1].weight, teacher.head[-1].weight)  # the teacher's classifier, frozen


def test_weight_and_channel_pruning_with_last_layer_fine_tuning():
    weight = pipeline.child(teacher_cfg(), "prune", method="l1_unstructured", sparsity=0.7)
    assert pipeline.run(weight).metrics["sparsity"] == pytest.approx(0.7, abs=1e-3)
    tuned = pipeline.child(weight, "train", train=FAST, last_layer_only=True, batch_size=32)
    before, after = pipeline.load(weight), pipeline.load(tuned)
    assert torch.equal(before.features[0].weight, after.features[0].weight)  # frozen
    assert not torch.equal(before.head[-1].weight, after.head[-1].weight)    # trained
    assert prune.sparsity_of(after) == pytest.approx(0.7, abs=1e-3)          # masks kept
    channel = pipeline.child(teacher_cfg(), "prune", method="channel_l1", ratio=0.5)
    run = pipeline.run(channel)
    assert run.spec() is not None and run.metrics["params_total"] < 0.4 * pipeline.run(teacher_cfg()).metrics["params_total"]
    assert pipeline.load(pipeline.child(channel, "train", train=FAST, last_layer_only=True)).head[-1].in_features < 64


def test_lr_rewinding_chain_and_st_student():
    teacher = pipeline.train_cfg({"name": "cifar_vgg11", "width": 0.125}, DATA, FAST, batch_size=32)
    cfg = teacher
    for target in prune.geometric_targets(0.2, 2):
        cfg = pipeline.child(pipeline.child(cfg, "prune", method="l1_unstructured", sparsity=target), "train",
                             train=FAST, batch_size=32)
    assert pipeline.run(cfg).metrics["sparsity"] == pytest.approx(0.36, abs=1e-3)
    spec = pipeline.st_student_spec(cfg)
    student = pipeline.run(pipeline.train_cfg(spec, DATA, FAST, batch_size=32))
    dense = pipeline.run(teacher).metrics["params_prunable"]
    assert student.metrics["params_prunable"] / dense == pytest.approx(0.64, abs=0.08)  # tiny widths round coarsely


def test_dg2pf_stage_and_pending():
    dg = {"sparsity": 0.5, "pruning_epochs": 2, "simulated_sparsity": 0.1, "alpha": 0.9, "temperature": 0.5,
          "dgp": {"epochs": 3, "optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.01, "schedule": "constant",
                  "patience": 1},
          "pf": {"epochs": 1, "lr": 1e-3, "schedule": "constant"}}
    cfg = pipeline.child(teacher_cfg(seed=1), "dg2pf", dg2pf=dg, batch_size=32)
    assert [c["stage"] for c in pipeline.pending([cfg])] == ["train", "dg2pf"]
    assert pipeline.run(cfg).metrics["sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert pipeline.pending([cfg]) == []
    assert set(runs.load_runs("dg2pf")["run"]) == {pipeline.run(cfg).id}


def test_unknown_stage_and_method():
    with pytest.raises(ValueError, match="valid: train, prune, dg2pf"):
        pipeline.run({"stage": "distil"})
    with pytest.raises(ValueError, match="valid: l1_unstructured"):
        pipeline.run(pipeline.child(teacher_cfg(), "prune", method="random"))


def test_transfer_run_uses_its_own_data_and_a_new_head():
    source = dict(DATA, classes=[0, 1, 2])
    target = dict(DATA, classes=[3, 4, 5, 6])
    pre = pipeline.train_cfg({"name": "cifar_resnet20", "width": 0.25}, source, FAST, batch_size=32)
    transfer = {"stage": "train", "init": pre, "data": target, "reset_head": True, "train": FAST, "batch_size": 32}
    model = pipeline.load(transfer)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 4)
    assert pipeline.data_of(transfer) == target and pipeline.data_of(pre) == source
    assert pipeline.run(transfer).spec() is not None  # the head differs from the root architecture's
