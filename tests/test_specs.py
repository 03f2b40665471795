"""Run identity: a run's id is the hash of its fully resolved spec (open_lth's rule, pinned like open_lth's 15)."""
import dataclasses
import json

import pytest

from kdlib import specs
from kdlib.dg2pf import DG2PFConfig
from kdlib.papers import fontana2024, kieu_sood, malihi2024, park2022
from kdlib.specs import KD, Data, Model, Prune, Train
from kdlib.train import TrainConfig

FIXED = {"name": "fixed", "files": {}, "labels_sha256": "0" * 64}


@pytest.fixture(autouse=True)
def fixed_fingerprint(monkeypatch):
    """Pins must not depend on which copy of a dataset this machine has: data identity is tested separately."""
    monkeypatch.setattr(specs, "fingerprint", lambda name: {**FIXED, "name": name})
    specs.run_id.cache_clear()
    yield
    specs.run_id.cache_clear()


def real_specs() -> dict:
    """Sixteen specs from the four papers' plans at the paper profile (their exact settings)."""
    park, kieu, malihi, fontana = (m.config("paper") for m in (park2022, kieu_sood, malihi2024, fontana2024))
    pair, vgg11 = "ResNet101->ResNet50", park2022.profiles.model(park["vgg"]["models"]["VGG11"])
    return {
        "park teacher": park2022.teacher(park, "VGG19", 0),
        "park 59% teacher": park2022.teacher_run(park, "VGG19", "0.59", 0),
        "park 59% equal-budget control": park2022.teacher_run(park, "VGG19", "dense 0.59", 0),
        "park SynFlow 79% teacher": park2022.teacher_run(park, "VGG19", "synflow 0.79", 0),
        "park VGG11 alone": park2022.student(park, "vgg", "VGG11", vgg11, None, 1),
        "park VGG11 from 79%": park2022.student(park, "vgg", "VGG11", vgg11, park2022.teacher_run(park, "VGG19", "0.79", 2), 2),
        "kieu all layers": kieu_sood.baseline(kieu, "all_layers", 0),
        "kieu head only": kieu_sood.baseline(kieu, "head_only", 0),
        "kieu SqueezeNet distilled": kieu_sood.student(kieu, "SqueezeNet", 1, True),
        "kieu pruning L1 layer last": kieu_sood.pruning(kieu, "layer", "L1", 0)[-1],
        "kieu unpruned control last": kieu_sood.unpruned(kieu, "L1", 0)[-1],
        "malihi teacher": malihi2024.teacher(malihi, "cifar10", pair),
        "malihi SimKD student": malihi2024.student(malihi, "cifar100", pair, 3),
        "malihi channel 50%": malihi2024.sweep(malihi, malihi2024.student(malihi, "cifar100", pair, 1),
                                               malihi2024.PART["student"])[("channel", 0.5)],
        "fontana DG2PF base": fontana2024.run(fontana, "ResNet-18", 0),
        "fontana Table VI GMP": fontana2024.comparison_cells(fontana)[("ResNet-18", "gradual magnitude (GMP)", 1)],
        "fontana alpha 0": fontana2024.run(fontana, "VGG-16", 2, alpha=0.0),
    }


# Regenerate only on purpose: a change here means every cached run of that kind is recomputed.
PINNED = {
    "park teacher": "train-cifar_vgg19-aab7b5627c063c20",
    "park 59% teacher": "train-cifar_vgg19-37a09ffc0b95ca4c",
    "park 59% equal-budget control": "train-cifar_vgg19-c46615553983ebe9",
    "park SynFlow 79% teacher": "train-cifar_vgg19-247cad2510f7eeb5",
    "park VGG11 alone": "train-cifar_vgg11-91361d0f90fcf61b",
    "park VGG11 from 79%": "train-cifar_vgg11-87e5321a7fee8ea3",
    "kieu all layers": "train-resnet50-c19d2481d8f84672",
    "kieu head only": "train-resnet50-5b2d23ea0f6e35f8",
    "kieu SqueezeNet distilled": "train-squeezenet1_0-63e11ff2b485f708",
    "kieu pruning L1 layer last": "train-resnet50-02426b66d24dcc18",
    "kieu unpruned control last": "train-resnet50-1bf67a2884a70c71",
    "malihi teacher": "train-resnet101-37d51119cef138ae",
    "malihi SimKD student": "train-resnet50-bf1b5c11d45171dd",
    "malihi channel 50%": "train-resnet50-bfd0ed27dc39e20c",
    "fontana DG2PF base": "dg2pf-dg2pf_resnet18-aa5d685bbe4b3a0c",
    "fontana Table VI GMP": "dg2pf-dg2pf_resnet18-2494d8e09b50a1a7",
    "fontana alpha 0": "dg2pf-dg2pf_vgg16_bn-7ebda4996936897f",
}


def test_pinned_ids_of_real_specs():
    assert {name: specs.run_id(spec) for name, spec in real_specs().items()} == PINNED


def test_a_default_changes_nothing_or_changes_the_id():
    base = TrainConfig(epochs=2, lr=0.1)
    spec = Train(model=Model("cifar_resnet20"), data=Data("fashion_mnist"), optim=base)
    explicit = Train(model=Model("cifar_resnet20", width=1.0), data=Data("fashion_mnist", val_fraction=0.1),
                     optim=TrainConfig(epochs=2, lr=0.1, batch_size=128, weight_decay=5e-4), seed=0)
    assert specs.run_id(spec) == specs.run_id(explicit), "writing a default out changes nothing"
    assert specs.run_id(spec) != specs.run_id(dataclasses.replace(spec, optim=dataclasses.replace(base, weight_decay=1e-4)))
    # Change a default of the class itself (as a new kdlib version might): the same written spec gets a new id.
    fields = [(f.name, f.type, dataclasses.field(default=1e-4) if f.name == "weight_decay" else f)
              for f in dataclasses.fields(TrainConfig)]
    fields = [(n, t, f if isinstance(f, dataclasses.Field) and f.name is None else dataclasses.field(
        default=f.default, default_factory=f.default_factory)) for n, t, f in fields]
    Changed = dataclasses.make_dataclass("TrainConfig", fields, frozen=True)
    changed = Train(model=Model("cifar_resnet20"), data=Data("fashion_mnist"), optim=Changed(epochs=2, lr=0.1))
    assert specs.run_id(changed) != specs.run_id(spec)


def test_every_field_and_the_data_take_part(monkeypatch):
    spec = real_specs()["park VGG11 from 79%"]
    ids = {specs.run_id(spec)}
    for change in ({"seed": 9}, {"kd": dataclasses.replace(spec.kd, temperature=4.0)},
                   {"optim": dataclasses.replace(spec.optim, epochs=199)},
                   {"data": dataclasses.replace(spec.data, val_fraction=0.2)}):
        ids.add(specs.run_id(dataclasses.replace(spec, **change)))
    assert len(ids) == 5
    teacher_changed = dataclasses.replace(spec, kd=dataclasses.replace(spec.kd, teacher=park2022.teacher_run(
        park2022.config("paper"), "VGG19", "0.59", 2)))
    assert specs.run_id(teacher_changed) not in ids, "a parent or teacher enters by its id"
    monkeypatch.setattr(specs, "fingerprint", lambda name: {**FIXED, "labels_sha256": "1" * 64})
    specs.run_id.cache_clear()
    assert specs.run_id(spec) not in ids, "relabelled data is a new run"


def test_round_trip_and_unknown_keys():
    for spec in real_specs().values():
        again = specs.from_dict(json.loads(json.dumps(specs.to_dict(spec))))
        assert again == spec and specs.run_id(again) == specs.run_id(spec)
    d = specs.to_dict(real_specs()["park teacher"])
    with pytest.raises(KeyError, match=r"optim: unknown key\(s\) 'learning_rate'; valid: epochs, lr"):
        specs.from_dict({**d, "optim": {**d["optim"], "learning_rate": 0.1}})
    with pytest.raises(KeyError, match=r"train spec: unknown key\(s\) 'teacher_seed'"):
        specs.from_dict({**d, "teacher_seed": 3})


def test_one_seed_per_run_and_what_derives_from_it():
    teacher = real_specs()["park teacher"]
    pruned = real_specs()["park 59% teacher"]
    assert teacher.seed == pruned.seed == 1000, "a chain keeps its root's seed unless it sets its own"
    seeds = specs.derived_seeds(pruned)
    assert seeds["split"] == specs.derived_seeds(teacher)["split"], "a chain keeps its data split"
    assert len({seeds["split"], seeds["init"], seeds["order"], seeds["sampling"]}) == 4
    s0, s1 = (park2022.student(park2022.config("paper"), "vgg", "VGG11", Model("cifar_vgg11"), None, s) for s in (0, 1))
    assert specs.derived_seeds(s0)["init"] != specs.derived_seeds(s1)["init"]
    assert specs.derived_seeds(s0) == specs.derived_seeds(dataclasses.replace(s0, optim=s1.optim)), "seeds pair conditions"


@pytest.mark.parametrize("build, message", [
    (lambda: Prune(parent=real_specs()["park teacher"], method="l1_unstructured", sparsity=1.5), r"sparsity must be in \[0, 1\)"),
    (lambda: KD(real_specs()["park teacher"], temperature=float("nan")), "temperature must be a finite number > 0"),
    (lambda: KD(real_specs()["park teacher"], temperature=-4.0), "temperature must be a finite number > 0"),
    (lambda: KD(real_specs()["park teacher"], alpha=1.5), r"alpha must be in \[0, 1\]"),
    (lambda: DG2PFConfig(temperature=-4.0), "temperature"),
    (lambda: DG2PFConfig(alpha=1.5), "alpha"),
    (lambda: Train(optim=TrainConfig(epochs=1, lr=0.1)), "exactly one of model= or parent="),
    (lambda: Train(model=Model("cifar_resnet20"), optim=TrainConfig(epochs=1, lr=0.1)), "needs data="),
    (lambda: Data("fashion_mnist", train_per_class=0), "train_per_class must be None or >= 1"),
    (lambda: Model("resnet51"), "unknown model 'resnet51'"),
])
def test_meaningless_specs_are_errors_at_construction(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_park_rate_zero_is_an_error():
    cfg = park2022.config("paper")
    with pytest.raises(ValueError, match=r"rate must be in \(0, 1\)"):
        park2022.teacher_run({**cfg, "rate": 0}, "VGG19", "0.59", 0)
