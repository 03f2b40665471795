"""The cached stages end to end on a small Fashion-MNIST subset (the real loader, real data)."""
import pytest
import torch

from kdlib import prune, runs, specs, stages
from kdlib.dg2pf import DG2PFConfig
from kdlib.runner import Runner, pending
from kdlib.specs import KD, DG2PF, Data, Model, Prune, Train
from kdlib.train import TrainConfig

DATA = Data("fashion_mnist", train_per_class=24, test_per_class=10, val_fraction=0.2)
FAST = TrainConfig(epochs=2, lr=0.05, schedule="constant", batch_size=32)


@pytest.fixture
def runner():
    return Runner("cpu", progress=False)


def teacher(seed=0):
    return Train(model=Model("cifar_resnet8x4", width=0.25), data=DATA, optim=FAST, seed=seed)


def test_train_then_reuse_from_cache(runner, monkeypatch):
    first = runner.run(teacher())
    assert 0 <= first.metrics["test_top1"] <= 1 and first.metrics["params_total"] > 0
    assert first.meta["seeds"] == specs.derived_seeds(teacher()), "the derived seeds are recorded"
    calls = []
    monkeypatch.setitem(stages.STAGES, "train", lambda *a: calls.append(a))
    assert runner.run(teacher()).path == first.path and calls == []
    model = runner.load(teacher())
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_kd_and_simkd_students(runner):
    kd = Train(model=Model("cifar_resnet8x4", width=0.125), data=DATA, optim=FAST, kd=KD(teacher(), "hinton", 4.0, 0.9))
    assert "test_top1" in runner.run(kd).metrics
    simkd = Train(model=Model("cifar_mobilenet_v1", width=0.25), data=DATA, optim=FAST, kd=KD(teacher(), "simkd", factor=2))
    student, t = runner.load(simkd), runner.load(teacher())
    assert torch.equal(student.head[-1].weight, t.head[-1].weight)  # the teacher's classifier, frozen


def test_weight_and_channel_pruning_with_last_layer_fine_tuning(runner):
    weight = Prune(parent=teacher(), method="l1_unstructured", sparsity=0.7)
    assert runner.run(weight).metrics["sparsity"] == pytest.approx(0.7, abs=1e-3)
    tuned = Train(parent=weight, optim=FAST, last_layer_only=True)
    before, after = runner.load(weight), runner.load(tuned)
    assert torch.equal(before.features[0].weight, after.features[0].weight)  # frozen
    assert not torch.equal(before.head[-1].weight, after.head[-1].weight)    # trained
    assert prune.sparsity_of(after) == pytest.approx(0.7, abs=1e-3)          # masks kept
    channel = Prune(parent=teacher(), method="channel_l1", sparsity=0.5)
    run = runner.run(channel)
    assert run.shape() is not None
    assert run.metrics["params_total"] == pytest.approx(0.5 * runner.run(teacher()).metrics["params_total"], rel=0.1)
    assert runner.load(Train(parent=channel, optim=FAST, last_layer_only=True)).head[-1].in_features < 64


def test_lr_rewinding_chain_keeps_seed_and_split(runner):
    spec = Train(model=Model("cifar_vgg11", width=0.125), data=DATA, optim=FAST, seed=7)
    for target in prune.geometric_targets(0.2, 2):
        spec = Train(parent=Prune(parent=spec, method="l1_unstructured", sparsity=target), optim=FAST)
    assert spec.seed == 7 and specs.derived_seeds(spec)["split"] == specs.derived_seeds(specs.root(spec))["split"]
    assert runner.run(spec).metrics["sparsity"] == pytest.approx(0.36, abs=1e-3)


def test_dg2pf_stage_and_pending(runner):
    dgp = TrainConfig(epochs=3, lr=1e-3, optimizer="adamw", weight_decay=0.01, schedule="constant", patience=1, batch_size=32)
    cfg = DG2PFConfig(sparsity=0.5, pruning_epochs=2, dgp=dgp, pf=TrainConfig(epochs=1, lr=1e-3, schedule="constant", batch_size=32))
    spec = DG2PF(parent=teacher(seed=1), settings=cfg)
    assert [s.stage for s in pending([spec])] == ["train", "dg2pf"]
    assert runner.run(spec).metrics["sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert pending([spec]) == []
    assert {r.id for r in runs.find_runs("dg2pf")} == {runner.run(spec).id}


def test_transfer_run_uses_its_own_data_and_a_new_head(runner):
    pre = Train(model=Model("cifar_resnet20", width=0.25), data=Data("fashion_mnist", 24, test_per_class=10, classes=(0, 1, 2)),
                optim=FAST)
    target = Data("fashion_mnist", 24, test_per_class=10, classes=(3, 4, 5, 6))
    transfer = Train(parent=pre, data=target, reset_head=True, optim=FAST, seed=3)
    assert runner.load(transfer)(torch.zeros(2, 1, 28, 28)).shape == (2, 4)
    assert specs.data_owner(transfer).data == target and specs.data_owner(pre).data.classes == (0, 1, 2)
    assert runner.run(transfer).shape() is not None  # the head differs from the root architecture's


def test_init_stage_and_pruning_inside_a_part(runner):
    start = specs.Init(model=Model("cifar_vgg11", width=0.125), data=DATA, seed=4)
    assert runner.run(start).metrics["test_top1"] <= 0.3  # untrained: about chance on 10 classes
    simkd = Train(model=Model("cifar_resnet20", width=0.25), data=DATA, optim=FAST, kd=KD(teacher(), "simkd"))
    weight = runner.run(Prune(parent=simkd, method="l1_unstructured", sparsity=0.5, part="features.0"))
    assert weight.metrics["params_student_prunable_nonzero"] == pytest.approx(
        0.5 * weight.metrics["params_student_prunable"], abs=1)
    assert weight.metrics["params_prunable_nonzero"] > 0.5 * weight.metrics["params_prunable"], "projector, head kept"
    channel = runner.run(Prune(parent=simkd, method="channel_l1", sparsity=0.5, part="features.0"))
    dense = runner.run(simkd).metrics
    assert channel.metrics["params_student_total"] == pytest.approx(0.5 * dense["params_student_total"], rel=0.15)
    assert runner.load(Prune(parent=simkd, method="channel_l1", sparsity=0.5, part="features.0"))(
        torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_a_training_capped_at_max_steps_records_its_speed_and_memory(runner):
    capped = Train(model=Model("cifar_resnet20", width=0.25), data=DATA, optim=TrainConfig(
        epochs=2, lr=0.05, batch_size=16, max_steps=3), seed=2)
    run = runner.run(capped)
    assert run.history()["steps"].tolist() == [3, 3] and run.history()["images"].tolist() == [48, 48]
    assert run.metrics["seconds_per_step"] > 0 and run.meta["peak_rss_mib"] > 50


def test_a_non_finite_run_fails_clearly_and_is_not_cached(runner, monkeypatch):
    exploding = Train(model=Model("cifar_resnet20", width=0.25), data=DATA, seed=5,
                      optim=TrainConfig(epochs=1, lr=1e38, batch_size=32, momentum=0.0))
    with pytest.raises(FloatingPointError):
        runner.run(exploding)
    assert not runs.is_finished(exploding)
    real_fit = stages.train.fit

    def fit_then_nan(model, *args, **kwargs):  # the last step leaves a NaN weight behind
        out = real_fit(model, *args, **kwargs)
        with torch.no_grad():
            next(model.parameters()).view(-1)[0] = float("nan")
        return out
    monkeypatch.setattr(stages.train, "fit", fit_then_nan)
    spec = Train(model=Model("cifar_resnet20", width=0.25), data=DATA, optim=FAST, seed=6)
    with pytest.raises(FloatingPointError, match="non-finite values"):
        runner.run(spec)
    assert not runs.is_finished(spec)


def test_cost_mode_sizes_a_plan_from_an_unfinished_chain_without_running_it(runner, monkeypatch):
    """Cost mode (`python -m kdlib.costs`) sizes a sparsity-matched student before its pruned teacher exists: the chain
    at initialisation with its pruning applied, exactly at the chain's sparsity; nothing is computed or cached."""
    chain = Train(parent=Prune(parent=teacher(), method="l1_unstructured", sparsity=0.75, evaluate=False), optim=FAST)
    monkeypatch.setitem(stages.STAGES, "train", lambda *a: pytest.fail("cost mode must not train"))
    monkeypatch.setenv("KDLIB_COST_SHAPES", "1")
    model = runner.load_for_shape(chain)
    counts = prune.layer_counts(model)
    kept = sum(c["nonzero"] for c in counts) / sum(c["weights"] for c in counts)
    assert kept == pytest.approx(0.25, abs=1e-3)
    assert not runs.is_finished(chain) and not runs.is_finished(teacher())
    monkeypatch.delenv("KDLIB_COST_SHAPES")
    with pytest.raises(pytest.fail.Exception, match="cost mode must not train"):  # outside cost mode: the real run
        runner.load_for_shape(chain)
