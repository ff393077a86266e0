"""What a search starts from and ends with: a ``Problem`` (a config made concrete: its data on the
device, the metric and the resolved space) and a ``Winner`` (a trained trial kept in memory)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from torch import nn

from autonn.config import Config, SpaceConfig
from autonn.data.datasets import Dataset, load_data
from autonn.data.split import Splits, split
from autonn.data.tensors import DeviceData, to_device
from autonn.device import resolve_device
from autonn.errors import ConfigError
from autonn.export.loading import load
from autonn.export.predictor import Predictor
from autonn.families import ARCHITECTURE, DEFAULT_FAMILY
from autonn.losses import Head
from autonn.metrics import DEFAULT_METRIC, Metric, metric_for
from autonn.params import Params, dimension
from autonn.space import resolve_family, resolve_losses
from autonn.train import History
from autonn.weights import transferable


@dataclass
class Problem:
    """A config made concrete: its data on the device, the metric and the resolved space."""

    config: Config
    dataset: Dataset
    data: DeviceData
    metric_name: str
    metric: Metric
    preprocessor: Any = None  # the ColumnTransformer fitted on a table's training rows
    init_state: dict | None = None  # starting weights from --init-from


@dataclass
class Winner:
    """A trained trial kept in memory (the best of a search), with its test score."""

    trial_number: int
    value: float
    params: Params
    model: nn.Module
    head: Head
    history: History
    test_score: float | None = None


def prepare(config: Config, source: str = "config") -> Problem:
    """Load and split the data, choose the device, resolve task, metric and losses."""
    return make_problem(config, load_data(config, source), source)


def make_problem(config: Config, dataset: Dataset, source: str = "config",
                 splits: Splits | None = None) -> Problem:
    """Resolve task, metric and losses for ``dataset``; split it (unless ``splits`` are given)
    and move it to the device."""
    task = dataset.task if config.task == "auto" else config.task
    metric_name = config.metric or DEFAULT_METRIC[task]
    try:
        metric = metric_for(metric_name, task)
    except ConfigError as exc:
        raise ConfigError(f"{source}: metric: {exc}") from None
    shape = tuple(config.input_shape or dataset.input_shape or ()) or None
    init_state, space = None, config.space
    if config.init_from:
        init_state, space = _init_from(config.init_from, space, dataset)
    space = resolve_family(resolve_losses(space, task, source), shape, source)
    config = config.model_copy(update={"space": space, "task": task, "metric": metric_name})
    if splits is None:
        splits = split(dataset, config.training.val_fraction, config.training.test_fraction,
                       config.seed)
    if shape and math.prod(shape) != splits.X_train.shape[1]:
        raise ConfigError(f"{source}: input_shape {list(shape)} holds {math.prod(shape)} values, "
                          f"but the rows have {splits.X_train.shape[1]} features; fix input_shape.")
    data = to_device(splits, task, resolve_device(config.device), n_classes=len(dataset.classes),
                     input_shape=shape)
    return Problem(config, dataset, data, metric_name, metric, splits.preprocessor, init_state)


def _init_from(path: str, space: SpaceConfig, dataset: Dataset) -> tuple[dict, SpaceConfig]:
    """The model's transferable weights, and the space with its architecture held fixed."""
    model = load(path)
    if not isinstance(model, Predictor):
        raise ConfigError(f"init_from: {path} is not an autonn model.")
    bundle = model.bundle
    architecture = {k: v for k, v in bundle.params.items() if dimension(k) in ARCHITECTURE}
    fixed = {**architecture, **space.fixed}
    state = transferable(bundle.tensors, bundle.classes, list(dataset.classes))
    return state, space.model_copy(update={"fixed": fixed, "family": fixed.get("family", DEFAULT_FAMILY)})
