"""The one place that calls ``trial.suggest_*``: a SpaceConfig becomes a flat parameter dict.

The same function samples during a search and replays a finished trial (through Optuna's
``FixedTrial``), so an exported or warm-started model is built by exactly the code that built it
in the search. Fixed dimensions are suggested as one-choice categoricals so that every parameter
is recorded in the trial.
"""

from __future__ import annotations

from typing import Any

from autonn.config import Number, Range, SpaceConfig

Params = dict[str, Any]
INTEGER_DIMENSIONS = ("n_layers", "width", "batch_size", "epochs", "conv_blocks", "channels",
                      "kernel_size", "attention_dim", "attention_heads")


def suggest(trial: Any, space: SpaceConfig) -> Params:
    """Sample one architecture and training setting from ``space`` (losses and family resolved).

    ``n_layers`` counts dense layers (mlp, and cnn's head) or residual blocks (resmlp, whose
    blocks share one ``width``).
    """
    trial = _Fixing(trial, space.fixed)
    p: Params = {"family": _choice(trial, "family", space.family)}
    p["n_layers"] = _number(trial, "n_layers", space.n_layers, integer=True)
    per_layer = space.per_layer_width and p["family"] != "resmlp"
    widths = [f"width_{i}" for i in range(p["n_layers"])] if per_layer else ["width"]
    for name in widths:
        p[name] = _number(trial, name, space.width, integer=True)
    if p["family"] == "cnn":
        p["conv_blocks"] = _number(trial, "conv_blocks", space.conv_blocks, integer=True)
        channels = ([f"channels_{i}" for i in range(p["conv_blocks"])] if space.per_layer_width
                    else ["channels"])
        for name in channels:
            p[name] = _number(trial, name, space.channels, integer=True)
        p["kernel_size"] = _number(trial, "kernel_size", space.kernel_size, integer=True)
        p["pool"] = _choice(trial, "pool", space.pool)
    else:
        p["attention"] = _choice(trial, "attention", space.attention)
        if p["attention"]:
            p["attention_dim"] = _number(trial, "attention_dim", space.attention_dim, integer=True)
            p["attention_heads"] = _number(trial, "attention_heads", space.attention_heads,
                                           integer=True)
    acts = ([f"activation_{i}" for i in range(p["n_layers"])] if space.per_layer_activation
            else ["activation"])
    for name in acts:
        p[name] = _choice(trial, name, space.activation)
    for name in ("init", "norm", "loss", "optimizer"):
        p[name] = _choice(trial, name, getattr(space, name))
    p["dropout"] = _number(trial, "dropout", space.dropout)
    p["lr"] = _number(trial, "lr", space.lr)
    p["weight_decay"] = _number(trial, "weight_decay", space.weight_decay)
    if p["optimizer"] == "momentum":
        p["momentum"] = _number(trial, "momentum", space.momentum)
        p["nesterov"] = _choice(trial, "nesterov", space.nesterov)
    p["batch_size"] = _number(trial, "batch_size", space.batch_size, integer=True)
    p["epochs"] = _number(trial, "epochs", space.epochs, integer=True)
    return p


class _Fixing:
    """A trial whose ``fixed`` parameters are suggested as one-value choices, so they are
    recorded with the trial and replayed like any other."""

    def __init__(self, trial: Any, fixed: dict[str, Any]) -> None:
        self.trial, self.fixed = trial, fixed

    def suggest_categorical(self, name: str, choices: list) -> Any:
        return self.trial.suggest_categorical(name, [self.fixed[name]] if name in self.fixed
                                              else choices)

    def suggest_int(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if name in self.fixed:
            return self.trial.suggest_categorical(name, [self.fixed[name]])
        return self.trial.suggest_int(name, *args, **kwargs)

    def suggest_float(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if name in self.fixed:
            return self.trial.suggest_categorical(name, [self.fixed[name]])
        return self.trial.suggest_float(name, *args, **kwargs)


def _choice(trial: Any, name: str, value: Any) -> Any:
    return trial.suggest_categorical(name, value if isinstance(value, list) else [value])


def _number(trial: Any, name: str, value: Number, integer: bool = False) -> Any:
    if isinstance(value, Range):
        if integer:
            step = int(value.step or 1)
            return trial.suggest_int(name, int(value.low), int(value.high), step=step, log=value.log)
        return trial.suggest_float(name, value.low, value.high, step=value.step, log=value.log)
    choices = value if isinstance(value, list) else [value]
    return trial.suggest_categorical(name, [int(v) if integer else float(v) for v in choices])


def layer_widths(params: Params) -> list[int]:
    """The hidden layer widths a parameter dict describes (resmlp: one width for every block)."""
    n = params["n_layers"]
    if params.get("family") == "resmlp":
        return [params.get("width", params.get("width_0"))] * n
    return [params.get(f"width_{i}", params.get("width")) for i in range(n)]


def layer_activations(params: Params) -> list[str]:
    """The activation of each hidden layer."""
    n = params["n_layers"]
    return [params.get(f"activation_{i}", params.get("activation")) for i in range(n)]


def conv_channels(params: Params) -> list[int]:
    """The channels of each conv block (cnn family)."""
    n = int(params.get("conv_blocks", 0))
    return [params.get(f"channels_{i}", params.get("channels")) for i in range(n)]


def describe(space: SpaceConfig) -> dict[str, Any]:
    """A JSON-ready description of each dimension: a fixed value, choices or a range."""
    out: dict[str, Any] = {}
    for name, value in space:
        cast = int if name in INTEGER_DIMENSIONS else (lambda v: v)
        if isinstance(value, Range):
            out[name] = {"type": "int" if name in INTEGER_DIMENSIONS else "float",
                         "low": cast(value.low), "high": cast(value.high), "log": value.log}
            if value.step is not None:
                out[name]["step"] = cast(value.step)
        elif isinstance(value, list):
            out[name] = {"type": "choice", "choices": [cast(v) for v in value]}
        else:
            out[name] = {"type": "fixed", "value": cast(value)}
    return out
