"""A Dataset -> seeded train/validation/test splits, preprocessed with what the training rows fit.

Splits are stratified for classification and grouped when the dataset has groups. A table's
ColumnTransformer (``autonn.data.tables.preprocessor``) is fitted on the training rows only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from autonn.data.datasets import Dataset
from autonn.data.tables import NEAR_CONSTANT_ROWS, preprocessor
from autonn.errors import DataError
from autonn.tasks import REGRESSION


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
    groups: np.ndarray | None = None  # the group of each training row, when rows have groups

    def merged(self) -> Splits:
        """Training and validation rows together as the training rows (for a final refit)."""
        return Splits(np.concatenate([self.X_train, self.X_val]),
                      np.concatenate([self.y_train, self.y_val]), self.X_val[:0],
                      self.y_val[:0], self.X_test, self.y_test, self.preprocessor)


def split(data: Dataset, val_fraction: float, test_fraction: float, seed: int,
          near_constant_rows: int = NEAR_CONSTANT_ROWS) -> Splits:
    """Seeded train/validation/test split: stratified for classification, grouped by
    ``data.groups`` when given. A dataset with its own ``test`` set keeps all its rows for
    training and validation; ``val_fraction`` 0 leaves no validation rows (``kfold`` makes them).
    A table's columns are encoded by a ``preprocessor`` fitted on the training rows."""
    rows = np.arange(len(data.y))
    if data.test is None:
        _enough_per_class(data, 3)
        rest, test = _split_off(rows, data, test_fraction, seed)
        val_fraction = val_fraction / (1 - test_fraction)
    else:
        _enough_per_class(data, 2)
        rest, test = rows, None
    train, val = _split_off(rest, data, val_fraction, seed) if val_fraction else (rest, rest[:0])
    X, X_test, y_test = data.X, None, None
    pre = None
    if not isinstance(X, np.ndarray):  # a DataFrame of raw columns
        pre = preprocessor(X.iloc[train], data.name, near_constant_rows)
        X = pre.transform(X).astype(np.float32)
    if data.test is None:
        X_test, y_test = X[test], data.y[test]
    else:
        X_test = data.test.X if pre is None else pre.transform(data.test.X).astype(np.float32)
        y_test = data.test.y
    groups = data.groups[train] if data.groups is not None else None
    return Splits(X[train], data.y[train], X[val], data.y[val], X_test, y_test, pre, groups)


def kfold(splits: Splits, k: int, seed: int, task: str) -> tuple[list[Splits], list[np.ndarray]]:
    """``k`` train/validation splits of the training rows (stratified for classification,
    grouped when the rows have groups); the test rows stay. Also returns each fold's
    validation rows, as indices into the training rows."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

    X, y = splits.X_train, splits.y_train
    if splits.groups is not None:
        parts = GroupKFold(k, shuffle=True, random_state=seed).split(X, y, splits.groups)
    elif task != REGRESSION:
        with warnings.catch_warnings():  # a class with fewer rows than folds misses some folds
            warnings.simplefilter("ignore", UserWarning)
            parts = list(StratifiedKFold(k, shuffle=True, random_state=seed).split(X, y))
    else:
        parts = KFold(k, shuffle=True, random_state=seed).split(X)
    folds, rows = [], []
    for train, val in parts:
        groups = splits.groups[train] if splits.groups is not None else None
        folds.append(Splits(X[train], y[train], X[val], y[val], splits.X_test, splits.y_test,
                            splits.preprocessor, groups))
        rows.append(val)
    return folds, rows


def _split_off(rows: np.ndarray, data: Dataset, fraction: float, seed: int):
    if data.groups is not None:
        from sklearn.model_selection import GroupShuffleSplit
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        keep, off = next(splitter.split(rows, groups=data.groups[rows]))
        return rows[keep], rows[off]
    from sklearn.model_selection import train_test_split

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
