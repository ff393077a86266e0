"""Table files in: CSV, TSV and Parquet, refused with one line when they are not usable tables.

A CSV or TSV header is read with the ``csv`` module, so a missing file, a wrong type or a missing
column is named before pandas loads; the rows are then read with pandas.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autonn.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

READERS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": ","}  # suffix -> delimiter
PARQUET = (".parquet", ".pq")
LINE = "line"  # the index name of a table read from a text file: its rows' line numbers


def header(path: str | Path, option: str = "--data") -> list[str] | None:
    """The column names of a CSV or TSV file (None for Parquet), checked for duplicates."""
    path = _existing(path, option)
    if path.suffix.lower() in PARQUET:
        return None
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            names = next(csv.reader(fh, delimiter=READERS[path.suffix.lower()]), None)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 (byte {exc.start}); save the file as UTF-8.") from None
    except csv.Error as exc:  # e.g. a header field over csv's 128 kB limit
        raise DataError(f"{path}: the header row cannot be read ({exc}); a header holds column "
                        "names, one short field per column.") from None
    if not names:
        raise DataError(f"{path}: the file is empty; it needs a header row and data rows.")
    no_duplicate_columns(names, path)
    return names


def read_table(path: str | Path, option: str = "--data") -> pd.DataFrame:
    """Read a CSV, TSV or Parquet file, refusing what is not a usable table."""
    import pandas as pd  # pandas loads in half a second: only once the header is known good

    names = header(path, option)
    path = Path(path)
    if names is None:
        return _read_parquet(path)
    try:
        frame = pd.read_csv(path, sep=READERS[path.suffix.lower()], encoding="utf-8",
                            low_memory=False)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 (byte {exc.start}); save the file as UTF-8.") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{path}: not a readable table ({str(exc).splitlines()[0]}).") from None
    if frame.empty:
        raise DataError(f"{path}: the file has a header but no data rows.")
    # each row labelled by its line in the file (the header is line 1), so errors name the line
    # an editor shows
    return frame.set_axis(pd.RangeIndex(2, len(frame) + 2, name=LINE), axis=0)


def where(index: Any, labels: Any) -> str:
    """``line 59`` for a row read from a text file (``read_table`` labels rows by line), else
    ``row 57``."""
    return f"{'line' if getattr(labels, 'name', None) == LINE else 'row'} {index}"


def _existing(path: str | Path, option: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; check the path given to {option}.")
    suffix = path.suffix.lower()
    if suffix not in READERS and suffix not in PARQUET:
        raise DataError(f"{path}: unknown file type '{suffix}'; use .csv, .tsv or .parquet.")
    return path


def _read_parquet(path: Path) -> pd.DataFrame:
    import pandas as pd  # as in read_table

    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises its own error types for non-Parquet bytes
        raise DataError(f"{path}: not a readable Parquet file ({type(exc).__name__}).") from None
    no_duplicate_columns(list(frame.columns), path)
    if frame.empty:
        raise DataError(f"{path}: the file has columns but no data rows.")
    return frame


def no_duplicate_columns(columns: Sequence[Any], source: str | Path) -> None:
    """Refuse a table whose column names repeat."""
    dupes = sorted(str(c) for c, n in Counter(columns).items() if n > 1)
    if dupes:
        raise DataError(f"{source}: duplicate column names: {', '.join(dupes)}; rename them so each "
                        "column is unique.")


def require_columns(source: str | Path, columns: Sequence[Any], target: str,
                    group_column: str | None = None) -> None:
    """Name a target or group column the table lacks, with the columns it has."""
    for role, name in (("target", target), ("group", group_column)):
        if name is not None and name not in columns:
            raise DataError(f"{source}: no {role} column '{name}'. Columns: "
                            f"{', '.join(map(str, columns))}.")
