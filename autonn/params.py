"""A trial's parameters: one flat dict of primitive values, and how to read it.

Optuna stores choices as primitive names, so a network is described by flat keys: ``n_layers``,
one width per layer (``width_0``, ``width_1``, ...) or one ``width`` shared by every layer,
``activation`` or ``activation_0``..., ``conv_blocks`` with ``channels_0``..., then the
training settings (``optimizer``, ``lr``, ...). Every reader of parameters (the model builders,
reports, warm starts) goes through the helpers here.
"""

from __future__ import annotations

from typing import Any

Params = dict[str, Any]

# A per-layer dimension -> the parameter that counts its layers.
PER_LAYER = {"width": "n_layers", "activation": "n_layers", "channels": "conv_blocks"}


def dimension(name: str) -> str:
    """The space dimension a parameter belongs to: ``width_2`` -> ``width``."""
    base, _, index = name.rpartition("_")
    return base if index.isdigit() and base in PER_LAYER else name


def per_layer(params: Params, dim: str) -> list[Any]:
    """The value of ``dim`` for each of its layers (``dim_i``, else the shared ``dim``)."""
    count = int(params.get(PER_LAYER[dim], 0))
    return [params.get(f"{dim}_{i}", params.get(dim)) for i in range(count)]


def layer_widths(params: Params) -> list[int]:
    """The width of each hidden dense layer (or residual block)."""
    return per_layer(params, "width")


def layer_activations(params: Params) -> list[str]:
    """The activation of each hidden layer."""
    return per_layer(params, "activation")


def first_activation(params: Params) -> str:
    """The activation of the first hidden layer (also when there are no dense layers)."""
    return params.get("activation_0", params.get("activation"))


def conv_channels(params: Params) -> list[int]:
    """The channels of each conv block (cnn family)."""
    return per_layer(params, "channels")
