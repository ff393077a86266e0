"""mlp: [Linear -> norm -> activation -> dropout] * n_layers, one width per layer (or one for
all), optionally behind a feature self-attention block or numeric-feature embeddings."""

from __future__ import annotations

from typing import Any

from autonn.families.family import (
    FRONT_DIMENSIONS,
    Ask,
    Body,
    Family,
    dense_layers,
    describe_front,
    front,
    front_summary,
    sample_front,
    widths_text,
)
from autonn.params import Params, layer_widths


def sample(ask: Ask) -> Params:
    n = ask.value("n_layers")
    return {"n_layers": n, **ask.layers("width", n, ask.space.per_layer_width),
            **sample_front(ask)}


def build(params: Params, n_inputs: int, input_shape: tuple[int, ...] | None,
          continuous: tuple[int, ...] | None = None) -> Body:
    before, width = front(params, n_inputs, continuous)
    layers, width = dense_layers(params, width)
    return before + layers, width


def describe(params: Params) -> dict[str, Any]:
    return {"hidden": layer_widths(params), **describe_front(params)}


def summary(params: Params) -> str:
    return front_summary(params) + widths_text(params)


FAMILY = Family("mlp", "dense layers, one width each", ("n_layers", "width", *FRONT_DIMENSIONS),
                sample, build, describe, summary, batchable=True)
