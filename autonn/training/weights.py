"""Weights as tensors: one flat buffer for the optimizer, copies for files, transfer between nets.

``flatten_parameters`` makes every parameter a view of one buffer (the optimizer then steps one
tensor); ``state_tensors`` turns such views back into independent tensors a file format stores;
``transferable`` and ``load_matching`` start a new network from an exported one, layer by layer.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from autonn.errors import ConfigError


def flatten_parameters(model: nn.Module) -> nn.Parameter:
    """Make every trainable parameter of ``model`` a view of one flat buffer, gradients too.

    The optimizer then updates one tensor per step instead of one per layer: the same arithmetic
    (all registered optimizers are elementwise) with a fraction of the per-step overhead.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    grad = torch.zeros_like(flat)
    offset = 0
    for p in params:
        p.data = flat[offset:offset + p.numel()].view_as(p)
        p.grad = grad[offset:offset + p.numel()].view_as(p)
        offset += p.numel()
    flat_param = nn.Parameter(flat)
    flat_param.grad = grad
    return flat_param


def state_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """The module's state as independent contiguous CPU tensors (the training core makes all
    parameters views of one buffer, which file formats refuse to store)."""
    return {k: v.detach().cpu().clone().contiguous() for k, v in module.state_dict().items()}


def transferable(tensors: dict[str, Any], classes: list, new_classes: list) -> dict[str, Any]:
    """An exported model's network tensors to start from (``network.``; of an ensemble or a bag,
    its first member's, ``members.0.network.``); without its output layer when the classes
    differ (a new head is trained)."""
    for prefix in ("network.", "members.0.network."):
        network = {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}
        if network:
            break
    else:
        raise ConfigError("init_from: the model holds no network tensors; start from a "
                          "state_dict, TorchScript, ExportedProgram or MLflow export that autonn "
                          "wrote.")
    if list(classes) != list(new_classes):
        last = max(int(k.split(".")[0]) for k in network)
        network = {k: v for k, v in network.items() if not k.startswith(f"{last}.")}
    return network


def aligned_embedding(state: dict[str, Any], columns: list[int] | None,
                      continuous: tuple[int, ...], n_features: int) -> dict[str, Any]:
    """``state`` without its embedding (module 0) and the layer after it when the model embedded
    other ``columns`` (None: all ``n_features``) than the new rows' ``continuous`` ones: that
    layer's inputs are [embedded..., passed...], so its weights would sit on the wrong columns even
    where the shapes match."""
    if "0.frequencies" not in state:
        return state
    if tuple(range(n_features) if columns is None else columns) == tuple(continuous):
        return state
    warnings.warn("init_from: the model embeds other columns than these rows' continuous ones "
                  "(more than two values); its embedding and first layer start fresh.",
                  RuntimeWarning, stacklevel=2)
    return {k: v for k, v in state.items() if not k.startswith(("0.", "1."))}


def load_matching(model: Any, tensors: dict[str, Any]) -> int:
    """Copy each layer whose tensors all match ``model``'s in name and shape; returns how many
    tensors were copied (a layer of another shape keeps its fresh weights, bias included)."""
    own = model.state_dict()
    layer = lambda name: name.rpartition(".")[0]  # noqa: E731
    misfits = {layer(k) for k, v in tensors.items() if k not in own or own[k].shape != v.shape}
    matched = {k: v for k, v in tensors.items() if layer(k) not in misfits}
    model.load_state_dict(matched, strict=False)
    return len(matched)
