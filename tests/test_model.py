import torch
from torch import nn

from autonn.families.builder import build_model
from autonn.measures import count_parameters

BASE = {"n_layers": 2, "width_0": 8, "width_1": 6, "activation": "relu", "init": "he_uniform"}


def test_architecture_follows_the_parameters():
    model = build_model({**BASE, "norm": "batch", "dropout": 0.1}, 5, 3)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Dropout",
                     "Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear"]
    assert model(torch.randn(4, 5)).shape == (4, 3)


def test_parameter_count():
    model = build_model(BASE, 5, 3)
    assert count_parameters(model) == (5 * 8 + 8) + (8 * 6 + 6) + (6 * 3 + 3)


def test_per_layer_activations_and_layer_norm():
    params = {**BASE, "activation_0": "tanh", "activation_1": "prelu", "norm": "layer"}
    del params["activation"]
    model = build_model(params, 5, 2)
    assert [type(m) for m in model][1:3] == [nn.LayerNorm, nn.Tanh]
    assert isinstance(model[5], nn.PReLU) and model[5].weight.shape == (6,)


def test_biases_start_at_zero_and_seed_fixes_weights():
    torch.manual_seed(3)
    a = build_model(BASE, 5, 3)
    torch.manual_seed(3)
    b = build_model(BASE, 5, 3)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert all(torch.count_nonzero(m.bias) == 0 for m in a if isinstance(m, nn.Linear))


def test_shared_width():
    model = build_model({"n_layers": 3, "width": 7, "activation": "swish", "init": "orthogonal"}, 4, 1)
    assert [m.out_features for m in model if isinstance(m, nn.Linear)] == [7, 7, 7, 1]
