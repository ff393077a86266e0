"""Starting from what worked: built-in architectures and earlier studies' best trials.

Every starting point is a parameter dict fitted to the current space before it is enqueued: a
value the space does not allow is dropped (the sampler fills it in), a number outside its range is
clipped into it, and widths are rescaled to the new input size. Optuna runs enqueued trials first.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import optuna

from autonn.config import Range, SpaceConfig
from autonn.errors import StudyError
from autonn.families import family_of
from autonn.params import PER_LAYER, Params, dimension
from autonn.search.problem import Problem
from autonn.search.ranking import ranked_by_metric
from autonn.search.storage import describe_storage, open_storage

# Architectures that do well across tabular tasks. First a cheap one, scikit-learn's default
# MLPClassifier/MLPRegressor (one layer of 100 ReLUs, Adam at 1e-3, L2 1e-4): it finishes in
# seconds, so even a short budget ships a model at least that good. Then, best first: two that
# follow RealMLP-TD's
# recipe (Holzmueller et al. 2024: three layers of 256, SiLU, no norm, dropout 0.15, AdamW with
# a cosine schedule, label smoothing 0.1, large batches, long training, best epoch kept), with
# and without PLR embeddings of the numeric features (Gorishniy et al. 2022); then a residual
# MLP, the usual two-layer ReLU net with batch norm, and a small tanh net for tiny tables.
BUILTIN: list[dict[str, Any]] = [
    {"family": "mlp", "n_layers": 1, "width_0": 100, "activation": "relu", "norm": "none",
     "dropout": 0.0, "init": "he_uniform", "optimizer": "adam", "lr": 1e-3,
     "weight_decay": 1e-4, "schedule": "constant", "batch_size": 128, "epochs": 100,
     "attention": False, "embedding": "none"},
    {"family": "mlp", "n_layers": 3, "width_0": 256, "width_1": 256, "width_2": 256,
     "activation": "swish", "norm": "none", "dropout": 0.15, "init": "he_uniform",
     "loss": "cross_entropy", "optimizer": "adamw", "lr": 2e-3, "weight_decay": 1e-5,
     "schedule": "cosine", "label_smoothing": 0.1, "batch_size": 256, "epochs": 256,
     "attention": False, "embedding": "plr", "embedding_dim": 16, "embedding_scale": 0.1},
    {"family": "mlp", "n_layers": 3, "width_0": 256, "width_1": 256, "width_2": 256,
     "activation": "swish", "norm": "none", "dropout": 0.15, "init": "he_uniform",
     "loss": "cross_entropy", "optimizer": "adamw", "lr": 2e-3, "weight_decay": 1e-5,
     "schedule": "cosine", "label_smoothing": 0.1, "batch_size": 256, "epochs": 256,
     "attention": False, "embedding": "none"},
    {"family": "resmlp", "n_layers": 2, "width": 128, "activation": "relu", "norm": "batch",
     "dropout": 0.1, "init": "he_uniform", "optimizer": "adamw", "lr": 1e-3,
     "schedule": "onecycle", "batch_size": 64, "epochs": 128, "attention": False,
     "embedding": "none"},
    {"family": "mlp", "n_layers": 2, "width_0": 128, "width_1": 64, "activation": "relu",
     "norm": "batch", "dropout": 0.1, "init": "he_uniform", "optimizer": "adam", "lr": 1e-3,
     "schedule": "constant", "batch_size": 64, "epochs": 64, "attention": False,
     "embedding": "none"},
    {"family": "mlp", "n_layers": 1, "width_0": 64, "activation": "tanh", "norm": "none",
     "dropout": 0.0, "init": "xavier_uniform", "optimizer": "adam", "lr": 1e-2,
     "schedule": "constant", "batch_size": 32, "epochs": 64, "attention": False,
     "embedding": "none"},
]
WARM_TRIALS = 3  # best trials taken from each earlier study
SCALED = ("width", "channels")  # dimensions rescaled to the new input size


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


def _per_layer(params: Params, space: SpaceConfig) -> Params:
    """Match the space's per-layer settings: ``width`` <-> ``width_i``, ``activation`` <->
    ``activation_i``; keys past ``n_layers`` or ``conv_blocks`` are dropped."""
    out = dict(params)
    per_width = space.per_layer_width and family_of(out).width_per_layer
    separate = {"width": per_width, "activation": space.per_layer_activation,
                "channels": space.per_layer_width}
    for dim, counter in PER_LAYER.items():
        values = [out.pop(k) for k in sorted([k for k in out if dimension(k) == dim and k != dim],
                                             key=lambda k: int(k.rpartition("_")[2]))]
        single = out.pop(dim, None)
        first = values[0] if values else single
        count = out.get(counter)
        if count is None or first is None:
            continue
        if separate[dim]:
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
    ranked = ranked_by_metric(source)
    chosen = ranked[:WARM_TRIALS] if number is None else [t for t in ranked if t.number == number]
    if not chosen:
        what = "no completed trial" if number is None else f"no completed trial {number}"
        raise StudyError(f"--warm-start: study '{source.study_name}' has {what} to start from.")
    old = source.user_attrs.get("n_features")
    scale = math.sqrt(n_features / old) if old else 1.0
    return [fit_to_space(t.params, space, scale) for t in chosen]



def warm_starts(problem: Problem, storage: Any,
                find_run: Callable[[str], tuple[str, int | None]]) -> list[Params]:
    """The best trials of each ``warm_start`` source: a study in ``storage``, or a tracked run
    that ``find_run`` names (a study's run: its best trials; a trial's run: that trial)."""
    store = open_storage(storage)
    names = {s.study_name for s in store.get_all_studies()}
    n_features = int(problem.data.x_train.shape[1])
    starts: list[Params] = []
    for source in problem.config.warm_start:
        number = None
        if source not in names:
            source, number = find_run(source)
            if source not in names:
                raise StudyError(f"--warm-start: no study '{source}' in {describe_storage(storage)}.")
        study = optuna.load_study(study_name=source, storage=store)
        starts += study_starts(study, problem.config.space, n_features, number)
    return starts
