"""Typed, frozen settings read from YAML, validated at the boundary.

Every dimension of the search space is written one of three ways:

    n_layers: 2                          # fixed
    activation: [relu, tanh]             # a list to choose from
    lr: {low: 1.0e-4, high: 0.1, log: true}   # a range (int or float)

Errors name the file, the line, the field, the bad value and the valid choices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from autonn.components import ACTIVATIONS, EMBEDDINGS, INITIALIZERS, NORMS, OPTIMIZERS, POOLS
from autonn.config_errors import MAX_NODES, describe, expanded_size, line_numbers
from autonn.errors import ConfigError, unknown_name
from autonn.families import DEFAULT_FAMILY, FAMILY_CHOICES
from autonn.losses import LOSSES
from autonn.measures import OBJECTIVES
from autonn.metrics import METRICS
from autonn.names import checked_name
from autonn.samplers import PRUNERS, SAMPLERS
from autonn.schedules import SCHEDULES

# How the space samples each numeric dimension: whole numbers, or reals.
INTEGER_DIMENSIONS = ("n_layers", "width", "batch_size", "epochs", "conv_blocks", "channels",
                      "kernel_size", "attention_dim", "attention_heads", "embedding_dim")
REAL_DIMENSIONS = ("dropout", "lr", "weight_decay", "momentum", "label_smoothing",
                   "embedding_scale")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Frozen):
    """A numeric range; ``log`` samples on a log scale, ``step`` quantises."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) is greater than high ({self.high:g}); swap them")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got low={self.low:g}")
        if self.log and self.step is not None:
            raise ValueError("a range cannot have both log: true and a step; drop one")
        return self


Number = Union[float, list[float], Range]
Choice = Union[str, list[str]]


def _names(value: Choice, registry: Any, kind: str) -> Choice:
    for name in [value] if isinstance(value, str) else value:
        if name not in registry:
            raise ValueError(unknown_name(kind, name, registry))
    if isinstance(value, list) and not value:
        raise ValueError(f"the list of {kind}s is empty; give at least one")
    return value


def _is_int(value: Number) -> bool:
    if isinstance(value, Range):
        return value.low == int(value.low) and value.high == int(value.high)
    return all(v == int(v) for v in ([value] if isinstance(value, (int, float)) else value))


class SpaceConfig(_Frozen):
    """What the search may choose. ``None`` for ``loss`` means the task's default losses."""

    family: Choice = DEFAULT_FAMILY  # mlp, resmlp (residual blocks), cnn (needs an input shape), auto
    n_layers: Number = Range(low=1, high=4)
    width: Number = Range(low=16, high=256, log=True)
    per_layer_width: bool = True  # one width per layer (width_0, width_1, ...) or one for all
    activation: Choice = ["relu", "leaky_relu", "prelu", "swish", "tanh", "softplus"]
    per_layer_activation: bool = False  # one activation per layer (activation_0, ...) or one for all
    init: Choice = ["xavier_uniform", "xavier_normal", "he_uniform", "he_normal", "orthogonal"]
    dropout: Number = Range(low=0.0, high=0.3)
    norm: Choice = ["none", "batch", "layer"]
    loss: Choice | None = None
    optimizer: Choice = ["adam", "adamw", "adamax", "rmsprop", "momentum"]
    lr: Number = Range(low=1e-4, high=3e-2, log=True)
    weight_decay: Number = Range(low=1e-7, high=1e-3, log=True)
    momentum: Number = 0.9  # used by the momentum optimizer only
    nesterov: bool | list[bool] = False
    batch_size: Number = [32, 64, 128, 256]
    epochs: Number = Range(low=16, high=256, log=True)  # the cap; stopping and pruning end sooner
    schedule: Choice = ["constant", "cosine", "onecycle"]  # learning rate over the epoch cap
    label_smoothing: Number = [0.0, 0.1]  # classification: target mass spread over all classes
    conv_blocks: Number = Range(low=1, high=3)  # cnn: conv -> norm -> activation -> pool blocks
    channels: Number = Range(low=8, high=64, log=True)  # cnn: channels of each conv block
    kernel_size: Number = [3, 5]  # cnn
    pool: Choice = ["max", "avg"]  # cnn: pooling by 2 after each block (while it fits)
    attention: bool | list[bool] = False  # mlp/resmlp: a feature self-attention block in front
    attention_dim: Number = [8, 16, 32]  # width of each feature token
    attention_heads: Number = [1, 2, 4]
    embedding: Choice = ["none", "plr"]  # mlp/resmlp: continuous features as periodic embeddings
    embedding_dim: Number = [8, 16]  # each feature's embedding width
    embedding_scale: Number = [0.01, 0.1, 1.0]  # initial frequency scale of periodic embeddings
    fixed: dict[str, Any] = {}  # parameters held at these values (--init-from fixes the model's)

    _validate_activation = field_validator("activation")(
        lambda v: _names(v, ACTIVATIONS, "activation"))
    _validate_init = field_validator("init")(lambda v: _names(v, INITIALIZERS, "initializer"))
    _validate_norm = field_validator("norm")(lambda v: _names(v, NORMS, "norm"))
    _validate_family = field_validator("family")(lambda v: _names(v, FAMILY_CHOICES, "family"))
    _validate_pool = field_validator("pool")(lambda v: _names(v, POOLS, "pool"))
    _validate_optimizer = field_validator("optimizer")(lambda v: _names(v, OPTIMIZERS, "optimizer"))
    _validate_loss = field_validator("loss")(lambda v: v if v is None else _names(v, LOSSES, "loss"))
    _validate_schedule = field_validator("schedule")(lambda v: _names(v, SCHEDULES, "schedule"))
    _validate_embedding = field_validator("embedding")(
        lambda v: _names(v, EMBEDDINGS, "embedding"))

    @field_validator(*INTEGER_DIMENSIONS)
    @classmethod
    def _integers(cls, value: Number) -> Number:
        if not _is_int(value):
            raise ValueError(f"takes whole numbers, got {value!r}")
        return value

    @model_validator(mode="after")
    def _heads_divide_dims(self) -> SpaceConfig:
        dims, heads = self.attention_dim, self.attention_heads
        if isinstance(dims, Range) or isinstance(heads, Range):
            raise ValueError("attention_dim and attention_heads take a value or a list, not a "
                             "range (each dim must divide by each head count)")
        for d in dims if isinstance(dims, list) else [dims]:
            for h in heads if isinstance(heads, list) else [heads]:
                if d % h:
                    raise ValueError(f"attention_dim {d:g} does not divide by attention_heads "
                                     f"{h:g}; pick dims that are multiples of every head count")
        return self


class TrainingConfig(_Frozen):
    """How each trial trains and is stopped."""

    patience: int | None = None  # epochs without improvement before stopping; None: a fifth of
    # the trial's epoch cap, at least 8
    grad_clip: float | None = None  # max gradient norm; None disables clipping
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    clip: float = Field(3.0, ge=0)  # soft clip of standardised features at +-clip; 0: none
    cv_folds: Annotated[int, Field(ge=0)] | Literal["auto"] = "auto"  # k-fold objective; auto: 5 folds below 2000
    # training + validation rows or below 10000 rows of at most 2M values (search.problem), else
    # one validation split (0 or 1 turns it off)
    near_constant_rows: int = Field(20, ge=0)  # drop table columns whose other values fill fewer
    # training rows than this (and under 1% of them); 0 keeps them
    # (autonn.data.tables.NEAR_CONSTANT_ROWS)
    candidate_share: float | None = Field(0.25, gt=0, le=1)  # with a --timeout: the most of the
    # time left when a candidate starts that its folds may take (each stops at its best epoch
    # once its part is spent); None: no cap, the deadline alone stops a trial
    candidate_seconds: float | None = Field(60.0, gt=0)  # without a --timeout: the most seconds
    # a candidate's folds may take together (so --n-trials N ends in at most about N minutes on
    # any table); None: no cap, each trial runs to its epoch cap or early stopping

    def patience_for(self, epochs: int) -> int:
        """Epochs without improvement that stop a trial whose epoch cap is ``epochs``."""
        return self.patience if self.patience is not None else max(8, epochs // 5)


# Trials run without a count: DEFAULT_TRIALS, or with a --timeout as many as it allows (as
# Optuna's ``optimize(timeout=...)``; 20 ended a 300 s budget after a minute)
DEFAULT_TRIALS, UNTIL_TIMEOUT = 20, 10**9


class Config(_Frozen):
    """One experiment: the data, the budget, the metric and the space."""

    dataset: str | None = None  # a bundled dataset, or:
    data: str | None = None  # a CSV, TSV or Parquet file
    target: str | None = None  # the target column of ``data``
    test_data: str | None = None  # a held-out file scored only by the best model
    group_column: str | None = None  # rows sharing a value stay in one split
    task: Literal["auto", "binary", "multiclass", "regression"] = "auto"
    metric: str | None = None  # None: accuracy for classification, rmse for regression
    study: str | None = None
    n_trials: int = DEFAULT_TRIALS  # unset: DEFAULT_TRIALS, or with a timeout UNTIL_TIMEOUT
    timeout: float | None = None  # seconds
    seed: int = 0
    device: str = "auto"
    sampler: str = "tpe"  # tpe, random, gp, cmaes, qmc, nsga2
    pruner: str = "hyperband"  # hyperband, median, halving, none
    retries: int = 1  # times a trial whose worker died is run again
    max_failures: int = 5  # failed trials in a row after which a worker stops
    input_shape: list[int] | None = None  # [C, H, W] or [C, L]: rows as images/signals (cnn)
    objectives: list[str] = ["val_metric"]  # also params, latency, flops: a multi-objective study
    builtin_starts: bool = True  # run a few architectures that do well on tables first
    warm_start: list[str] = []  # studies or MLflow run ids whose best trials run first
    init_from: str | None = None  # an exported autonn model whose weights start each trial
    refit: bool | Literal["auto"] = "auto"  # train the final model(s) again on training +
    # validation rows; auto: after a one-split search (a cross-validated one ships each trial's
    # fold networks averaged)
    ensemble: int = Field(5, ge=0)  # ensemble size: the mean of the N best trials, then up to
    # N greedy additions; 0: the best trial alone
    population: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"  # trials trained together
    # in batched passes (auto: 64 on CUDA, one at a time on a CPU); 1: one at a time
    training: TrainingConfig = TrainingConfig()
    space: SpaceConfig = SpaceConfig()

    until_timeout = property(lambda self: self.n_trials >= UNTIL_TIMEOUT,
                             doc="Whether the budget, not a trial count, ends the search.")

    @model_validator(mode="before")
    @classmethod
    def _trials_from_budget(cls, values: Any) -> Any:
        if isinstance(values, dict) and values.get("n_trials") is None:
            budget = values.get("timeout") is not None
            values = {**values, "n_trials": UNTIL_TIMEOUT if budget else DEFAULT_TRIALS}
        return values

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in OBJECTIVES:
                raise ValueError(unknown_name("objective", name, OBJECTIVES))
        if not value or value[0] != "val_metric" or len(set(value)) != len(value):
            raise ValueError(f"start with val_metric and name each objective once, e.g. "
                             f"[val_metric, params]; got {value!r}")
        return value

    @field_validator("study")
    @classmethod
    def _study(cls, value: str | None) -> str | None:
        return value if value is None else checked_name(value, "a study name")

    @field_validator("input_shape")
    @classmethod
    def _shape(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (len(value) not in (2, 3) or min(value) < 1):
            raise ValueError(f"takes [channels, length] or [channels, height, width] of positive "
                             f"whole numbers, got {value!r}")
        return value

    _validate_metric = field_validator("metric")(
        lambda v: v if v is None or v in METRICS else _raise(unknown_name("metric", v, METRICS)))
    _validate_sampler = field_validator("sampler")(
        lambda v: v if v in SAMPLERS else _raise(unknown_name("sampler", v, SAMPLERS)))
    _validate_pruner = field_validator("pruner")(
        lambda v: v if v in PRUNERS else _raise(unknown_name("pruner", v, PRUNERS)))


def _raise(message: str):
    raise ValueError(message)


def load_config(path: str | Path, **overrides: Any) -> Config:
    """Read a YAML config with a safe loader; ``overrides`` (non-None) replace its top-level keys."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror}).") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if expanded_size(root) > MAX_NODES:
            raise ConfigError(f"{path}: the YAML stands for more than {MAX_NODES} values once its "
                              "aliases (*name) are expanded; write the values out, without "
                              "nested aliases.")
        lines = line_numbers(root)
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)}).") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a mapping of keys to values.")
    return make_config(data, source=str(path), lines=lines, **overrides)


def make_config(values: dict | None = None, /, *, source: str = "config",
                lines: dict[tuple, int] | None = None, **overrides: Any) -> Config:
    """Validate ``values`` (plus non-None ``overrides``) into a Config, or raise ConfigError."""
    values = dict(values or {})
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Config.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(describe(exc, Config, source, lines or {})) from None
