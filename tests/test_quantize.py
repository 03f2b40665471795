import pytest
import torch

from kdlib import data, models, prune, quantize, train


def test_untie_relu_keeps_outputs_and_separates_modules():
    torch.manual_seed(0)
    model = models.build("resnet18", 10).eval()
    x = torch.randn(2, 3, 32, 32)
    before = model(x)
    quantize.untie_relu(model)
    block = model.features[4][0]
    assert block.relu1 is not block.relu2
    assert torch.allclose(model(x), before)


@pytest.fixture(scope="module")
def trained():
    from conftest import make_tiny_data
    d = make_tiny_data()
    torch.manual_seed(0)
    model = models.build("cifar_resnet20", 4, in_channels=1, width=0.5)
    train.fit(model, data.loader(d, "train", 16), config=train.TrainConfig(epochs=6, lr=0.05, schedule="cosine"),
              progress=False)
    return model.eval(), d


def test_int8_model_keeps_accuracy_and_is_four_times_smaller(trained):
    model, d = trained
    calibration = [x for x, _ in data.loader(d, "train", 32)][:4]
    qmodel = quantize.ptq_int8(model, calibration, calibration[0])
    fp32 = train.evaluate(model, data.loader(d, "test", 64), topk=(1,))["top1"]
    int8 = train.evaluate(qmodel, data.loader(d, "test", 64), topk=(1,))["top1"]
    assert fp32 > 0.8 and int8 >= fp32 - 0.05
    assert quantize.serialized_size(qmodel) < 0.35 * quantize.serialized_size(model)
    assert qmodel(calibration[0][:3]).shape == (3, 4)  # another batch size than the example's


def test_masks_must_be_made_permanent_first(trained):
    model, _ = trained
    masked = models.build("cifar_resnet20", 4, in_channels=1, width=0.5)
    masked.load_state_dict(model.state_dict())
    prune.l1_unstructured(masked, 0.5)
    x = torch.randn(2, 1, 8, 8)
    with pytest.raises(ValueError, match="make_permanent"):
        quantize.ptq_int8(masked, [x], x)
    prune.make_permanent(masked)
    assert quantize.ptq_int8(masked.eval(), [x], x)(x).shape == (2, 4)
