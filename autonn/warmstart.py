"""Starting from what worked: built-in architectures, earlier studies' best trials, and weights.

Every starting point is a parameter dict fitted to the current space before it is enqueued: a
value the space does not allow is dropped (the sampler fills it in), a number outside its range is
clipped into it, and widths are rescaled to the new input size. Optuna runs enqueued trials first.
"""

from __future__ import annotations

import math
from typing import Any

import optuna

from autonn.config import Range, SpaceConfig
from autonn.errors import StudyError

# Architectures that do well across tabular tasks: the usual first guesses (two-layer ReLU MLP
# with batch norm and Adam at 1e-3, a wider Swish/LayerNorm net with AdamW, a residual MLP, and a
# small tanh net with a larger learning rate for small datasets).
BUILTIN: list[dict[str, Any]] = [
    {"family": "mlp", "n_layers": 2, "width_0": 128, "width_1": 64, "activation": "relu",
     "norm": "batch", "dropout": 0.1, "init": "he_uniform", "optimizer": "adam", "lr": 1e-3,
     "batch_size": 64},
    {"family": "mlp", "n_layers": 3, "width_0": 256, "width_1": 128, "width_2": 64,
     "activation": "swish", "norm": "layer", "dropout": 0.2, "init": "he_normal",
     "optimizer": "adamw", "lr": 3e-3, "batch_size": 128},
    {"family": "resmlp", "n_layers": 2, "width": 128, "activation": "relu", "norm": "batch",
     "dropout": 0.1, "init": "he_uniform", "optimizer": "adamw", "lr": 1e-3, "batch_size": 64},
    {"family": "mlp", "n_layers": 1, "width_0": 64, "activation": "tanh", "norm": "none",
     "dropout": 0.0, "init": "xavier_uniform", "optimizer": "adam", "lr": 1e-2, "batch_size": 32},
]
WARM_TRIALS = 3  # best trials taken from each earlier study
SCALED = ("width", "channels")  # dimensions rescaled to the new input size
# Architecture parameters, which --init-from fixes to the model's own.
ARCHITECTURE = ("family", "n_layers", "width", "activation", "norm", "init", "conv_blocks",
                "channels", "kernel_size", "pool", "attention", "attention_dim", "attention_heads")


def dimension(name: str) -> str:
    """The space dimension a parameter belongs to: ``width_2`` -> ``width``."""
    base, _, index = name.rpartition("_")
    return base if index.isdigit() and base in ("width", "activation", "channels") else name


def fit_to_space(params: dict[str, Any], space: SpaceConfig, scale: float = 1.0) -> dict[str, Any]:
    """The part of ``params`` the space allows (numbers clipped into ranges, widths scaled)."""
    fitted = {}
    for name, value in params.items():
        dim = dimension(name)
        allowed = getattr(space, dim, None)
        if allowed is None:  # not a dimension of this space (or losses not resolved yet)
            continue
        if dim in SCALED and scale != 1.0:
            value = max(1, round(value * scale))
        value = _allowed(value, allowed)
        if value is not None:
            fitted[name] = value
    return _per_layer(fitted, space)


def _allowed(value: Any, allowed: Any) -> Any:
    if isinstance(allowed, Range):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        clipped = min(max(value, allowed.low), allowed.high)
        return type(value)(clipped)
    return value if value in _as_list(allowed) else None


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _per_layer(params: dict[str, Any], space: SpaceConfig) -> dict[str, Any]:
    """Match the space's per-layer settings: ``width`` <-> ``width_i``, ``activation`` <->
    ``activation_i``; keys past ``n_layers`` or ``conv_blocks`` are dropped."""
    out = dict(params)
    n = out.get("n_layers")
    per_width = space.per_layer_width and out.get("family") != "resmlp"
    for dim, per_layer, count in (("width", per_width, n), ("activation", space.per_layer_activation, n),
                                  ("channels", space.per_layer_width, out.get("conv_blocks"))):
        values = [out.pop(k) for k in sorted([k for k in out if dimension(k) == dim and k != dim],
                                             key=lambda k: int(k.rpartition("_")[2]))]
        single = out.pop(dim, None)
        first = values[0] if values else single
        if count is None or first is None:
            continue
        if per_layer:
            values = values or [single]
            out.update({f"{dim}_{i}": values[min(i, len(values) - 1)] for i in range(count)})
        else:
            out[dim] = first
    return out


def enqueue(study: optuna.Study, starts: list[dict[str, Any]]) -> int:
    """Enqueue each distinct non-empty start; returns how many were enqueued."""
    seen = []
    for params in starts:
        if params and params not in seen:
            seen.append(params)
            study.enqueue_trial(params, skip_if_exists=True)
    return len(seen)


def builtin_starts(space: SpaceConfig) -> list[dict[str, Any]]:
    """The built-in architectures the space allows (an entry of another family is skipped)."""
    return [fit_to_space(p, space) for p in BUILTIN if p["family"] in _as_list(space.family)]


def study_starts(source: optuna.Study, space: SpaceConfig, n_features: int,
                 number: int | None = None) -> list[dict[str, Any]]:
    """The best trials of an earlier study (or its trial ``number``), rescaled from its input
    size to ``n_features``."""
    from autonn.objectives import ranked_by_metric

    ranked = ranked_by_metric(source)
    chosen = ranked[:WARM_TRIALS] if number is None else [t for t in ranked if t.number == number]
    if not chosen:
        what = "no completed trial" if number is None else f"no completed trial {number}"
        raise StudyError(f"--warm-start: study '{source.study_name}' has {what} to start from.")
    old = source.user_attrs.get("n_features")
    scale = math.sqrt(n_features / old) if old else 1.0
    return [fit_to_space(t.params, space, scale) for t in chosen]



def architecture_of(params: dict[str, Any]) -> dict[str, Any]:
    """The architecture part of a trial's parameters (what ``--init-from`` holds fixed)."""
    return {k: v for k, v in params.items() if dimension(k) in ARCHITECTURE}


def transferable(tensors: dict[str, Any], classes: list, new_classes: list) -> dict[str, Any]:
    """An exported model's network tensors to start from; without its output layer when the
    classes differ (a new head is trained)."""
    network = {k.removeprefix("network."): v for k, v in tensors.items()
               if k.startswith("network.")}
    if list(classes) != list(new_classes):
        last = max(int(k.split(".")[0]) for k in network)
        network = {k: v for k, v in network.items() if not k.startswith(f"{last}.")}
    return network


def load_matching(model: Any, tensors: dict[str, Any]) -> int:
    """Copy each layer whose tensors all match ``model``'s in name and shape; returns how many
    tensors were copied (a layer of another shape keeps its fresh weights, bias included)."""
    own = model.state_dict()
    layer = lambda name: name.rpartition(".")[0]  # noqa: E731
    misfits = {layer(k) for k, v in tensors.items() if k not in own or own[k].shape != v.shape}
    matched = {k: v for k, v in tensors.items() if layer(k) not in misfits}
    model.load_state_dict(matched, strict=False)
    return len(matched)
