"""Bad input gets one clear error: each kind of mistake a user can make, and the message that names the fix."""
import json
import os
import stat

import pytest
import torch
import yaml

from kdlib import data, models, profiles, prune, reproduce, runs, specs
from kdlib.specs import Data, Model, Prune, Train
from kdlib.train import TrainConfig


def tiny_train_cfg(**extra):
    return Train(model=Model("cifar_resnet20", width=0.25), data=Data("fashion_mnist", 10),
                 optim=TrainConfig(epochs=1, lr=0.1), **extra)


def test_unknown_model():
    with pytest.raises(ValueError, match=r"unknown model 'resnet51'.*valid names: .*resnet50"):
        models.build("resnet51", 10)


def test_unknown_dataset():
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar11'.*valid names: .*cifar10"):
        data.load("cifar11")


def test_unknown_profile(monkeypatch):
    with pytest.raises(ValueError, match="unknown profile 'gpu'; valid profiles: smoke, cpu, paper"):
        profiles.resolve("gpu")
    monkeypatch.setenv("KDLIB_PROFILE", "smoek")
    with pytest.raises(ValueError, match="unknown profile 'smoek'"):
        profiles.resolve("cpu")


def test_unknown_pruning_method():
    with pytest.raises(ValueError, match="unknown pruning method 'l2_unstructured'; valid: l1_unstructured, "
                                         "channel_l1, percentile, synflow"):
        Prune(parent=tiny_train_cfg(), method="l2_unstructured", sparsity=0.5)


@pytest.mark.parametrize("sparsity", [-0.1, 1.0, 1.5])
def test_sparsity_outside_unit_interval(sparsity):
    model = models.build("cifar_resnet20", 10, width=0.25)
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\)"):
        prune.l1_unstructured(model, sparsity)


def test_channel_ratio_removing_every_channel():
    model = models.build("cifar_resnet20", 10, width=0.25)
    with pytest.raises(ValueError, match="would remove every channel"):
        prune.channel_l1(model, torch.zeros(1, 3, 32, 32), ratio=1.0)


def test_num_classes_that_does_not_match_the_checkpoint(tmp_path):
    trained = models.build("cifar_resnet20", 10, width=0.25)
    with pytest.raises(ValueError, match=r"has 10 output classes but the model has 100 .*num_classes=10"):
        models.load_weights(models.build("cifar_resnet20", 100, width=0.25), trained.state_dict(), "ckpt.pt")
    prune.channel_l1(trained, torch.zeros(1, 3, 32, 32), ratio=0.5)
    with pytest.raises(ValueError, match="has 10 output classes but the model has 100"):
        prune.load_pruned(models.build("cifar_resnet20", 100, width=0.25), trained.state_dict(), prune.shape_spec(trained))


def test_checkpoint_of_another_architecture():
    with pytest.raises(ValueError, match="does not fit this architecture"):
        models.load_weights(models.build("cifar_resnet32", 10, width=0.25),
                            models.build("cifar_resnet20", 10, width=0.25).state_dict())


def test_missing_dataset_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "candidate_roots", lambda root=None: [tmp_path])
    with pytest.raises(data.DatasetNotFound, match=r"(?s)'cifar100' not found.*Looked in:.*cifar-100-python.*"
                                                   r"How to get it"):
        data.load("cifar100", root=tmp_path)


def test_empty_dataset_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "candidate_roots", lambda root=None: [tmp_path])
    (tmp_path / data.info("cifar10").folder).mkdir()
    with pytest.raises(data.DatasetNotFound, match=r"not found \(or empty\)"):
        data.load("cifar10", root=tmp_path)


def test_birds525_with_the_wrong_number_of_classes(tmp_path):
    for split in ("train", "valid", "test"):
        for species in ("ABBOTTS BABBLER", "ALBATROSS", "AZURE JAY"):
            (tmp_path / "birds525" / split / species).mkdir(parents=True)
    with pytest.raises(ValueError, match="3 class folders; birds525 needs 525"):
        data.load("birds525", root=tmp_path)


def test_unknown_papermill_parameter(tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"park2022": {"overides": {"seeds": [0]}}}))
    assert reproduce.main(["--profile", "smoke", "--notebook", "park2022", "--params", str(params)]) == 2
    err = capsys.readouterr().err
    assert "park2022 has no notebook parameter 'overides'; valid: overrides" in err
    params.write_text(yaml.safe_dump({"park2023": {"overrides": {}}}))
    assert reproduce.main(["--profile", "smoke", "--params", str(params)]) == 2
    assert "unknown paper 'park2023'; valid: kieu_sood, park2022" in capsys.readouterr().err


def test_params_file_with_a_typod_override_key():
    paper = {"seeds": [0, 1, 2], "kd": {"temperature": 4.0, "alpha": 0.9}}
    with pytest.raises(KeyError, match="override 'seed' is not a key of the paper config; valid keys: seeds, kd"):
        profiles.merge(paper, {"seed": [0]})
    with pytest.raises(KeyError, match="override 'temprature' is not a key"):
        profiles.merge(paper, {"kd": {"temprature": 2.0}})


def test_cache_entry_of_an_incompatible_version():
    calls = []

    def compute(workdir):
        calls.append(1)
        return runs.Result({"w": torch.ones(1)}, {"top1": 0.5})
    run = runs.cached(tiny_train_cfg(), compute)
    manifest = run.path / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format": specs.FORMAT + 1}))
    with pytest.warns(UserWarning, match=rf"written by cache format {specs.FORMAT + 1}, this kdlib reads format "
                                         rf"{specs.FORMAT}\); recomputing it"):
        runs.cached(tiny_train_cfg(), compute)
    assert len(calls) == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_runs_folder_without_write_permission_as_user(tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with pytest.raises(PermissionError, match="cannot write to the runs folder .*KDLIB_RUNS"):
        runs.cached(tiny_train_cfg(), lambda w: None, root=folder)


def test_runs_folder_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the runs folder should be")  # unwritable even for root
    with pytest.raises(PermissionError, match="cannot write to the runs folder .*KDLIB_RUNS"):
        runs.cached(tiny_train_cfg(), lambda w: None, root=blocker)


def test_unknown_stage_key_and_values():
    with pytest.raises(ValueError, match="unknown stage 'distil'; valid: train, init, prune, dg2pf, int8"):
        specs.from_dict({**specs.to_dict(tiny_train_cfg()), "stage": "distil"})
    with pytest.raises(KeyError, match="unknown key.*'lerning_rate'.*valid: epochs, lr"):
        profiles.optim({"epochs": 1, "lerning_rate": 0.1})
    with pytest.raises(ValueError, match="a KD teacher must be a run spec, got object"):
        specs.KD(teacher=object(), method="hinton")
