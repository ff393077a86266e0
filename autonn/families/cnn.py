"""cnn: rows read as images or signals of ``input_shape`` ((C, H, W) or (C, L)), ``conv_blocks``
of conv (same padding) -> norm -> activation -> pooling by 2 (while the size allows), flattened
into the mlp's dense layers as a head."""

from __future__ import annotations

import math
from typing import Any

from autonn._lazy import nn
from autonn.components import POOLS, initialize, make_activation, make_norm
from autonn.families.family import Ask, Body, Family, dense_layers, widths_text
from autonn.params import Params, conv_channels, first_activation, layer_widths


def sample(ask: Ask) -> Params:
    n = ask.value("n_layers")
    p = {"n_layers": n, **ask.layers("width", n, ask.space.per_layer_width)}
    p["conv_blocks"] = blocks = ask.value("conv_blocks")
    p.update(ask.layers("channels", blocks, ask.space.per_layer_width))
    p["kernel_size"] = ask.value("kernel_size")
    p["pool"] = ask.value("pool")
    return p


def build(params: Params, n_inputs: int, input_shape: tuple[int, ...] | None,
          continuous: tuple[int, ...] | None = None) -> Body:
    if not input_shape or math.prod(input_shape) != n_inputs or len(input_shape) not in (2, 3):
        raise ValueError(f"the cnn family needs an input_shape (C, L) or (C, H, W) of "
                         f"{n_inputs} values; got {input_shape}")
    from autonn.blocks import Reshape  # blocks load torch: kept out of --help

    channels, spatial = input_shape[0], list(input_shape[1:])
    layers: list[Any] = [Reshape(tuple(input_shape))]
    for out in conv_channels(params):
        pool = params["pool"] if min(spatial) >= 2 else "none"
        layers.append(_conv_block(params, len(spatial), channels, int(out), pool))
        channels = int(out)
        if pool != "none":
            spatial = [s // 2 for s in spatial]  # (C, H, W) -> (C', H/2, W/2)
    layers.append(nn.Flatten())
    head, width = dense_layers(params, channels * math.prod(spatial))
    return layers + head, width


def _conv_block(params: Params, dims: int, c_in: int, c_out: int, pool: str) -> Any:
    from autonn.blocks import ConvBlock  # blocks load torch: kept out of --help

    kernel, act = int(params["kernel_size"]), first_activation(params)
    conv = (nn.Conv1d if dims == 1 else nn.Conv2d)(c_in, c_out, kernel, padding=kernel // 2)
    initialize(conv, params["init"], act)
    return ConvBlock(conv, make_norm(params.get("norm", "none"), c_out, dims),
                     make_activation(act, c_out), POOLS[pool](dims))


def describe(params: Params) -> dict[str, Any]:
    return {"hidden": layer_widths(params),
            "conv": {"channels": conv_channels(params), "kernel_size": params.get("kernel_size"),
                     "pool": params.get("pool")}}


def summary(params: Params) -> str:
    channels = "-".join(str(c) for c in conv_channels(params))
    return f"cnn c{channels}k{params.get('kernel_size')} {widths_text(params)}"


FAMILY = Family("cnn", "conv blocks over rows read as images or signals, then dense layers",
                ("n_layers", "width", "conv_blocks", "channels", "kernel_size", "pool"),
                sample, build, describe, summary, needs_shape=True)
