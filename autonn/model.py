"""Parameter dict -> ``nn.Module``. Pure: no I/O, no Optuna.

Families (``params["family"]``): ``mlp`` ([Linear -> norm -> activation -> dropout] * n),
``resmlp`` (a linear stem, then n residual blocks of one width) and ``cnn`` (conv blocks over the
features read as an image or signal of ``input_shape``, then the MLP layers as a dense head).
``params["attention"]`` puts a feature self-attention block in front of an mlp or resmlp body.
"""

from __future__ import annotations

import math

from torch import nn

from autonn.blocks import ConvBlock, FeatureAttention, Reshape, Residual, norm_layer
from autonn.components import initialize, make_activation
from autonn.space import Params, conv_channels, layer_activations, layer_widths

def build_model(params: Params, n_inputs: int, n_outputs: int,
                input_shape: tuple[int, ...] | None = None) -> nn.Sequential:
    """Build the network ``params`` describe, for ``n_inputs`` features and ``n_outputs`` outputs.

    Weights are initialised with ``params["init"]`` at the gain of the activation that follows
    each layer; biases start at zero. Call ``torch.manual_seed`` first for reproducible weights.
    """
    family = params.get("family", "mlp")
    layers: list[nn.Module] = []
    width_in = n_inputs
    if family == "cnn":
        stem, width_in = _conv_stem(params, n_inputs, input_shape)
        layers += stem
    elif params.get("attention"):
        dim = int(params["attention_dim"])
        layers.append(FeatureAttention(n_inputs, dim, int(params["attention_heads"]),
                                       layer_activations(params)[0], params["init"],
                                       params.get("dropout", 0.0)))
        width_in = dim
    body = _residual_body if family == "resmlp" else _dense_layers
    layers += body(params, width_in)
    widths = layer_widths(params)
    head = nn.Linear(widths[-1] if widths else width_in, n_outputs)
    initialize(head, params["init"], "identity")
    layers.append(head)
    return nn.Sequential(*layers)


def _dense_layers(params: Params, width_in: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    norm = params.get("norm", "none")
    for width, act in zip(layer_widths(params), layer_activations(params)):
        linear = nn.Linear(width_in, width)
        initialize(linear, params["init"], act)
        layers.append(linear)
        if norm != "none":
            layers.append(norm_layer(norm, width))
        layers.append(make_activation(act, width))
        if params.get("dropout", 0.0) > 0:
            layers.append(nn.Dropout(params["dropout"]))
        width_in = width
    return layers


def _residual_body(params: Params, width_in: int) -> list[nn.Module]:
    widths, acts = layer_widths(params), layer_activations(params)
    stem = nn.Linear(width_in, widths[0])
    initialize(stem, params["init"], "identity")
    blocks = [Residual(width, act, params["init"], params.get("norm", "none"),
                       params.get("dropout", 0.0)) for width, act in zip(widths, acts)]
    return [stem, *blocks]


def _conv_stem(params: Params, n_inputs: int, input_shape: tuple[int, ...] | None
               ) -> tuple[list[nn.Module], int]:
    if not input_shape or math.prod(input_shape) != n_inputs or len(input_shape) not in (2, 3):
        raise ValueError(f"the cnn family needs an input_shape (C, L) or (C, H, W) of "
                         f"{n_inputs} values; got {input_shape}")
    channels, spatial = input_shape[0], list(input_shape[1:])
    layers: list[nn.Module] = [Reshape(tuple(input_shape))]
    act = layer_activations(params)[0] if layer_activations(params) else params["activation"]
    for out in conv_channels(params):
        pool = params["pool"] if min(spatial) >= 2 else "none"
        layers.append(ConvBlock(len(spatial), channels, out, int(params["kernel_size"]), act,
                                params["init"], params.get("norm", "none"), pool))
        channels = int(out)
        if pool != "none":
            spatial = [s // 2 for s in spatial]
    layers.append(nn.Flatten())
    return layers, channels * math.prod(spatial)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
