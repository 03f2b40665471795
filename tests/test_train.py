import pytest
import torch
from torch import nn

from kdlib import data, models, train


def small_model():
    torch.manual_seed(0)
    return models.build("cifar_resnet20", 4, in_channels=1, width=0.25)


CFG = train.TrainConfig(epochs=4, lr=0.05, schedule="cosine", seed=0)


def run(tiny_data, config=CFG, **kw):
    model = small_model()
    tl = data.loader(tiny_data, "train", 16, seed=0)
    vl = data.loader(tiny_data, "val", 64)
    return model, train.fit(model, tl, vl, config=config, progress=False, **kw)


def test_loss_goes_down_and_model_learns(tiny_data):
    model, result = run(tiny_data, train.TrainConfig(epochs=6, lr=0.05, schedule="cosine"))
    h = result.history
    assert h["train_loss"].iloc[-1] < 0.6 * h["train_loss"].iloc[0]
    test = train.evaluate(model, data.loader(tiny_data, "test", 64))
    assert test["top1"] > 0.8  # 4 classes: chance is 0.25
    assert result.best_val_top1 == h["val_top1"].max() and result.images_per_second > 0


def test_same_seed_same_numbers(tiny_data):
    (m1, r1), (m2, r2) = run(tiny_data), run(tiny_data)
    assert r1.history["train_loss"].tolist() == r2.history["train_loss"].tolist()
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))


class Interrupt:
    def on_epoch_start(self, model, epoch):
        if epoch == 2:
            raise KeyboardInterrupt


def test_interrupted_and_resumed_equals_uninterrupted(tiny_data, tmp_path):
    full_model, full = run(tiny_data)
    with pytest.raises(KeyboardInterrupt):
        run(tiny_data, callbacks=[Interrupt()], checkpoint=tmp_path)
    assert (tmp_path / "last.pt").exists()
    resumed_model, resumed = run(tiny_data, checkpoint=tmp_path)
    assert resumed.history["train_loss"].tolist() == full.history["train_loss"].tolist()
    for a, b in zip(full_model.state_dict().values(), resumed_model.state_dict().values()):
        assert torch.equal(a, b)


def test_early_stopping_and_best_checkpoint(tiny_data):
    cfg = train.TrainConfig(epochs=30, lr=1e-9, patience=2, schedule="constant")  # lr ~ 0: no improvement
    model, result = run(tiny_data, cfg)
    assert result.stopped_early and len(result.history) == 3 and result.best_epoch == 0


def test_evaluate_topk_by_hand():
    class Fixed(nn.Module):
        def forward(self, x):
            return torch.tensor([[3., 2., 1.], [1., 2., 3.], [1., 3., 2.]])
    loader = [(torch.zeros(3, 1), torch.tensor([0, 1, 2]))]
    out = train.evaluate(Fixed(), loader, topk=(1, 2))
    assert out["top1"] == pytest.approx(1 / 3) and out["top2"] == pytest.approx(1.0)


def test_optimizer_and_schedule_choices(tiny_data):
    _, result = run(tiny_data, train.TrainConfig(epochs=2, optimizer="adamw", lr=1e-3, weight_decay=1e-2,
                                                 schedule="multistep", milestones=(1,), gamma=0.1))
    assert result.history["lr"].tolist() == pytest.approx([1e-3, 1e-4])  # the lr each epoch trained with
    with pytest.raises(ValueError, match="valid: 'sgd', 'adamw'"):
        run(tiny_data, train.TrainConfig(epochs=1, optimizer="adam"))


def test_device_choice_on_this_machine():
    assert train.pick_device("auto").type in ("cpu", "cuda", "mps")
    assert train.pick_device("cpu").type == "cpu"
    # CUDA-only settings are chosen by device type (checked by inspection here: no GPU on this machine)
    assert isinstance(train.autocast(torch.device("cpu")), type(train.autocast(torch.device("cpu"))))


def _without_device(real):
    """Module.to / Tensor.to that ignore the device (a stand-in 'cuda' move on a machine without a GPU)."""
    def to(self, *args, **kwargs):
        args = [a for a in args if not isinstance(a, (torch.device, str))]
        kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        return real(self, *args, **kwargs) if args or kwargs else self
    return to


def test_cuda_path_chooses_bf16_autocast_and_channels_last(monkeypatch):
    cast = train.autocast(torch.device("cuda"))
    assert isinstance(cast, torch.autocast) and cast.fast_dtype == torch.bfloat16
    assert not isinstance(train.autocast(torch.device("cpu")), torch.autocast), "CPU stays fp32 (exact results)"
    monkeypatch.setattr(torch.nn.Module, "to", _without_device(torch.nn.Module.to))
    monkeypatch.setattr(torch.Tensor, "to", _without_device(torch.Tensor.to))
    model = train.prepare(models.build("cifar_resnet20", 10, width=0.25), torch.device("cuda"))
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    x = train.batch_to(torch.zeros(4, 3, 8, 8), torch.device("cuda"))
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    assert train.batch_to(torch.zeros(4, 10), torch.device("cuda")).is_contiguous()  # features stay as they are
