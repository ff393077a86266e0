import math

import pytest
import torch
from torch import nn

from autonn.components import (
    ACTIVATIONS,
    INITIALIZERS,
    NORMAL_STD,
    OPTIMIZERS,
    UNIFORM_LIMIT,
    activation_gain,
    initialize,
    make_activation,
    make_optimizer,
)
from autonn.errors import ConfigError

X = torch.tensor([0.3706, -1.8396, 0.3385, -0.5086])
EXPECTED = {
    "relu": [0.3706, 0, 0.3385, 0],
    "sigmoid": [0.5916, 0.1371, 0.5838, 0.3755],
    "tanh": [0.3546, -0.9508, 0.3261, -0.4689],
    "softmax": [0.4011, 0.0440, 0.3884, 0.1665],
    "leaky_relu": [0.3706, -0.0184, 0.3385, -0.0051],
    # The issue lists 0.4703 for softplus(-0.5086); ln(1 + e^-0.5086) is 0.47084, so 0.4708 here.
    "softplus": [0.8955, 0.1474, 0.8766, 0.4708],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_activation_matches_reference_values(name):
    out = make_activation(name, 4)(X.unsqueeze(0))[0]  # (1, 4): one row of four features
    assert out.tolist() == pytest.approx(EXPECTED[name], abs=1e-4)  # 4 decimals, rounded inputs


def test_swish_and_gaussian_match_their_formulas():
    assert torch.allclose(make_activation("swish", 4)(X), X * torch.sigmoid(X))
    assert torch.allclose(make_activation("gaussian", 4)(X), torch.exp(-X ** 2))
    assert torch.equal(make_activation("identity", 4)(X), X)


def test_prelu_learns_one_slope_per_unit():
    act = make_activation("prelu", 4)
    assert act(X.unsqueeze(0))[0, 1].item() == pytest.approx(-1.8396 * 0.25, abs=1e-6)
    act(X.unsqueeze(0)).sum().backward()
    assert act.weight.grad is not None and act.weight.shape == (4,)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_passes_gradients(name):
    layer = nn.Sequential(nn.Linear(3, 4), make_activation(name, 4))
    layer(torch.randn(8, 3)).sum().backward()
    assert torch.isfinite(layer[0].weight.grad).all()
    assert activation_gain(name) > 0


def _init(name, activation="relu", shape=(400, 300)):
    torch.manual_seed(0)
    layer = nn.Linear(shape[1], shape[0])
    nn.init.constant_(layer.bias, 3.0)
    initialize(layer, name, activation)
    assert torch.count_nonzero(layer.bias) == 0
    return layer.weight.detach()


def test_uniform_and_normal_initializers():
    w = _init("uniform")
    assert w.abs().max() <= UNIFORM_LIMIT and w.std().item() == pytest.approx(UNIFORM_LIMIT / math.sqrt(3), rel=0.03)
    w = _init("normal")
    assert w.mean().abs() < 1e-3 and w.std().item() == pytest.approx(NORMAL_STD, rel=0.03)


def test_xavier_initializers():
    fan_in, fan_out = 300, 400
    bound = math.sqrt(6 / (fan_in + fan_out))
    w = _init("xavier_uniform")
    assert w.abs().max() <= bound and w.abs().max() > 0.98 * bound
    assert _init("xavier_normal").std().item() == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.03)


@pytest.mark.parametrize("activation,gain", [("relu", math.sqrt(2)), ("tanh", 5 / 3), ("identity", 1.0)])
def test_he_initializers_match_the_activation_gain(activation, gain):
    std = gain / math.sqrt(300)
    w = _init("he_uniform", activation)
    assert w.abs().max() <= std * math.sqrt(3) + 1e-7
    assert w.std().item() == pytest.approx(std, rel=0.03)
    assert _init("he_normal", activation).std().item() == pytest.approx(std, rel=0.03)


def test_orthogonal_gives_orthonormal_columns():
    w = _init("orthogonal", shape=(64, 32))
    assert torch.allclose(w.T @ w, torch.eye(32), atol=1e-5)


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_every_initializer_gives_finite_weights(name):
    assert torch.isfinite(_init(name, shape=(16, 8))).all()


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_reduces_a_quadratic(name):
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(10))
    lr = 1.0 if name == "adadelta" else 0.05
    opt = make_optimizer(name, [w], lr=lr)
    start = w.square().sum().item()
    for _ in range(20):
        opt.zero_grad()
        w.square().sum().backward()
        opt.step()
    assert w.square().sum().item() < start


def test_momentum_options_reach_torch():
    w = nn.Parameter(torch.zeros(2))
    opt = make_optimizer("momentum", [w], lr=0.1, weight_decay=0.01, momentum=0.8, nesterov=True)
    group = opt.param_groups[0]
    assert (group["momentum"], group["nesterov"], group["weight_decay"]) == (0.8, True, 0.01)
    assert make_optimizer("sgd", [w], lr=0.1).param_groups[0]["momentum"] == 0


def test_unknown_names_suggest_the_near_miss():
    with pytest.raises(ConfigError, match="unknown activation 'rleu'. Did you mean 'relu'"):
        make_activation("rleu", 3)
    with pytest.raises(ConfigError, match="unknown optimizer 'adamm'. Did you mean 'adam'"):
        make_optimizer("adamm", [nn.Parameter(torch.zeros(1))], lr=0.1)
