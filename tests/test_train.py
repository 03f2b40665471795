import json
import pytest
import torch
from torch import nn

from kdlib import data, device, models, train


def small_model():
    torch.manual_seed(0)
    return models.build("cifar_resnet20", 4, in_channels=1, width=0.25)


CFG = train.TrainConfig(epochs=4, lr=0.05, schedule="cosine")


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
        train.TrainConfig(epochs=1, lr=0.1, optimizer="adam")


@pytest.mark.parametrize("bad, message", [
    ({"epochs": 0}, "epochs must be an integer >= 1"), ({"epochs": -3}, "epochs must be an integer >= 1"),
    ({"lr": float("nan")}, "lr must be a finite number > 0"), ({"lr": 0.0}, "lr must be a finite number > 0"),
    ({"momentum": 1.5}, "momentum must be in"), ({"milestones": (5, 2)}, "milestones must be increasing"),
    ({"patience": 0}, "patience must be None or >= 1"), ({"batch_size": 0}, "batch_size must be an integer >= 1")])
def test_meaningless_training_configs_are_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        train.TrainConfig(**{"epochs": 2, "lr": 0.1, **bad})


def test_device_choice_on_this_machine():
    assert device.pick_device("auto").type in ("cpu", "cuda", "mps")
    assert device.pick_device("cpu").type == "cpu"


def test_cpu_threads_follow_omp_num_threads_and_layout_is_contiguous(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert device.cpu_threads() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert device.cpu_threads() == len(__import__("os").sched_getaffinity(0))
    monkeypatch.setenv("KDLIB_CHANNELS_LAST", "0")
    model = device.prepare(models.build("cifar_resnet20", 10, width=0.25), torch.device("cpu"))
    assert not device.is_channels_last(model)
    monkeypatch.setenv("KDLIB_CHANNELS_LAST", "1")
    assert device.channels_last(torch.device("cpu"))


def test_a_busy_machine_is_named_before_its_threads_wait_on_each_other(monkeypatch, tmp_path):
    """/proc/loadavg's 4th field counts runnable tasks, the reader included: 2 = one other busy process."""
    loadavg, read = tmp_path / "loadavg", device.runnable_tasks
    monkeypatch.setattr(device, "runnable_tasks", lambda: read(str(loadavg)))
    monkeypatch.setattr(device.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    loadavg.write_text("1.9 1.5 1.2 2/120 999")
    message = device.contention_warning(samples=2, interval=0)
    assert "keep 1 of 2 CPUs busy" in message and "OMP_NUM_THREADS=1" in message
    loadavg.write_text("0.1 0.1 0.1 1/120 999")  # only the reader runs
    assert device.contention_warning(samples=2, interval=0) == ""
    loadavg.write_text("1.9 1.5 1.2 2/120 999")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one thread waits on no other
    assert device.contention_warning(samples=2, interval=0) == ""
    assert read(str(tmp_path / "missing")) is None


def test_cpu_memory_format_is_measured_once_per_machine_and_kept(monkeypatch, tmp_path):
    monkeypatch.delenv("KDLIB_CHANNELS_LAST")
    monkeypatch.setenv("KDLIB_CACHE", str(tmp_path))
    monkeypatch.setattr(device, "_CHOICE", {})
    monkeypatch.setattr(device, "measure_formats", lambda: (0.010, 0.008))  # channels_last 20% faster
    assert device.channels_last(torch.device("cpu"))
    stored = json.loads((tmp_path / device.MEMORY_FORMAT_FILE).read_text())
    assert [v["channels_last"] for v in stored.values()] == [True]
    # the next process reads the stored answer: no new measurement, even if one would now disagree
    monkeypatch.setattr(device, "_CHOICE", {})
    monkeypatch.setattr(device, "measure_formats", lambda: pytest.fail("measured twice"))
    assert device.channels_last(torch.device("cpu"))
    model = device.prepare(models.build("cifar_resnet20", 10, width=0.25), torch.device("cpu"))
    assert device.is_channels_last(model)
    monkeypatch.setattr(device, "_CHOICE", {})
    (tmp_path / device.MEMORY_FORMAT_FILE).unlink()
    monkeypatch.setattr(device, "measure_formats", lambda: (0.010, 0.0097))  # 3% faster: not enough
    assert not device.channels_last(torch.device("cpu"))
    torch.set_num_threads(1)  # channels_last crashed with one thread: never chosen there
    try:
        assert not device.cpu_prefers_channels_last()
    finally:
        torch.set_num_threads(2)


def test_the_format_measurement_times_both_layouts():
    contiguous, cl = device.measure_formats(rounds=1)
    assert 0 < contiguous < 5 and 0 < cl < 5


def _without_device(real):
    """Module.to / Tensor.to that ignore the device (a stand-in 'cuda' move on a machine without a GPU)."""
    def to(self, *args, **kwargs):
        args = [a for a in args if not isinstance(a, (torch.device, str))]
        kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        return real(self, *args, **kwargs) if args or kwargs else self
    return to


def test_cuda_path_chooses_bf16_autocast_and_channels_last(monkeypatch):
    cast = device.autocast(torch.device("cuda"))
    assert isinstance(cast, torch.autocast) and cast.fast_dtype == torch.bfloat16
    assert not isinstance(device.autocast(torch.device("cpu")), torch.autocast), "CPU stays fp32 (exact results)"
    monkeypatch.setattr(torch.nn.Module, "to", _without_device(torch.nn.Module.to))
    monkeypatch.setattr(torch.Tensor, "to", _without_device(torch.Tensor.to))
    model = device.prepare(models.build("cifar_resnet20", 10, width=0.25), torch.device("cuda"))
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    x = device.batch_to(torch.zeros(4, 3, 8, 8), torch.device("cuda"))
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    assert device.batch_to(torch.zeros(4, 10), torch.device("cuda")).is_contiguous()  # features stay as they are


def test_a_damaged_checkpoint_is_reported_and_the_training_restarts(tiny_data, tmp_path):
    full_model, full = run(tiny_data)
    with pytest.raises(KeyboardInterrupt):
        run(tiny_data, callbacks=[Interrupt()], checkpoint=tmp_path)
    ckpt = tmp_path / "last.pt"
    data_ = bytearray(ckpt.read_bytes())
    data_[len(data_) // 2] ^= 0x10  # one flipped bit
    ckpt.write_bytes(bytes(data_))
    with pytest.warns(UserWarning, match="checksum does not match.*restarts from the beginning"):
        model, resumed = run(tiny_data, checkpoint=tmp_path)
    assert resumed.history["train_loss"].tolist() == full.history["train_loss"].tolist()
    for junk in (b"", b"not a pickle at all"):
        ckpt.write_bytes(junk)
        (tmp_path / "last.sha256").write_text(__import__("hashlib").sha256(junk).hexdigest())
        with pytest.warns(UserWarning, match="cannot be read"):
            run(tiny_data, checkpoint=tmp_path)



def test_an_epoch_without_a_single_step_is_an_error():
    with pytest.raises(ValueError, match="no optimizer step"):
        train.fit(small_model(), [], config=train.TrainConfig(epochs=1, lr=0.05), progress=False)


def test_a_training_set_smaller_than_one_batch_still_trains(tmp_path):
    """An image-folder training set with fewer images than the batch size gives one (partial) batch, as the
    in-memory loader does; before, drop_last made the epoch empty."""
    from kdlib import standins
    standins.write(tmp_path, ["imagenet"])
    d = data.load("imagenet", tmp_path, val_per_class=1)
    assert 0 < len(d.train) < 64
    batches = list(data.loader(d, "train", 64, workers=0))
    assert len(batches) == 1 and len(batches[0][1]) == len(d.train)
