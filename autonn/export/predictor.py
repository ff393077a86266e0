"""A loaded model as a predictor of raw feature rows: labels, probabilities or values in the
user's own terms (``autonn.load`` returns one; see ``autonn.export.loading``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from autonn.errors import ModelFileError
from autonn.export.bundle import Bundle
from autonn.export.integrity import private_home, sha256
from autonn.export.signing import Provenance
from autonn.export.staging import staged
from autonn.masking import spreadsheet_safe

if TYPE_CHECKING:
    from autonn.export.pipeline import Backend


class Predictor:
    """Raw feature rows in, labels (``predict``), class probabilities (``predict_proba``) or
    values out, in the user's own terms."""

    def __init__(self, bundle: Bundle, backend: Backend, source: str,
                 provenance: Provenance | None = None) -> None:
        self.bundle, self._backend, self.source = bundle, backend, source
        # who signed the file: "verified", "foreign" or "unsigned" (None: built in memory)
        self.provenance = provenance.status if provenance else None
        # the same for people, with what the signature binds: the study, trial and time
        self.provenance_note = f"{provenance}; {subject(bundle.info)}" if provenance else None

    @property
    def columns(self) -> list[str]:
        """The columns the model takes, in the training table's order."""
        return self.bundle.encoder.columns

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.bundle.classes, dtype=object if self.bundle.classes and isinstance(
            self.bundle.classes[0], str) else None)

    def encode(self, X: Any, source: str = "input", strict: bool = False) -> np.ndarray:
        """Check and encode raw rows into the network's input matrix (float32); ``strict``
        refuses rows of unseen categories or unparseable dates (else a DataWarning)."""
        target = self.bundle.target
        allowed = tuple(target) if isinstance(target, list) else (target,) if target else ()
        return self.bundle.encoder.encode(X, source, allowed_extra=allowed, strict=strict)

    def outputs(self, X: Any, source: str = "input", strict: bool = False) -> np.ndarray:
        """Probabilities (N, K) for classification, values (N, T) for regression."""
        x = self.encode(X, source, strict)
        if not len(x):
            width = len(self.bundle.classes) if self.bundle.is_classifier else self.bundle.n_targets
            return np.empty((0, width), dtype=np.float32)
        return np.asarray(self._backend(np.ascontiguousarray(x)))

    def predict_proba(self, X: Any, source: str = "input", strict: bool = False) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        if not self.bundle.is_classifier:
            raise ModelFileError(f"{self.source}: a regression model has no class probabilities; "
                                 "use predict.")
        return self.outputs(X, source, strict)

    def predict(self, X: Any, source: str = "input", strict: bool = False) -> np.ndarray:
        """Labels (classification) or values (regression, one column per target)."""
        out = self.outputs(X, source, strict)
        if self.bundle.is_classifier:
            return self.classes_[out.argmax(axis=1)]
        return out[:, 0] if out.shape[1] == 1 else out

    def predict_frame(self, X: Any, proba: bool = False, source: str = "input",
                      strict: bool = False) -> pd.DataFrame:
        """Predictions as a table: one column named after the target (or ``prediction``), or with
        ``proba`` one ``proba_<label>`` column per class."""
        if proba:
            return pd.DataFrame(self.predict_proba(X, source, strict),
                                columns=[f"proba_{c}" for c in self.bundle.classes])
        values = self.predict(X, source, strict)
        names = self.bundle.target or "prediction"
        names = names if isinstance(names, list) else [names]
        return pd.DataFrame(values.reshape(len(values), -1), columns=names)


def subject(info: dict[str, Any]) -> str:
    """Which model a file holds, from its signed manifest: ``study 'iris', trial 3, exported
    2026-12-02T18:00:00Z``."""
    trials = info.get("trials") or {}
    what = (f"the final model of trials {', '.join(map(str, trials))}" if len(trials) > 1
            else f"trial {info.get('trial', '?')}")
    return (f"study {str(info.get('study', '?'))!r}, {what}, exported "
            f"{info.get('exported_at', 'at an unrecorded time')}")


class ForeignMlflowModel:
    """A trusted MLflow model autonn did not write: predictions as its own pyfunc gives them."""

    def __init__(self, pyfunc: Any, source: str, provenance: Provenance | None = None) -> None:
        self.pyfunc, self.source = pyfunc, source
        self.provenance = provenance.status if provenance else None
        self.provenance_note = str(provenance) if provenance else None

    def predict(self, X: Any, source: str = "input") -> np.ndarray:
        return np.asarray(self.pyfunc.predict(X))

    def predict_proba(self, X: Any, source: str = "input") -> np.ndarray:
        raise ModelFileError(f"{self.source}: not an autonn model; only predict is available.")

    def predict_frame(self, X: Any, proba: bool = False, source: str = "input",
                      strict: bool = False) -> pd.DataFrame:
        if proba:
            self.predict_proba(X)
        out = self.predict(X)
        return pd.DataFrame(out.reshape(len(out), -1)).rename(columns=lambda i: f"prediction_{i}")


def spreadsheet_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell and column name a spreadsheet would run as a formula
    quoted: labels come from model files, which an attacker may have written."""
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    safe = frame.astype({c: object for c in text})
    for column in text:
        safe[column] = safe[column].map(spreadsheet_safe)
    return safe.set_axis([spreadsheet_safe(str(c)) for c in frame.columns], axis=1)


def write_predictions(frame: pd.DataFrame, path: str | Path, force: bool = False) -> None:
    """Write predictions as CSV or Parquet (by suffix), atomically. An existing file is replaced
    only if autonn wrote it as predictions (its sha256 is on record), or with ``force``."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise ModelFileError(f"--output {path}: write .csv or .parquet.")
    if not force and (path.is_symlink() or path.exists()) and not _written_here(path):
        raise ModelFileError(f"--output {path} exists and autonn did not write it; autonn will "
                             "not replace it. Give a new path, or --force to replace it.")
    with staged(path) as private:
        if path.suffix.lower() == ".csv":
            spreadsheet_frame(frame).to_csv(private, index=False)
        else:
            frame.to_parquet(private, index=False)
        written = sha256(private)
    (_record() / written).touch()


def _record() -> Path:
    """Where the sha256 of each predictions file autonn wrote is noted (one empty file each)."""
    folder = private_home() / "predictions"
    folder.mkdir(exist_ok=True, mode=0o700)
    return folder


def _written_here(path: Path) -> bool:
    return path.is_file() and not path.is_symlink() and (_record() / sha256(path)).exists()
