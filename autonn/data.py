"""Datasets by name -> seeded train/validation/test splits -> standardised tensors on a device.

Standardisation statistics come from the training split alone. Each split moves to the device
once; training then slices it, with no DataLoader and no host-device copy per step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn import datasets as skd
from sklearn.model_selection import train_test_split

from autonn.errors import DataError, unknown_name
from autonn.losses import BINARY, MULTICLASS, REGRESSION


@dataclass(frozen=True)
class Dataset:
    """Features and targets as arrays, with the task they pose."""

    name: str
    X: np.ndarray  # (N, F) float32
    y: np.ndarray  # (N,) int64 class indices, or (N,) / (N, T) float32 values
    task: str
    feature_names: tuple[str, ...]
    classes: tuple = ()  # the label of each class index; empty for regression


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


def load_dataset(name: str) -> Dataset:
    """Load a bundled dataset by name (see ``BUNDLED``); nothing is downloaded."""
    if name not in BUNDLED:
        raise DataError(unknown_name("dataset", name, BUNDLED))
    X, y, task, names, classes = BUNDLED[name]()
    y = y.astype(np.float32) if task == REGRESSION else y.astype(np.int64)
    return Dataset(name, np.asarray(X, dtype=np.float32), y, task, names, classes)


@dataclass(frozen=True)
class Splits:
    """Train, validation and test arrays."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def split(data: Dataset, val_fraction: float, test_fraction: float, seed: int) -> Splits:
    """Seeded train/validation/test split, stratified for classification."""
    strat = data.y if data.task != REGRESSION else None
    X_rest, X_test, y_rest, y_test = train_test_split(
        data.X, data.y, test_size=test_fraction, random_state=seed, stratify=strat)
    strat = y_rest if data.task != REGRESSION else None
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=val_fraction / (1 - test_fraction), random_state=seed,
        stratify=strat)
    return Splits(X_train, y_train, X_val, y_val, X_test, y_test)


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


def to_device(splits: Splits, task: str, device: torch.device, n_classes: int = 0) -> DeviceData:
    """Standardise on the training split and move every split to ``device`` once."""
    fs = Standardizer.fit(splits.X_train)
    ys = [splits.y_train, splits.y_val, splits.y_test]
    ts = None
    if task == REGRESSION:
        ys = [y.reshape(len(y), -1) for y in ys]
        ts = Standardizer.fit(ys[0])
        ys[0] = ts.transform(ys[0])
        n_outputs = ys[0].shape[1]
    else:
        n_outputs = n_classes or int(max(y.max() for y in ys)) + 1
    t = lambda a: torch.as_tensor(a).to(device)  # noqa: E731
    return DeviceData(task, n_outputs, t(fs.transform(splits.X_train)), t(ys[0]),
                      t(fs.transform(splits.X_val)), t(ys[1]), t(fs.transform(splits.X_test)),
                      t(ys[2]), fs, ts, device)
