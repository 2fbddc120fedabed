import pytest
import torch

from labkit.models import MLP, SmallCNN, build_model, describe, model_name, parameter_count
from labkit.validate import ConfigError


def test_mlp_shapes_and_parameter_count():
    m = MLP(in_features=64, hidden=(32, 16), classes=10)
    assert m(torch.randn(5, 64)).shape == (5, 10)
    # (64*32 + 32) + (32*16 + 16) + (16*10 + 10)
    assert parameter_count(m) == 2080 + 528 + 170
    assert "2,778 parameters" in describe(m)


def test_mlp_dropout_and_activation_are_honoured():
    m = MLP(hidden=(8,), activation="tanh", dropout=0.5)
    kinds = [type(layer).__name__ for layer in m.net]
    assert kinds == ["Linear", "Tanh", "Dropout", "Linear"]
    with pytest.raises(ConfigError, match="activation must be one of 'relu', 'gelu'"):
        MLP(activation="swish")


def test_cnn_takes_rows_or_images():
    m = SmallCNN()
    rows = torch.randn(3, 64)
    assert m(rows).shape == (3, 10)
    assert torch.equal(m(rows), m(rows.reshape(3, 1, 8, 8)))
    with pytest.raises(ConfigError, match="image_size must be even"):
        SmallCNN(image_size=7)


def test_build_model_by_name_and_back():
    assert isinstance(build_model("mlp", hidden=(4,)), MLP)
    assert model_name(build_model("cnn")) == "cnn"
    with pytest.raises(ConfigError, match="model must be one of 'mlp', 'cnn', 'gpt'; got 'resnet'"):
        build_model("resnet")
    with pytest.raises(TypeError, match="not a labkit model"):
        model_name(torch.nn.Linear(2, 2))


def test_trainable_only_counts_unfrozen():
    m = MLP(in_features=4, hidden=(3,), classes=2)
    m.net[0].requires_grad_(False)
    assert parameter_count(m, trainable_only=True) == parameter_count(m) - (4 * 3 + 3)


def test_wrong_inputs_get_errors_that_say_what_is_expected():
    with pytest.raises(ConfigError, match=r"hidden must be a tuple of layer widths.*\(128,\)"):
        MLP(hidden=128)
    with pytest.raises(ConfigError, match="channels must be two widths"):
        SmallCNN(channels=16)
    # 64 rows of 32 values used to come back as 32 rows of predictions
    with pytest.raises(ValueError, match=r"SmallCNN takes .* rows of 64 features.*\(64, 32\)"):
        SmallCNN()(torch.randn(64, 32))
    with pytest.raises(ValueError, match=r"MLP takes a batch of rows of 64 features.*\(5, 63\)"):
        MLP()(torch.randn(5, 63))
    with pytest.raises(ValueError, match=r"shape \(64,\)"):
        MLP()(torch.randn(64))
