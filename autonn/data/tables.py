"""Tables in: DataFrames -> validated features and encoded targets.

Everything wrong with a table is found here, before any study or run exists, and reported in one
line naming the file, the column and, where it helps, the row and the fix. Feature preprocessing
(imputation, scaling, one-hot encoding) is a scikit-learn ColumnTransformer fitted on the training
rows only, in ``preprocessor``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from autonn.data.features import DATE_PARTS, as_text, date_parts
from autonn.data.files import no_duplicate_columns, require_columns, where
from autonn.errors import DataError, DataWarning
from autonn.tasks import BINARY, MULTICLASS, REGRESSION

MAX_CLASSES = 20  # an integer target with more distinct values is a regression target
NUMERIC_SHARE = 0.8  # an object column this numeric is a numeric column with typos
# A column is near-constant, and dropped, when the training rows that differ from its most common
# value (a gap counts as a value) are fewer than NEAR_CONSTANT_ROWS (the config's
# training.near_constant_rows) and under NEAR_CONSTANT_SHARE of the rows ("near-zero variance", as
# caret's nearZeroVar filters, less eagerly). A network fits those few rows by heart:
# on grants (4914 training rows; 1100 of its 1502 columns are such indicators, most set on a handful
# of rows) a built-in start validated at 0.865 with them and 0.883 without, in 36 s instead of 94 s
# (benchmarks/near_constant.py). Both bounds: a small table keeps a column that 1% of its rows set.
NEAR_CONSTANT_ROWS = 20
NEAR_CONSTANT_SHARE = 0.01


@dataclass(frozen=True)
class Table:
    """A table's features, its encoded target and what they mean."""

    features: pd.DataFrame
    y: np.ndarray  # int64 class indices, or float32 values
    task: str
    classes: tuple = ()  # the user's label for each class index
    groups: np.ndarray | None = None


def make_table(frame: pd.DataFrame, target: str, *, task: str = "auto", source: str = "data",
               group_column: str | None = None) -> Table:
    """Validate ``frame`` and split it into features and an encoded ``target``."""
    no_duplicate_columns(list(frame.columns), source)
    require_columns(source, list(frame.columns), target, group_column)
    y = frame[target]
    if y.isna().all():
        raise DataError(f"{source}: target column '{target}' has no values.")
    missing = int(y.isna().sum())
    if missing:
        warnings.warn(f"{source}: dropped {missing} rows with no value in target column '{target}'.",
                      DataWarning, stacklevel=2)
        frame, y = frame[y.notna()], y[y.notna()]
    groups = None
    if group_column is not None:
        groups = frame[group_column].to_numpy()
    features = frame.drop(columns=[c for c in (target, group_column) if c is not None])
    if features.shape[1] == 0:
        raise DataError(f"{source}: no feature columns besides the target '{target}'.")
    _check_numeric_typos(features, source)
    task = infer_task(y) if task == "auto" else task
    if task == REGRESSION:
        values = pd.to_numeric(y, errors="coerce")
        if values.isna().any():
            bad = y[values.isna()].index[0]
            raise DataError(f"{source}: target column '{target}' is not numeric ({where(bad, y.index)}: "
                            f"{y[bad]!r}); pass --task binary or multiclass for labels.")
        return Table(features.reset_index(drop=True), values.to_numpy(np.float32), task, (), groups)
    classes, codes = np.unique(y.astype(str) if _is_text(y) else y, return_inverse=True)
    if len(classes) < 2:
        raise DataError(f"{source}: target column '{target}' has one class ({classes[0]!r}); "
                        "a classifier needs at least two.")
    return Table(features.reset_index(drop=True), codes.astype(np.int64), task,
                 tuple(c.item() if hasattr(c, "item") else c for c in classes), groups)


def infer_task(y: pd.Series) -> str:
    """Two classes: binary; a few labels: multiclass; many numbers: regression."""
    values = y.dropna()
    n = values.nunique()
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and (n > MAX_CLASSES or not np.all(np.mod(values.to_numpy(float), 1) == 0)):
        return REGRESSION
    return BINARY if n == 2 else MULTICLASS


def _check_numeric_typos(features: pd.DataFrame, source: str) -> None:
    """An object column that is mostly numbers holds a typo: name its first bad row and value."""
    for column in features.columns:
        values = features[column]
        if not _is_text(values):
            continue
        present = values.dropna()
        parsed = pd.to_numeric(present, errors="coerce")
        if len(present) and parsed.notna().mean() >= NUMERIC_SHARE and parsed.isna().any():
            row = parsed[parsed.isna()].index[0]
            raise DataError(f"{source}: column '{column}' is numeric but {where(row, values.index)} holds "
                            f"{present[row]!r}; fix or blank that value.")


def preprocessor(train: pd.DataFrame, source: str = "data",
                 near_constant_rows: int = NEAR_CONSTANT_ROWS):
    """A ColumnTransformer fitted on the training rows: numeric columns imputed and scaled,
    categorical ones one-hot encoded (rare levels grouped, unknown levels tolerated), datetime
    ones expanded; ID-like, constant, near-constant (other values on fewer than
    ``near_constant_rows`` training rows and under 1%; 0 keeps them) and empty columns dropped
    with a warning."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    numeric, categorical, dates = _column_kinds(train, source, near_constant_rows)
    parts = []
    if numeric:
        parts.append(("numeric", make_pipeline(SimpleImputer(strategy="median", add_indicator=True,
                                                             keep_empty_features=True),
                                               StandardScaler()), numeric))
    if categorical:
        parts.append(("categorical", make_pipeline(
            FunctionTransformer(as_text, feature_names_out="one-to-one"),
            OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5,
                          max_categories=50, sparse_output=False)), categorical))
    if dates:
        parts.append(("datetime", make_pipeline(
            FunctionTransformer(date_parts, feature_names_out=_date_part_names),
            SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()), dates))
    if not parts:
        raise DataError(f"{source}: no usable feature columns remain after dropping ID-like, "
                        "constant, near-constant and empty columns.")
    transformer = ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)
    return transformer.fit(train)


def _date_part_names(transformer, names) -> list[str]:
    return [f"{name}_{part}" for name in names for part in DATE_PARTS]


ID_NAME = re.compile(r"(^|_)(id|uuid|guid|key)$", re.IGNORECASE)


def _column_kinds(train: pd.DataFrame, source: str,
                  near_constant_rows: int) -> tuple[list, list, list]:
    """The usable columns by kind (numeric, categorical, dates); the others dropped with a
    warning (near-constant ones in one warning, or kept when nothing else is usable)."""
    usable, rare, n = [], [], len(train)  # (column, kind) pairs
    for column in train.columns:
        values = train[column]
        present = values.dropna()
        differing = _differing_rows(values)
        dropped = None
        if present.empty:
            dropped = "has no values"
        elif differing == 0:
            dropped = "is constant"
        elif _is_id_like(column, present, n):
            dropped = "looks like an ID (a different value on every row)"
        if dropped:
            warnings.warn(f"{source}: dropped column '{column}': it {dropped}.", DataWarning,
                          stacklevel=3)
            continue
        near_constant = differing < min(near_constant_rows, NEAR_CONSTANT_SHARE * n)
        (rare if near_constant else usable).append((column, _kind(values, present)))
    if rare:  # one warning: a wide table may have a thousand such columns
        names = [column for column, _ in rare]
        shown = ", ".join(f"'{c}'" for c in names[:5]) + (f" and {len(names) - 5} more"
                                                          if len(names) > 5 else "")
        what = (f"{len(names)} near-constant column(s) ({shown}): each has one value (a gap "
                f"counts as one) on all but fewer than {near_constant_rows} (and under "
                f"{NEAR_CONSTANT_SHARE:.0%}) of the {n} training rows")
        warnings.warn(f"{source}: dropped {what}, too few to learn from without fitting them by "
                      "heart; training.near_constant_rows: 0 in the config keeps them."
                      if usable else f"{source}: kept {what}: no other column is usable.",
                      DataWarning, stacklevel=3)
    kinds: tuple[list, list, list] = ([], [], [])
    for column, kind in usable or rare:
        kinds[kind].append(column)
    return kinds


def _kind(values: pd.Series, present: pd.Series) -> int:
    """A column's place in ``_column_kinds``: 0 numeric, 1 categorical, 2 dates."""
    if pd.api.types.is_datetime64_any_dtype(values) or _is_iso_dates(present):
        return 2
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return 0
    return 1


def _differing_rows(values: pd.Series) -> int:
    """Rows whose value differs from the column's most common one; every gap (None, NaN, NaT)
    counts as one value."""
    common = max(int(values.value_counts().max()) if values.notna().any() else 0,
                 int(values.isna().sum()))
    return len(values) - common


def _is_id_like(column, present: pd.Series, n: int) -> bool:
    if present.nunique() < n or n < 10:
        return False
    if _is_text(present):
        return not _is_iso_dates(present)
    return pd.api.types.is_integer_dtype(present) and bool(ID_NAME.search(str(column)))


def _is_text(values: pd.Series) -> bool:
    """Object or string dtype (pandas 3 reads text columns as ``str``)."""
    return pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)


def _is_iso_dates(present: pd.Series) -> bool:
    if not _is_text(present):
        return False
    parsed = pd.to_datetime(present.astype(str), errors="coerce", format="ISO8601")
    return bool(parsed.notna().mean() >= 0.95)
