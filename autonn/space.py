"""The one place that calls ``trial.suggest_*``: a SpaceConfig becomes a flat parameter dict.

The same function samples during a search and replays a finished trial (through Optuna's
``FixedTrial``), so an exported or warm-started model is built by exactly the code that built it
in the search. Fixed dimensions are suggested as one-choice categoricals so that every parameter
is recorded in the trial. Families sample their own dimensions through ``Ask``.
"""

from __future__ import annotations

from typing import Any

from autonn.components import OPTIMIZERS
from autonn.config import INTEGER_DIMENSIONS, REAL_DIMENSIONS, Range, SpaceConfig
from autonn.errors import ConfigError
from autonn.families import AUTO, FAMILIES, families_for
from autonn.losses import DEFAULT_LOSSES, LOSSES_FOR_TASK
from autonn.params import Params
from autonn.tasks import REGRESSION


class Ask:
    """Suggests one dimension of ``space`` at a time on ``trial``; ``space.fixed`` values are
    suggested as one-value choices."""

    def __init__(self, trial: Any, space: SpaceConfig) -> None:
        self.trial, self.space = trial, space

    def value(self, dim: str, name: str | None = None) -> Any:
        """Suggest dimension ``dim`` under the parameter name ``name`` (default: ``dim``)."""
        name = name or dim
        spec = getattr(self.space, dim)
        if name in self.space.fixed:
            return self.trial.suggest_categorical(name, [self.space.fixed[name]])
        if isinstance(spec, Range) and dim in INTEGER_DIMENSIONS:
            return self.trial.suggest_int(name, int(spec.low), int(spec.high),
                                          step=int(spec.step or 1), log=spec.log)
        if isinstance(spec, Range):
            return self.trial.suggest_float(name, spec.low, spec.high, step=spec.step, log=spec.log)
        choices = spec if isinstance(spec, list) else [spec]
        cast = int if dim in INTEGER_DIMENSIONS else float if dim in REAL_DIMENSIONS else None
        return self.trial.suggest_categorical(name, [cast(v) for v in choices] if cast else choices)

    def layers(self, dim: str, count: int, separate: bool) -> Params:
        """``dim_0`` .. ``dim_{count-1}`` when ``separate``, else one shared ``dim``."""
        names = [f"{dim}_{i}" for i in range(count)] if separate else [dim]
        return {name: self.value(dim, name) for name in names}


def suggest(trial: Any, space: SpaceConfig) -> Params:
    """Sample one architecture and training setting from ``space`` (losses and family resolved).

    ``n_layers`` counts dense layers (mlp, and cnn's head) or residual blocks (resmlp).
    """
    ask = Ask(trial, space)
    p: Params = {"family": ask.value("family")}
    p.update(FAMILIES[p["family"]].sample(ask))
    p.update(ask.layers("activation", p["n_layers"], space.per_layer_activation))
    for dim in ("init", "norm", "loss", "optimizer", "dropout", "lr", "weight_decay", "schedule",
                "label_smoothing"):
        p[dim] = ask.value(dim)
    for option in OPTIMIZERS[p["optimizer"]].options:  # e.g. momentum's momentum and nesterov
        p[option] = ask.value(option)
    p["batch_size"] = ask.value("batch_size")
    p["epochs"] = ask.value("epochs")
    return p


# Rows with more continuous columns train without embeddings: E * dim inputs grow too large.
EMBED_MAX_FEATURES = 256


def resolve_space(space: SpaceConfig, task: str, input_shape: Any, n_continuous: int,
                  source: str = "config") -> SpaceConfig:
    """The space a problem searches: its task's losses, the families its rows allow, no label
    smoothing for regression, no embeddings for rows with no continuous columns (more than two
    values: only those are embedded) or more than ``EMBED_MAX_FEATURES`` of them."""
    space = resolve_family(resolve_losses(space, task, source), input_shape, source)
    update: dict[str, Any] = {}
    if task == REGRESSION:
        update["label_smoothing"] = 0.0
    if not 0 < n_continuous <= EMBED_MAX_FEATURES:
        update["embedding"] = "none"
    return space.model_copy(update=update)


def resolve_losses(space: SpaceConfig, task: str, source: str = "config") -> SpaceConfig:
    """Fill in the task's default losses, or check the chosen ones fit ``task``."""
    if space.loss is None:
        return space.model_copy(update={"loss": DEFAULT_LOSSES[task]})
    fitting = LOSSES_FOR_TASK[task]
    for name in [space.loss] if isinstance(space.loss, str) else space.loss:
        if name not in fitting:
            raise ConfigError(f"{source}: space.loss: '{name}' does not fit a {task} task. "
                              f"Valid for {task}: {', '.join(fitting)}.")
    return space


def resolve_family(space: SpaceConfig, input_shape: Any, source: str = "config") -> SpaceConfig:
    """Expand ``auto`` into every family the data allows; refuse a family that needs a row
    shape (cnn) without one."""
    chosen = [space.family] if isinstance(space.family, str) else list(space.family)
    if AUTO in chosen:
        chosen = families_for(input_shape)
    for name in chosen:
        if FAMILIES[name].needs_shape and not input_shape:
            raise ConfigError(f"{source}: space.family: {name} needs the rows' shape; add "
                              "input_shape: [channels, height, width] or [channels, length] to "
                              "the config (bundled digits knows its own, 1x8x8).")
    chosen = list(dict.fromkeys(chosen))
    return space.model_copy(update={"family": chosen if len(chosen) > 1 else chosen[0]})


def searched(space: SpaceConfig, input_shape: Any = None) -> set[str]:
    """The dimensions a search of ``space`` uses: the shared ones and those of its families
    (and optimizers' options)."""
    families = [space.family] if isinstance(space.family, str) else list(space.family)
    if AUTO in families:
        families = families_for(input_shape)
    optimizers = space.optimizer if isinstance(space.optimizer, list) else [space.optimizer]
    used = {"family", "activation", "init", "norm", "loss", "optimizer", "dropout", "lr",
            "weight_decay", "schedule", "label_smoothing", "batch_size", "epochs",
            *(d for name in families if name in FAMILIES for d in FAMILIES[name].dimensions),
            *(o for name in optimizers for o in OPTIMIZERS[name].options)}
    if len(families) == 1:
        used.discard("family")
    if not any(_as_list(space.attention)):  # sizes of a block that is never there
        used -= {"attention_dim", "attention_heads"}
    if set(_as_list(space.embedding)) == {"none"}:
        used -= {"embedding_dim", "embedding_scale"}
    return used


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def describe(space: SpaceConfig) -> dict[str, Any]:
    """A JSON-ready description of each dimension: a fixed value, choices or a range."""
    out: dict[str, Any] = {}
    for name, value in space:
        cast = int if name in INTEGER_DIMENSIONS else (lambda v: v)
        if isinstance(value, Range):
            out[name] = {"type": "int" if name in INTEGER_DIMENSIONS else "float",
                         "low": cast(value.low), "high": cast(value.high), "log": value.log}
            if value.step is not None:
                out[name]["step"] = cast(value.step)
        elif isinstance(value, list):
            out[name] = {"type": "choice", "choices": [cast(v) for v in value]}
        else:
            out[name] = {"type": "fixed", "value": cast(value)}
    return out
