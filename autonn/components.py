"""Name -> builder registries for activations, weight initializers, norms, pooling and optimizers.

Every name a config, the search space or the command line accepts is a key here; adding an entry
is all it takes for the rest of autonn to offer it. torch is imported on first use (``_lazy``), so
the config and ``autonn --help`` read these names without loading it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from autonn._lazy import nn, torch
from autonn.errors import lookup

if TYPE_CHECKING:
    import torch as torch_types


@dataclass(frozen=True)
class Activation:
    """How to build an activation and which init gain suits it."""

    build: Callable[[int], Any]  # width -> nn.Module (PReLU learns one slope per unit)
    gain: str  # name for torch.nn.init.calculate_gain
    gain_param: float | None = None


LEAKY_SLOPE = 0.01
PRELU_INIT = 0.25


def _gaussian(width: int) -> Any:
    from autonn.blocks import Gaussian  # an nn.Module: torch loads on first use

    return Gaussian()


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(lambda w: nn.ReLU(), "relu"),
    "sigmoid": Activation(lambda w: nn.Sigmoid(), "sigmoid"),
    "tanh": Activation(lambda w: nn.Tanh(), "tanh"),
    "softmax": Activation(lambda w: nn.Softmax(dim=-1), "linear"),
    "leaky_relu": Activation(lambda w: nn.LeakyReLU(LEAKY_SLOPE), "leaky_relu", LEAKY_SLOPE),
    "prelu": Activation(lambda w: nn.PReLU(w, init=PRELU_INIT), "leaky_relu", PRELU_INIT),
    "swish": Activation(lambda w: nn.SiLU(), "relu"),
    "softplus": Activation(lambda w: nn.Softplus(), "relu"),
    "gaussian": Activation(_gaussian, "linear"),  # exp(-x^2)
    "identity": Activation(lambda w: nn.Identity(), "linear"),
}


def make_activation(name: str, width: int) -> Any:
    """Build the activation ``name`` for a layer of ``width`` units."""
    return lookup(ACTIVATIONS, "activation", name).build(width)


def activation_gain(name: str) -> float:
    """The variance-preserving gain for weights feeding activation ``name``."""
    act = lookup(ACTIVATIONS, "activation", name)
    return nn.init.calculate_gain(act.gain, act.gain_param)


# --- initializers: (weight, gain) -> None, in place. Biases always start at zero. ----------------
UNIFORM_LIMIT = 0.05  # uniform(-a, a), as Keras' RandomUniform
NORMAL_STD = 0.05  # normal(0, sigma), as Keras' RandomNormal


def _he_uniform(w: torch_types.Tensor, gain: float) -> None:
    bound = gain * math.sqrt(3.0 / w.shape[1])
    nn.init.uniform_(w, -bound, bound)


def _he_normal(w: torch_types.Tensor, gain: float) -> None:
    nn.init.normal_(w, 0.0, gain / math.sqrt(w.shape[1]))


INITIALIZERS: dict[str, Callable[[Any, float], None]] = {
    "uniform": lambda w, gain: nn.init.uniform_(w, -UNIFORM_LIMIT, UNIFORM_LIMIT),
    "normal": lambda w, gain: nn.init.normal_(w, 0.0, NORMAL_STD),
    "xavier_uniform": lambda w, gain: nn.init.xavier_uniform_(w),
    "xavier_normal": lambda w, gain: nn.init.xavier_normal_(w),
    "he_uniform": _he_uniform,
    "he_normal": _he_normal,
    "orthogonal": lambda w, gain: nn.init.orthogonal_(w),
}


def initialize(layer: Any, init: str, activation: str) -> None:
    """Initialise ``layer``'s weight with ``init`` (gain from ``activation``) and zero its bias."""
    fn = lookup(INITIALIZERS, "initializer", init)
    with torch.no_grad():
        fn(layer.weight, activation_gain(activation))
        if layer.bias is not None:
            layer.bias.zero_()


# --- norms and pooling: (channels or features, spatial dims) -> module ---------------------------
# dims 0: a dense layer's features; 1 or 2: a conv block's channels over a signal or an image.
NORMS: dict[str, Callable[[int, int], Any]] = {
    "none": lambda width, dims: nn.Identity(),
    "batch": lambda width, dims: (nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d)(width),
    "layer": lambda width, dims: nn.LayerNorm(width) if dims == 0 else nn.GroupNorm(1, width),
}

POOLS: dict[str, Callable[[int], Any]] = {  # pooling by 2
    "max": lambda dims: (nn.MaxPool1d if dims == 1 else nn.MaxPool2d)(2),
    "avg": lambda dims: (nn.AvgPool1d if dims == 1 else nn.AvgPool2d)(2),
    "none": lambda dims: None,
}


def _periodic(relu: bool) -> Callable[[int, int, float, list[int] | None], Any]:
    def build(n_features: int, dim: int, scale: float, columns: list[int] | None) -> Any:
        from autonn.blocks import PeriodicEmbedding  # an nn.Module: torch loads on first use

        return PeriodicEmbedding(n_features, dim, scale, relu, columns)
    return build


# Numeric-feature embeddings: (features, width per feature, frequency scale, embedded columns or
# None for all) -> module, or None.
EMBEDDINGS: dict[str, Callable[[int, int, float, list[int] | None], Any] | None] = {
    "none": None,
    "periodic": _periodic(relu=False),  # PL: periodic, then linear
    "plr": _periodic(relu=True),  # PLR: periodic, linear, ReLU
}


def make_norm(name: str, width: int, dims: int = 0) -> Any:
    """The normalisation ``name`` over ``width`` features (dims 0) or channels (dims 1, 2)."""
    return lookup(NORMS, "norm", name)(width, dims)


# --- optimizers ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class OptimizerSpec:
    """A torch.optim class (by name), its fixed settings, and which options the space samples."""

    torch_name: str  # an attribute of torch.optim
    settings: dict = field(default_factory=dict)
    options: tuple[str, ...] = ()  # space dimensions passed on, e.g. momentum, nesterov
    fused_on: tuple[str, ...] = ()  # device types with a fused kernel (Adagrad's is CPU-only)


OPTIMIZERS: dict[str, OptimizerSpec] = {
    "sgd": OptimizerSpec("SGD", fused_on=("cpu", "cuda")),
    "momentum": OptimizerSpec("SGD", {"momentum": 0.9}, ("momentum", "nesterov"), fused_on=("cpu", "cuda")),
    "adagrad": OptimizerSpec("Adagrad", fused_on=("cpu",)),
    "adadelta": OptimizerSpec("Adadelta"),
    "rmsprop": OptimizerSpec("RMSprop"),
    "adam": OptimizerSpec("Adam", fused_on=("cpu", "cuda")),
    "adamax": OptimizerSpec("Adamax"),
    "adamw": OptimizerSpec("AdamW", fused_on=("cpu", "cuda")),
}


def make_optimizer(name: str, params: Iterable[Any], lr: float, weight_decay: float = 0.0,
                   **options: object) -> Any:
    """Build optimizer ``name``; ``options`` (momentum, nesterov) reach those that take them."""
    spec = lookup(OPTIMIZERS, "optimizer", name)
    params = list(params)
    kwargs = {**spec.settings, **{k: v for k, v in options.items() if k in spec.options}}
    if params and all(p.device.type in spec.fused_on for p in params):
        kwargs["fused"] = True
    return getattr(torch.optim, spec.torch_name)(params, lr=lr, weight_decay=weight_decay, **kwargs)
