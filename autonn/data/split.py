"""A Dataset -> seeded train/validation/test splits, preprocessed with what the training rows fit.

Splits are stratified for classification and grouped when the dataset has groups. A table's
ColumnTransformer (``autonn.data.tables.preprocessor``) is fitted on the training rows only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from autonn.data.datasets import Dataset
from autonn.data.tables import preprocessor
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
    if not isinstance(X, np.ndarray):  # a DataFrame of raw columns
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
