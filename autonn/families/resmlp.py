"""resmlp: a linear stem to one ``width``, then ``n_layers`` pre-norm residual blocks of it
(x + dropout(act(linear(norm(x))))), optionally behind attention or numeric embeddings."""

from __future__ import annotations

from typing import Any

from autonn._lazy import nn
from autonn.components import initialize, make_activation, make_norm
from autonn.families.family import (
    FRONT_DIMENSIONS,
    Ask,
    Body,
    Family,
    describe_front,
    front,
    front_summary,
    sample_front,
)
from autonn.params import Params, layer_activations


def block_widths(params: Params) -> list[int]:
    """One width for every block (``width``; ``width_0`` in parameters written per layer)."""
    return [params.get("width", params.get("width_0"))] * int(params["n_layers"])


def sample(ask: Ask) -> Params:
    n = ask.value("n_layers")
    return {"n_layers": n, **ask.layers("width", n, separate=False), **sample_front(ask)}


def build(params: Params, n_inputs: int, input_shape: tuple[int, ...] | None,
          continuous: tuple[int, ...] | None = None) -> Body:
    from autonn.blocks import Residual  # blocks load torch: kept out of --help

    before, width_in = front(params, n_inputs, continuous)
    widths, acts = block_widths(params), layer_activations(params)
    stem = nn.Linear(width_in, widths[0])
    initialize(stem, params["init"], "identity")
    blocks = []
    for width, act in zip(widths, acts):
        block = Residual(width, make_norm(params.get("norm", "none"), width),
                         make_activation(act, width), params.get("dropout", 0.0))
        initialize(block.linear, params["init"], act)
        blocks.append(block)
    return [*before, stem, *blocks], widths[-1]


def describe(params: Params) -> dict[str, Any]:
    return {"residual_blocks": block_widths(params), **describe_front(params)}


def summary(params: Params) -> str:
    widths = block_widths(params)
    return f"{front_summary(params)}resmlp {len(widths)}x{widths[0]}"


FAMILY = Family("resmlp", "a linear stem, then residual blocks of one width",
                ("n_layers", "width", *FRONT_DIMENSIONS), sample, build, describe, summary,
                width_per_layer=False)
