"""Parameter dict -> ``nn.Module``. Pure: no I/O, no Optuna."""

from __future__ import annotations

from torch import nn

from autonn.components import initialize, make_activation
from autonn.space import Params, layer_activations, layer_widths

NORM_LAYERS = {
    "none": None,
    "batch": nn.BatchNorm1d,
    "layer": nn.LayerNorm,
}


def build_mlp(params: Params, n_inputs: int, n_outputs: int) -> nn.Sequential:
    """Build the MLP ``params`` describe: [Linear -> norm -> activation -> dropout] * n -> Linear.

    Weights are initialised with ``params["init"]`` at the gain of the activation that follows
    each layer; biases start at zero. Call ``torch.manual_seed`` first for reproducible weights.
    """
    layers: list[nn.Module] = []
    width_in = n_inputs
    norm = NORM_LAYERS[params.get("norm", "none")]
    for width, act in zip(layer_widths(params), layer_activations(params)):
        linear = nn.Linear(width_in, width)
        initialize(linear, params["init"], act)
        layers.append(linear)
        if norm is not None:
            layers.append(norm(width))
        layers.append(make_activation(act, width))
        if params.get("dropout", 0.0) > 0:
            layers.append(nn.Dropout(params["dropout"]))
        width_in = width
    head = nn.Linear(width_in, n_outputs)
    initialize(head, params["init"], "identity")
    layers.append(head)
    return nn.Sequential(*layers)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
