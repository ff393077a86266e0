"""What a search starts from and ends with: a ``Problem`` (a config made concrete: its data on the
device, the metric and the resolved space) and a ``Winner`` (a trained trial kept in memory)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from autonn.config import Config, SpaceConfig
from autonn.data.datasets import Dataset, load_data
from autonn.data.split import Splits, kfold, split
from autonn.data.tensors import DeviceData, continuous_columns, to_device
from autonn.errors import ConfigError
from autonn.export.loading import load
from autonn.export.predictor import Predictor
from autonn.families import ARCHITECTURE, DEFAULT_FAMILY
from autonn.losses import Head
from autonn.metrics import DEFAULT_METRIC, Metric, metric_for
from autonn.params import Params, dimension
from autonn.space import resolve_space
from autonn.tasks import REGRESSION
from autonn.training.device import resolve_device
from autonn.training.loop import History
from autonn.training.weights import aligned_embedding, transferable

CV_FOLDS = 5
# Below this many training + validation rows the objective is the mean over CV_FOLDS folds: a 20%
# validation split of such a table has at most 400 rows, where the standard error of an 80%
# accuracy is 2 points or more, larger than the differences between good trials (Titanic, 1047
# such rows, picked its final model by noise in the search-quality benchmark); five folds
# validate on every row (a standard error about 2.2 times smaller) for five times the training of
# a trial, which on tables this small takes a second or two.
CV_ROWS = 2000
# Larger tables are cross-validated too while k trainings stay cheap: below CV_MAX_ROWS rows and
# CV_MAX_CELLS values (rows x encoded features, 8 MB of float32). The final model then ships each
# trial's fold networks averaged, a bag: on ames (2344 such rows x 300 features, regression) a
# 60 s search reached a test RMSE of 26.9k with five folds against 34.3k with one split
# (benchmarks/final_model.py; RESULTS.md). A table of 8190 x 1502 (grants) stays one split: five
# trainings of it do not fit a short budget.
CV_MAX_ROWS = 10_000
CV_MAX_CELLS = 2_000_000


@dataclass
class Fit:
    """One trained network and the data it trained on (its scalers undo standardisation)."""

    model: nn.Module
    head: Head
    history: History
    data: DeviceData


@dataclass
class Problem:
    """A config made concrete: its data on the device (one split, or k folds), the metric and
    the resolved space."""

    config: Config
    dataset: Dataset
    splits: Splits  # encoded rows; with folds, every non-test row is a training row
    folds: list[DeviceData]  # the validation split, or the k cross-validation folds
    fold_rows: list[np.ndarray]  # each fold's validation rows, as rows of ``selection_y``
    metric_name: str
    metric: Metric
    init_state: dict | None = None  # starting weights from --init-from
    deadline: float | None = None  # time.time() when the search's --timeout runs out

    @property
    def data(self) -> DeviceData:
        """The first fold (the only one without cross-validation)."""
        return self.folds[0]

    @property
    def preprocessor(self) -> Any:
        """The ColumnTransformer fitted on a table's training rows (None for arrays)."""
        return self.splits.preprocessor

    @property
    def selection_y(self) -> torch.Tensor:
        """Targets of the rows every trial predicts out of its training (validation rows, or all
        rows across folds), on the CPU in the user's units: what ensembles are chosen on."""
        y = self.splits.y_val if len(self.folds) == 1 else self.splits.y_train
        return torch.as_tensor(y.reshape(len(y), -1) if self.config.task == REGRESSION else y)

    def refit_data(self) -> DeviceData:
        """Every non-test row as training rows, on the device (for the final refit)."""
        return to_device(self.splits.merged(), self.config.task, self.data.device,
                         n_classes=len(self.dataset.classes), input_shape=self.data.input_shape,
                         clip=self.config.training.clip, continuous=self.data.continuous)


@dataclass
class Winner:
    """A completed trial kept in memory: its networks (one per fold it finished) and its
    out-of-training predictions of the selection rows (None when the deadline left it fewer
    folds than the study's: they would not cover every row)."""

    trial_number: int
    value: float
    params: Params
    fits: list[Fit]
    predictions: torch.Tensor | None  # (N, K) probabilities or (N, T) values of selection_y's rows
    # torch threads -> an epoch's time on them as a share of its time in this trial's fits,
    # timed once per count (``final.refit_seconds``)
    speed: dict[int, float] = field(default_factory=dict, repr=False, compare=False)

    @property
    def head(self) -> Head:
        return self.fits[0].head

    @property
    def refit_epochs(self) -> int:
        """Epochs for a refit on every row: the mean over folds of the best epoch count."""
        return round(sum(f.history.best_epoch + 1 for f in self.fits) / len(self.fits))


def prepare(config: Config, source: str = "config") -> Problem:
    """Load and split the data, choose the device, resolve task, metric and losses."""
    return make_problem(config, load_data(config, source), source)


def make_problem(config: Config, dataset: Dataset, source: str = "config",
                 splits: Splits | None = None) -> Problem:
    """Resolve task, metric and losses for ``dataset``; split it (unless ``splits`` are given),
    into folds when it is small, and move it to the device."""
    task = dataset.task if config.task == "auto" else config.task
    metric_name = config.metric or DEFAULT_METRIC[task]
    try:
        metric = metric_for(metric_name, task)
    except ConfigError as exc:
        raise ConfigError(f"{source}: metric: {exc}") from None
    shape = tuple(config.input_shape or dataset.input_shape or ()) or None
    init_state, space, embedded = None, config.space, None
    if config.init_from:
        init_state, space, embedded = _init_from(config.init_from, space, dataset)
    config = config.model_copy(update={"task": task, "metric": metric_name})
    if splits is None:
        splits = split(dataset, config.training.val_fraction, config.training.test_fraction,
                       config.seed, config.training.near_constant_rows)
    if shape and math.prod(shape) != splits.X_train.shape[1]:
        raise ConfigError(f"{source}: input_shape {list(shape)} holds {math.prod(shape)} values, "
                          f"but the rows have {splits.X_train.shape[1]} features; fix input_shape.")
    continuous = continuous_columns(splits.X_train, splits.X_val)
    if init_state is not None:
        init_state = aligned_embedding(init_state, embedded, continuous, splits.X_train.shape[1])
    space = resolve_space(space, task, shape, len(continuous), source)
    config = config.model_copy(update={"space": space})
    device, k = resolve_device(config.device), n_folds(config, splits)
    parts, rows = [splits], [np.arange(len(splits.y_val))]
    if k > 1:
        splits = splits.merged()
        parts, rows = kfold(splits, k, config.seed, task)
    folds = [to_device(p, task, device, n_classes=len(dataset.classes), input_shape=shape,
                       clip=config.training.clip, continuous=continuous) for p in parts]
    return Problem(config, dataset, splits, folds, rows, metric_name, metric, init_state)


def n_folds(config: Config, splits: Splits) -> int:
    """How many cross-validation folds the objective averages (1: one validation split)."""
    folds = config.training.cv_folds
    rows = len(splits.y_train) + len(splits.y_val)
    if folds == "auto":
        cells = rows * splits.X_train.shape[1]
        small = rows < CV_ROWS or (rows < CV_MAX_ROWS and cells <= CV_MAX_CELLS)
        return CV_FOLDS if small and len(splits.y_val) else 1
    return max(1, min(int(folds), rows // 2))


def _init_from(path: str, space: SpaceConfig, dataset: Dataset
               ) -> tuple[dict, SpaceConfig, list[int] | None]:
    """The model's transferable weights, the space with its architecture held fixed, and the
    columns its embedding embeds (None: all)."""
    model = load(path)
    if not isinstance(model, Predictor):
        raise ConfigError(f"init_from: {path} is not an autonn model.")
    bundle = model.bundle
    if not bundle.tensors:
        raise ConfigError(f"init_from: {path} keeps its weights inside a graph autonn does not "
                          "read back; start from a state_dict, TorchScript, ExportedProgram or "
                          "MLflow export of it.")
    architecture = {k: v for k, v in bundle.params.items() if dimension(k) in ARCHITECTURE}
    fixed = {**architecture, **space.fixed}
    state = transferable(bundle.tensors, bundle.classes, list(dataset.classes))
    return (state, space.model_copy(update={"fixed": fixed,
                                             "family": fixed.get("family", DEFAULT_FAMILY)}),
            bundle.continuous)
