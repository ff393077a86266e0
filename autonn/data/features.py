"""Raw feature rows -> the network's input matrix, described as JSON and applied with NumPy.

A ``FeatureEncoder`` is the exportable form of the preprocessing fitted during a search: either
the identity on numeric columns (arrays and bundled datasets) or the table ``ColumnTransformer``
of ``autonn.data.tables`` (median imputation with missing-value indicators and scaling, one-hot
encoding with rare and unknown levels grouped, dates expanded into parts). It is plain data, so an
exported model carries it without pickles, and it checks every input table before encoding it:
missing, unexpected or renamed columns and values of the wrong kind are named, with the row.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from autonn.data.files import where
from autonn.errors import DataError, DataWarning

MISSING_LEVEL = "(missing)"  # what ``as_text`` writes for an empty categorical cell
DATE_PARTS = ("year", "month", "day", "day_of_week", "hour")


@dataclass(frozen=True)
class Block:
    """One group of columns and how it is encoded.

    kind ``numbers``: values as they are (no missing values allowed).
    kind ``numeric``: median ``fill``, then indicators for the ``indicate`` columns, then scaling.
    kind ``onehot``: one column per level of ``levels`` (per input column), plus an "other" column
    where ``other`` is true, which also takes levels never seen in training.
    kind ``dates``: year/month/day/weekday/hour of each column, median ``fill``, then scaling.
    """

    kind: str
    columns: list[str]
    fill: list[float] = field(default_factory=list)
    indicate: list[int] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    levels: list[list[str]] = field(default_factory=list)
    other: list[bool] = field(default_factory=list)
    rare: list[list[str]] = field(default_factory=list)  # seen in training, encoded as "other"


@dataclass(frozen=True)
class FeatureEncoder:
    """The columns a model takes (``columns``, in the training table's order) and how they become
    the network's ``n_features`` inputs. ``ignored`` columns are accepted and not used."""

    columns: list[str]
    blocks: list[Block]
    ignored: list[str] = field(default_factory=list)

    @property
    def used(self) -> list[str]:
        return [c for b in self.blocks for c in b.columns]

    @property
    def n_features(self) -> int:
        return sum(_width(b) for b in self.blocks)

    def to_json(self) -> dict[str, Any]:
        return {"columns": self.columns, "ignored": self.ignored,
                "blocks": [{k: v for k, v in asdict(b).items() if v or k in ("kind", "columns")}
                           for b in self.blocks]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureEncoder:
        return cls(list(data["columns"]), [Block(**b) for b in data["blocks"]],
                   list(data.get("ignored", [])))

    def encode(self, frame: pd.DataFrame | np.ndarray, source: str = "input",
               allowed_extra: tuple[str, ...] = (), strict: bool = False) -> np.ndarray:
        """Check ``frame``'s columns and values, then encode it to a float32 (N, n_features).

        Rows with categories the training rows never held, or dates that do not parse, encode
        as "other" and as the training median: a DataWarning says how many rows (a DataError
        with ``strict``).
        """
        frame = self._as_frame(frame, source, allowed_extra)
        self._check_surprises(frame, source, strict)
        parts = [_ENCODERS[b.kind](b, frame, source) for b in self.blocks]
        return np.concatenate(parts, axis=1).astype(np.float32) if parts else np.empty((len(frame), 0))

    def _check_surprises(self, frame: pd.DataFrame, source: str, strict: bool) -> None:
        counts, rows = {}, np.zeros(len(frame), dtype=bool)
        for b in self.blocks:
            for column, hit in _SURPRISES.get(b.kind, _none)(b, frame):
                if hit.any():
                    counts[column] = int(hit.sum())
                    rows |= hit
        if not counts:
            return
        detail = ", ".join(f"'{c}': {n}" for c, n in counts.items())
        message = (f"{source}: {int(rows.sum())} of {len(frame)} rows hold categories the model "
                   f"never saw or dates that do not parse ({detail}); they are encoded as "
                   "'other' and as the training median")
        if strict:
            raise DataError(message + "; fix them, or predict without --strict.")
        warnings.warn(message + ".", DataWarning, stacklevel=4)

    def _as_frame(self, frame: Any, source: str, allowed_extra: tuple[str, ...]) -> pd.DataFrame:
        if not isinstance(frame, pd.DataFrame):
            array = np.asarray(frame)
            if array.ndim != 2 or array.shape[1] != len(self.columns):
                raise DataError(f"{source}: expected rows of {len(self.columns)} values (columns "
                                f"{', '.join(self.columns)}), got shape {array.shape}.")
            return pd.DataFrame(array, columns=self.columns)
        names = [str(c) for c in frame.columns]
        missing = [c for c in self.used if c not in names]
        extra = [c for c in names if c not in self.columns and c not in allowed_extra]
        if missing or extra:
            problems = []
            if missing:
                problems.append(f"missing column(s) {', '.join(map(repr, missing))}")
            if extra:
                problems.append(f"unexpected column(s) {', '.join(map(repr, extra))}")
            renamed = [f"'{e}' for '{m}'" for e in extra
                       for m in difflib.get_close_matches(e, missing, n=1, cutoff=0.6)]
            hint = f" Renamed? {', '.join(renamed)}." if renamed else ""
            raise DataError(f"{source}: {'; '.join(problems)}. The model takes the columns "
                            f"{', '.join(self.columns)}.{hint}")
        return frame.set_axis(names, axis=1)


def _width(b: Block) -> int:
    if b.kind == "onehot":
        return sum(len(levels) + other for levels, other in zip(b.levels, b.other))
    if b.kind == "dates":
        return len(b.columns) * len(DATE_PARTS)
    return len(b.columns) + len(b.indicate)


def _numbers(frame: pd.DataFrame, columns: list[str], source: str) -> np.ndarray:
    """The columns as float64; a value that is not a number is named with its row."""
    out = np.empty((len(frame), len(columns)))
    for j, column in enumerate(columns):
        values = frame[column]
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
            parsed = pd.to_numeric(values, errors="coerce")
            bad = parsed.isna() & values.notna()
            if bad.any() or pd.api.types.is_bool_dtype(values):
                row = values.index[bad.to_numpy().argmax()] if bad.any() else values.index[0]
                raise DataError(f"{source}: column '{column}' must hold numbers, but "
                                f"{where(row, values.index)} "
                                f"holds {values[row]!r} ({values.dtype}); fix that value or the "
                                "column's type.")
            values = parsed
        out[:, j] = values.to_numpy(dtype=float, na_value=np.nan)
    return out


def _encode_numbers(b: Block, frame: pd.DataFrame, source: str) -> np.ndarray:
    x = _numbers(frame, b.columns, source)
    if np.isnan(x).any():
        row, col = np.argwhere(np.isnan(x))[0]
        raise DataError(f"{source}: column '{b.columns[col]}' is empty at "
                        f"{where(frame.index[row], frame.index)}; "
                        "this model was trained without missing values, so fill it in.")
    return x


def _scaled(x: np.ndarray, b: Block) -> np.ndarray:
    return (x - np.asarray(b.mean)) / np.asarray(b.scale)


def _encode_numeric(b: Block, frame: pd.DataFrame, source: str) -> np.ndarray:
    x = _numbers(frame, b.columns, source)
    empty = np.isnan(x)
    filled = np.where(empty, np.asarray(b.fill), x)
    return _scaled(np.concatenate([filled, empty[:, b.indicate].astype(float)], axis=1), b)


def as_text(frame: pd.DataFrame) -> np.ndarray:
    """Categorical cells as text, empty ones as ``MISSING_LEVEL``."""
    return frame.astype("object").where(frame.notna(), MISSING_LEVEL).astype(str).to_numpy()


def date_parts(frame: pd.DataFrame) -> np.ndarray:
    """Year, month, day, weekday and hour of each column (NaN where a value is no date)."""
    cols = []
    for column in frame.columns:
        stamps = pd.to_datetime(frame[column], errors="coerce", format="ISO8601")
        cols += [getattr(stamps.dt, part).astype(float).to_numpy() for part in DATE_PARTS]
    return np.column_stack(cols)


def _encode_onehot(b: Block, frame: pd.DataFrame, source: str) -> np.ndarray:
    parts = []
    texts = as_text(frame[b.columns])
    for j, (levels, other) in enumerate(zip(b.levels, b.other)):
        hot = (texts[:, j, None] == np.asarray(levels, dtype=object)[None, :]).astype(float)
        parts.append(hot)
        if other:
            parts.append((hot.sum(axis=1, keepdims=True) == 0).astype(float))
    return np.concatenate(parts, axis=1)


def _unseen(b: Block, frame: pd.DataFrame):
    """(column, rows whose category training never held) of a onehot block."""
    texts = as_text(frame[b.columns])
    rare = b.rare or [[] for _ in b.columns]  # files before 0.2 kept no rare levels
    for j, column in enumerate(b.columns):
        known = {*b.levels[j], *rare[j], MISSING_LEVEL}
        yield column, np.array([t not in known for t in texts[:, j]], dtype=bool)


def _unparsed(b: Block, frame: pd.DataFrame):
    """(column, rows holding a value that is not a date) of a dates block."""
    for column in b.columns:
        values = frame[column]
        stamps = pd.to_datetime(values, errors="coerce", format="ISO8601")
        yield column, (stamps.isna() & values.notna()).to_numpy()


def _none(b: Block, frame: pd.DataFrame):
    return iter(())


_SURPRISES = {"onehot": _unseen, "dates": _unparsed}


def _encode_dates(b: Block, frame: pd.DataFrame, source: str) -> np.ndarray:
    x = date_parts(frame[b.columns])
    return _scaled(np.where(np.isnan(x), np.asarray(b.fill), x), b)


_ENCODERS = {"numbers": _encode_numbers, "numeric": _encode_numeric, "onehot": _encode_onehot,
             "dates": _encode_dates}


def identity_encoder(columns: list[str] | tuple[str, ...]) -> FeatureEncoder:
    """Numeric columns taken as they are (standardisation lives in the network module)."""
    columns = [str(c) for c in columns]
    return FeatureEncoder(columns, [Block("numbers", columns)])


def from_column_transformer(transformer: Any) -> FeatureEncoder:
    """The JSON form of a ColumnTransformer fitted by ``autonn.data.tables.preprocessor``."""
    blocks = []
    for name, pipeline, columns in transformer.transformers_:
        if name == "remainder" or pipeline == "drop":
            continue
        steps = dict(pipeline.steps)
        columns = [str(c) for c in columns]
        if name == "numeric":
            imputer, scaler = steps["simpleimputer"], steps["standardscaler"]
            indicate = [int(i) for i in imputer.indicator_.features_] if imputer.indicator_ else []
            blocks.append(Block("numeric", columns, fill=_floats(imputer.statistics_),
                                indicate=indicate, mean=_floats(scaler.mean_),
                                scale=_floats(scaler.scale_)))
        elif name == "categorical":
            onehot = steps["onehotencoder"]
            infrequent = onehot.infrequent_categories_
            levels = [[str(v) for v in cats if rare is None or v not in set(rare)]
                      for cats, rare in zip(onehot.categories_, infrequent)]
            blocks.append(Block("onehot", columns, levels=levels,
                                other=[rare is not None for rare in infrequent],
                                rare=[[str(v) for v in rare] if rare is not None else []
                                      for rare in infrequent]))
        elif name == "datetime":
            imputer, scaler = steps["simpleimputer"], steps["standardscaler"]
            blocks.append(Block("dates", columns, fill=_floats(imputer.statistics_),
                                mean=_floats(scaler.mean_), scale=_floats(scaler.scale_)))
        else:
            raise ValueError(f"unknown preprocessing step '{name}'")
    all_columns = [str(c) for c in transformer.feature_names_in_]
    used = {c for b in blocks for c in b.columns}
    return FeatureEncoder(all_columns, blocks, [c for c in all_columns if c not in used])


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=float)]
