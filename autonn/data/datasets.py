"""Datasets in: bundled sets by name, DataFrames and table files -> a ``Dataset``.

Nothing is downloaded: the bundled sets ship with scikit-learn or are generated. Tables are
validated by ``autonn.data.tables`` before any study or run exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from autonn.data.files import header, read_table, require_columns
from autonn.errors import ConfigError, DataError, unknown_name
from autonn.tasks import BINARY, MULTICLASS, REGRESSION

if TYPE_CHECKING:
    import pandas as pd

    from autonn.config import Config


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


def _sklearn(loader: str, task: str) -> Callable[[], tuple]:
    def load() -> tuple:
        from sklearn import (
            datasets,  # scikit-learn loads in seconds: only for a bundled set
        )

        bunch = getattr(datasets, loader)()
        names = getattr(bunch, "feature_names", None)
        names = tuple(names) if names is not None else tuple(
            f"x{i}" for i in range(bunch.data.shape[1]))
        classes = tuple(str(c) for c in bunch.target_names) if task != REGRESSION else ()
        return bunch.data, bunch.target, task, names, classes
    return load


def _generated(task: str) -> Callable[[], tuple]:
    def load() -> tuple:
        from sklearn import (
            datasets as skd,  # scikit-learn loads in seconds: only when used
        )

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
    "iris": _sklearn("load_iris", MULTICLASS),
    "wine": _sklearn("load_wine", MULTICLASS),
    "breast_cancer": _sklearn("load_breast_cancer", BINARY),
    "digits": _sklearn("load_digits", MULTICLASS),
    "diabetes": _sklearn("load_diabetes", REGRESSION),
    "synthetic_binary": _generated(BINARY),
    "synthetic_multiclass": _generated(MULTICLASS),
    "synthetic_regression": _generated(REGRESSION),
}


IMAGE_SHAPES = {"digits": (1, 8, 8)}  # bundled datasets whose rows are images


@dataclass(frozen=True)
class Facts:
    """What ``autonn datasets`` and ``autonn space`` tell of a bundled dataset without loading
    it (scikit-learn takes a second to import); a test holds these to the loaded data."""

    rows: int
    features: int
    task: str
    classes: int  # 0 for regression


FACTS: dict[str, Facts] = {
    "iris": Facts(150, 4, MULTICLASS, 3), "wine": Facts(178, 13, MULTICLASS, 3),
    "breast_cancer": Facts(569, 30, BINARY, 2), "digits": Facts(1797, 64, MULTICLASS, 10),
    "diabetes": Facts(442, 10, REGRESSION, 0), "synthetic_binary": Facts(1000, 20, BINARY, 2),
    "synthetic_multiclass": Facts(1000, 20, MULTICLASS, 4),
    "synthetic_regression": Facts(1000, 20, REGRESSION, 0)}


def facts_of(name: str) -> Facts:
    """The ``Facts`` of a bundled dataset, or a DataError naming the valid ones."""
    if name not in FACTS:
        raise DataError(unknown_name("dataset", name, FACTS))
    return FACTS[name]


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
    """A Dataset from a DataFrame of raw columns (see ``autonn.data.tables``)."""
    from autonn.data.tables import make_table  # pandas: loaded for tables only

    table = make_table(frame, target, task=task, source=name, group_column=group_column)
    return Dataset(name, table.features, table.y, table.task, tuple(map(str, table.features.columns)),
                   table.classes, table.groups)


def dataset_from_files(path: str, target: str, task: str = "auto", test_path: str | None = None,
                       group_column: str | None = None) -> Dataset:
    """A Dataset from a CSV/TSV/Parquet file, with an optional held-out test file."""
    columns = header(path)
    if columns is not None:  # a missing column is named before pandas loads
        require_columns(path, columns, target, group_column)
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


def example_rows(dataset: Dataset, n: int) -> pd.DataFrame:
    """The first ``n`` rows of the data as the model takes them (an input example)."""
    import pandas as pd  # pandas: loaded for tables only

    X = dataset.X
    if isinstance(X, pd.DataFrame):
        rows = X.iloc[:n].reset_index(drop=True)
    else:
        rows = pd.DataFrame(np.asarray(X[:n]), columns=list(dataset.feature_names))
    # numbers as float64, as CSV readers give them when a value is missing (MLflow's schema
    # refuses to narrow float64 to float32 or to take floats in an integer column)
    numeric = [c for c in rows.columns if pd.api.types.is_numeric_dtype(rows[c])
               and not pd.api.types.is_bool_dtype(rows[c])]
    return rows.astype({c: "float64" for c in numeric})


def example_to_json(rows: pd.DataFrame) -> str:
    """``example_rows`` as JSON that keeps each column's dtype (pandas' table schema)."""
    return rows.to_json(orient="table", index=False, date_format="iso")


def example_from_json(text: str) -> pd.DataFrame:
    """The rows ``example_to_json`` wrote, with their dtypes."""
    import io

    import pandas as pd

    return pd.read_json(io.StringIO(text), orient="table")


def load_data(config: Config, source: str = "config") -> Dataset:
    """The bundled dataset or the table file the config names."""
    if config.dataset and config.data:
        raise ConfigError(f"{source}: give either a dataset ({config.dataset}) or a data file "
                          f"({config.data}), not both.")
    if config.dataset:
        return load_dataset(config.dataset)
    if not config.data:
        raise ConfigError(f"{source}: no data given; pass --dataset NAME (see `autonn datasets`) "
                          "or --data FILE --target COLUMN.")
    if not config.target:
        raise ConfigError(f"{source}: --data {config.data} needs --target COLUMN, the column to "
                          "predict.")
    return dataset_from_files(config.data, config.target, config.task, config.test_data,
                              config.group_column)
