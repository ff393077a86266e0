"""Datasets by name -> seeded train/validation/test splits -> standardised tensors on a device.

Standardisation statistics come from the training split alone. Each split moves to the device
once; training then slices it, with no DataLoader and no host-device copy per step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn import datasets as skd
from sklearn.model_selection import train_test_split

from autonn.errors import DataError, unknown_name
from autonn.losses import BINARY, MULTICLASS, REGRESSION


@dataclass(frozen=True)
class Dataset:
    """Features and targets, with the task they pose.

    ``X`` is an array of numbers, or a DataFrame of raw columns that ``split`` preprocesses with a
    ColumnTransformer fitted on the training rows only.
    """

    name: str
    X: np.ndarray | pd.DataFrame  # (N, F)
    y: np.ndarray  # (N,) int64 class indices, or (N,) / (N, T) float32 values
    task: str
    feature_names: tuple[str, ...]
    classes: tuple = ()  # the label of each class index; empty for regression
    groups: np.ndarray | None = None  # rows of one group stay in one split
    test: Dataset | None = None  # a held-out test set; else the test split comes from X
    input_shape: tuple[int, ...] | None = None  # (C, H, W) or (C, L) when rows are images/signals


def _sklearn(loader: Callable, task: str) -> Callable[[], tuple]:
    def load() -> tuple:
        bunch = loader()
        names = getattr(bunch, "feature_names", None)
        names = tuple(names) if names is not None else tuple(
            f"x{i}" for i in range(bunch.data.shape[1]))
        classes = tuple(str(c) for c in bunch.target_names) if task != REGRESSION else ()
        return bunch.data, bunch.target, task, names, classes
    return load


def _generated(task: str) -> Callable[[], tuple]:
    def load() -> tuple:
        if task == REGRESSION:
            X, y = skd.make_regression(n_samples=1000, n_features=20, n_informative=10,
                                       noise=10.0, random_state=0)
        else:
            X, y = skd.make_classification(n_samples=1000, n_features=20, n_informative=10,
                                           n_classes=2 if task == BINARY else 4, random_state=0)
        names = tuple(f"x{i}" for i in range(X.shape[1]))
        classes = () if task == REGRESSION else tuple(str(c) for c in np.unique(y))
        return X, y, task, names, classes
    return load


BUNDLED: dict[str, Callable[[], tuple]] = {
    "iris": _sklearn(skd.load_iris, MULTICLASS),
    "wine": _sklearn(skd.load_wine, MULTICLASS),
    "breast_cancer": _sklearn(skd.load_breast_cancer, BINARY),
    "digits": _sklearn(skd.load_digits, MULTICLASS),
    "diabetes": _sklearn(skd.load_diabetes, REGRESSION),
    "synthetic_binary": _generated(BINARY),
    "synthetic_multiclass": _generated(MULTICLASS),
    "synthetic_regression": _generated(REGRESSION),
}


IMAGE_SHAPES = {"digits": (1, 8, 8)}  # bundled datasets whose rows are images


def load_dataset(name: str) -> Dataset:
    """Load a bundled dataset by name (see ``BUNDLED``); nothing is downloaded."""
    if name not in BUNDLED:
        raise DataError(unknown_name("dataset", name, BUNDLED))
    X, y, task, names, classes = BUNDLED[name]()
    y = y.astype(np.float32) if task == REGRESSION else y.astype(np.int64)
    return Dataset(name, np.asarray(X, dtype=np.float32), y, task, names, classes,
                   input_shape=IMAGE_SHAPES.get(name))


def dataset_from_frame(frame: pd.DataFrame, target: str, *, task: str = "auto",
                       name: str = "DataFrame", group_column: str | None = None) -> Dataset:
    """A Dataset from a DataFrame of raw columns (see ``autonn.tables``)."""
    from autonn.tables import make_table

    table = make_table(frame, target, task=task, source=name, group_column=group_column)
    return Dataset(name, table.features, table.y, table.task, tuple(map(str, table.features.columns)),
                   table.classes, table.groups)


def dataset_from_files(path: str, target: str, task: str = "auto", test_path: str | None = None,
                       group_column: str | None = None) -> Dataset:
    """A Dataset from a CSV/TSV/Parquet file, with an optional held-out test file."""
    from autonn.tables import read_table

    data = dataset_from_frame(read_table(path), target, task=task, name=path,
                              group_column=group_column)
    if test_path is None:
        return data
    test = dataset_from_frame(read_table(test_path), target, task=data.task, name=test_path)
    missing = sorted(set(data.feature_names) - set(test.feature_names))
    if missing:
        raise DataError(f"{test_path}: missing columns {', '.join(missing)} that {path} has.")
    if data.task != REGRESSION:
        unseen = sorted(set(test.classes) - set(data.classes), key=str)
        if unseen:
            raise DataError(f"{test_path}: target labels {unseen} never appear in {path}.")
        codes = {label: i for i, label in enumerate(data.classes)}
        test = Dataset(test.name, test.X, np.array([codes[test.classes[c]] for c in test.y]),
                       test.task, test.feature_names, data.classes)
    return Dataset(data.name, data.X, data.y, data.task, data.feature_names, data.classes,
                   data.groups, test)


@dataclass(frozen=True)
class Splits:
    """Train, validation and test arrays, and the preprocessing fitted on the training rows."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    preprocessor: Any = None  # a fitted ColumnTransformer for tables; None for arrays


def split(data: Dataset, val_fraction: float, test_fraction: float, seed: int) -> Splits:
    """Seeded train/validation/test split: stratified for classification, grouped by
    ``data.groups`` when given. A dataset with its own ``test`` set keeps all its rows for
    training and validation."""
    rows = np.arange(len(data.y))
    if data.test is None:
        _enough_per_class(data, 3)
        rest, test = _split_off(rows, data, test_fraction, seed)
        val_fraction = val_fraction / (1 - test_fraction)
    else:
        _enough_per_class(data, 2)
        rest, test = rows, None
    train, val = _split_off(rest, data, val_fraction, seed)
    X, X_test, y_test = data.X, None, None
    pre = None
    if isinstance(X, pd.DataFrame):
        from autonn.tables import preprocessor
        pre = preprocessor(X.iloc[train], data.name)
        X = pre.transform(X).astype(np.float32)
    if data.test is None:
        X_test, y_test = X[test], data.y[test]
    else:
        X_test = data.test.X if pre is None else pre.transform(data.test.X).astype(np.float32)
        y_test = data.test.y
    return Splits(X[train], data.y[train], X[val], data.y[val], X_test, y_test, pre)


def _split_off(rows: np.ndarray, data: Dataset, fraction: float, seed: int):
    if data.groups is not None:
        from sklearn.model_selection import GroupShuffleSplit
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        keep, off = next(splitter.split(rows, groups=data.groups[rows]))
        return rows[keep], rows[off]
    strat = data.y[rows] if data.task != REGRESSION else None
    return train_test_split(rows, test_size=fraction, random_state=seed, stratify=strat)


def _enough_per_class(data: Dataset, needed: int) -> None:
    if data.task == REGRESSION or data.groups is not None:
        return
    counts = np.bincount(data.y, minlength=len(data.classes) or None)
    for code, count in enumerate(counts):
        if count < needed:
            label = data.classes[code] if data.classes else code
            raise DataError(f"{data.name}: class {label!r} has {count} row(s); the train/validation/"
                            f"test split needs at least {needed} per class. Add rows of that class, "
                            "merge it into another, or drop it.")


@dataclass(frozen=True)
class Standardizer:
    """Per-column mean and scale fitted on the training split; constant columns keep scale 1."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        scale = X.std(axis=0)
        return cls(X.mean(axis=0), np.where(scale > 1e-12, scale, 1.0))

    def transform(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.scale).astype(np.float32)

    def inverse(self, X: np.ndarray) -> np.ndarray:
        return X * self.scale + self.mean


@dataclass(frozen=True)
class DeviceData:
    """Splits as tensors on one device, ready for training.

    Regression targets for training are standardised (``y_train``); validation and test targets
    stay in the user's units, and predictions are mapped back with ``target_scaler`` to score.
    """

    task: str
    n_outputs: int  # classes for classification, target columns for regression
    x_train: torch.Tensor  # (N, F) float32
    y_train: torch.Tensor  # (N,) int64 labels or (N, T) float32 standardised values
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    feature_scaler: Standardizer
    target_scaler: Standardizer | None
    device: torch.device
    input_shape: tuple[int, ...] | None = None  # what the cnn family reshapes rows into


def to_device(splits: Splits, task: str, device: torch.device, n_classes: int = 0,
              input_shape: tuple[int, ...] | None = None) -> DeviceData:
    """Standardise on the training split and move every split to ``device`` once."""
    fs = Standardizer.fit(splits.X_train)
    ys = [splits.y_train, splits.y_val, splits.y_test]
    ts = None
    if task == REGRESSION:
        width = ys[0].reshape(len(ys[0]), -1).shape[1]
        ys = [y.reshape(len(y), width) for y in ys]
        ts = Standardizer.fit(ys[0])
        ys[0] = ts.transform(ys[0])
        n_outputs = ys[0].shape[1]
    else:
        n_outputs = n_classes or int(max(y.max() for y in ys)) + 1
    t = lambda a: torch.as_tensor(a).to(device)  # noqa: E731
    return DeviceData(task, n_outputs, t(fs.transform(splits.X_train)), t(ys[0]),
                      t(fs.transform(splits.X_val)), t(ys[1]), t(fs.transform(splits.X_test)),
                      t(ys[2]), fs, ts, device, input_shape)
