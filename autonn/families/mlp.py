"""mlp: [Linear -> norm -> activation -> dropout] * n_layers, one width per layer (or one for
all), optionally behind a feature self-attention block."""

from __future__ import annotations

from typing import Any

from autonn.families.family import (
    ATTENTION_DIMENSIONS,
    Ask,
    Body,
    Family,
    attention_front,
    attention_summary,
    dense_layers,
    describe_attention,
    sample_attention,
    widths_text,
)
from autonn.params import Params, layer_widths


def sample(ask: Ask) -> Params:
    n = ask.value("n_layers")
    return {"n_layers": n, **ask.layers("width", n, ask.space.per_layer_width),
            **sample_attention(ask)}


def build(params: Params, n_inputs: int, input_shape: tuple[int, ...] | None) -> Body:
    front, width = attention_front(params, n_inputs)
    layers, width = dense_layers(params, width)
    return front + layers, width


def describe(params: Params) -> dict[str, Any]:
    return {"hidden": layer_widths(params), **describe_attention(params)}


def summary(params: Params) -> str:
    return attention_summary(params) + widths_text(params)


FAMILY = Family("mlp", "dense layers, one width each", ("n_layers", "width", *ATTENTION_DIMENSIONS),
                sample, build, describe, summary)
