"""Name -> builder registries for activations, weight initializers and optimizers.

Every name a config, the search space or the command line accepts is a key here; adding an entry
is all it takes for the rest of autonn to offer it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from autonn.errors import ConfigError, unknown_name


class Gaussian(nn.Module):
    """exp(-x^2): a radial-basis activation that peaks at zero."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-x.square())


@dataclass(frozen=True)
class Activation:
    """How to build an activation and which init gain suits it."""

    build: Callable[[int], nn.Module]  # width -> module (PReLU learns one slope per unit)
    gain: str  # name for torch.nn.init.calculate_gain
    gain_param: float | None = None


LEAKY_SLOPE = 0.01
PRELU_INIT = 0.25

ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(lambda w: nn.ReLU(), "relu"),
    "sigmoid": Activation(lambda w: nn.Sigmoid(), "sigmoid"),
    "tanh": Activation(lambda w: nn.Tanh(), "tanh"),
    "softmax": Activation(lambda w: nn.Softmax(dim=-1), "linear"),
    "leaky_relu": Activation(lambda w: nn.LeakyReLU(LEAKY_SLOPE), "leaky_relu", LEAKY_SLOPE),
    "prelu": Activation(lambda w: nn.PReLU(w, init=PRELU_INIT), "leaky_relu", PRELU_INIT),
    "swish": Activation(lambda w: nn.SiLU(), "relu"),
    "softplus": Activation(lambda w: nn.Softplus(), "relu"),
    "gaussian": Activation(lambda w: Gaussian(), "linear"),
    "identity": Activation(lambda w: nn.Identity(), "linear"),
}


def make_activation(name: str, width: int) -> nn.Module:
    """Build the activation ``name`` for a layer of ``width`` units."""
    return lookup(ACTIVATIONS, "activation", name).build(width)


def activation_gain(name: str) -> float:
    """The variance-preserving gain for weights feeding activation ``name``."""
    act = lookup(ACTIVATIONS, "activation", name)
    return nn.init.calculate_gain(act.gain, act.gain_param)


# --- initializers: (weight, gain) -> None, in place. Biases always start at zero. ----------------
UNIFORM_LIMIT = 0.05  # uniform(-a, a), as Keras' RandomUniform
NORMAL_STD = 0.05  # normal(0, sigma), as Keras' RandomNormal


def _he_uniform(w: torch.Tensor, gain: float) -> None:
    bound = gain * math.sqrt(3.0 / w.shape[1])
    nn.init.uniform_(w, -bound, bound)


def _he_normal(w: torch.Tensor, gain: float) -> None:
    nn.init.normal_(w, 0.0, gain / math.sqrt(w.shape[1]))


INITIALIZERS: dict[str, Callable[[torch.Tensor, float], None]] = {
    "uniform": lambda w, gain: nn.init.uniform_(w, -UNIFORM_LIMIT, UNIFORM_LIMIT),
    "normal": lambda w, gain: nn.init.normal_(w, 0.0, NORMAL_STD),
    "xavier_uniform": lambda w, gain: nn.init.xavier_uniform_(w),
    "xavier_normal": lambda w, gain: nn.init.xavier_normal_(w),
    "he_uniform": _he_uniform,
    "he_normal": _he_normal,
    "orthogonal": lambda w, gain: nn.init.orthogonal_(w),
}


def initialize(layer: nn.Linear, init: str, activation: str) -> None:
    """Initialise ``layer``'s weight with ``init`` (gain from ``activation``) and zero its bias."""
    fn = lookup(INITIALIZERS, "initializer", init)
    with torch.no_grad():
        fn(layer.weight, activation_gain(activation))
        if layer.bias is not None:
            layer.bias.zero_()


# --- optimizers ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class OptimizerSpec:
    """A torch optimizer class, its fixed settings, and which options a config may pass."""

    cls: type[torch.optim.Optimizer]
    settings: dict = field(default_factory=dict)
    options: tuple[str, ...] = ()  # e.g. momentum, nesterov
    fused: bool = False  # has a fused kernel on CPU and CUDA


OPTIMIZERS: dict[str, OptimizerSpec] = {
    "sgd": OptimizerSpec(torch.optim.SGD, fused=True),
    "momentum": OptimizerSpec(torch.optim.SGD, {"momentum": 0.9}, ("momentum", "nesterov"), True),
    "adagrad": OptimizerSpec(torch.optim.Adagrad, fused=True),
    "adadelta": OptimizerSpec(torch.optim.Adadelta),
    "rmsprop": OptimizerSpec(torch.optim.RMSprop),
    "adam": OptimizerSpec(torch.optim.Adam, fused=True),
    "adamax": OptimizerSpec(torch.optim.Adamax),
    "adamw": OptimizerSpec(torch.optim.AdamW, fused=True),
}


def make_optimizer(name: str, params: Iterable[torch.Tensor], lr: float, weight_decay: float = 0.0,
                   **options: object) -> torch.optim.Optimizer:
    """Build optimizer ``name``; ``options`` (momentum, nesterov) reach those that take them."""
    spec = lookup(OPTIMIZERS, "optimizer", name)
    params = list(params)
    kwargs = {**spec.settings, **{k: v for k, v in options.items() if k in spec.options}}
    if spec.fused and all(p.device.type in ("cpu", "cuda") for p in params):
        kwargs["fused"] = True
    return spec.cls(params, lr=lr, weight_decay=weight_decay, **kwargs)


def lookup(registry: dict, kind: str, name: str):
    """Fetch ``registry[name]`` or raise a ConfigError listing the valid names."""
    try:
        return registry[name]
    except (KeyError, TypeError):
        raise ConfigError(unknown_name(kind, name, registry)) from None
