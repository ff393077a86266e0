"""``autonn.load(path)``: any autonn export back as a predictor of raw feature rows.

    >>> model = autonn.load("iris.onnx")
    >>> model.predict(frame), model.predict_proba(frame)

The format is read from the file itself (each format in ``formats.FORMATS`` says how it looks),
never guessed from a pickle: pickles are refused outright.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from autonn.errors import ModelFileError
from autonn.export.formats import FORMATS
from autonn.export.signing import VERIFIED

if TYPE_CHECKING:  # torch: loaded with a model, not to check whose a file is
    from autonn.export.predictor import (  # pandas: loaded with a model only
        ForeignMlflowModel,
        Predictor,
    )

PICKLE_OPCODES = (b"\x80", b"(", b"c", b"]", b"}")  # a pickle's first byte, any protocol


def load(path: str | Path, trust_model: bool = False, expect_study: str | None = None
         ) -> Predictor | ForeignMlflowModel:
    """Load an export of any format. A file loads when it carries your signature (autonn
    exported it for you on this machine, see ``signing``), or with ``trust_model=True``; then a
    warning says so. Its ``provenance`` tells which, ``provenance_note`` also the study, trial
    and export time the signature covers; ``expect_study`` refuses an export of another
    study (one of your own signed exports swapped in for this one)."""
    from autonn.export.predictor import (  # pandas: loaded with a model only
        ForeignMlflowModel,
        Predictor,
    )

    path = Path(path)
    source = str(path)
    bundle, backend, provenance = FORMATS[_sniff(path, source)].read(path, trust_model, source)
    study = (bundle.info.get("study") if bundle is not None else None)
    if expect_study is not None and study != expect_study:
        raise ModelFileError(f"{source}: an export of study {study!r}, not of {expect_study!r}; "
                             "check --model (someone may have swapped it for another export).")
    if provenance.status != VERIFIED:
        warnings.warn(f"{source}: loaded because you trust it: {provenance}", UserWarning,
                      stacklevel=2)
    if bundle is None:  # a trusted MLflow model autonn did not write
        return ForeignMlflowModel(backend, source, provenance)
    return Predictor(bundle, backend, source, provenance)


def is_own_export(path: str | Path) -> bool:
    """Whether ``path`` is an export signed with your key (checked without running anything)."""
    path = Path(path)
    try:
        implementation = FORMATS[_sniff(path, str(path))].implementation()
        return implementation.provenance(path, str(path)).status == VERIFIED
    except ModelFileError:
        return False


def _sniff(path: Path, source: str) -> str:
    """The format of the file at ``path``, from its first bytes (never from a pickle)."""
    if path.is_dir() and not (path / "MLmodel").is_file():
        raise ModelFileError(f"{source}: a directory without an MLmodel file; give a model "
                             "file or an MLflow model directory.")
    if not path.exists():
        raise ModelFileError(f"{source}: no such model file; check --model.")
    head = b"" if path.is_dir() else _head(path)
    found = next((name for name, fmt in FORMATS.items() if fmt.matches(path, head)), None)
    if found:
        return found
    if head[:1] in PICKLE_OPCODES or _torch_save_zip(path, head):
        raise ModelFileError(f"{source}: looks like a pickle; autonn never loads pickles (they can "
                             "run any code). Export the model with `autonn export --format "
                             "state_dict`.")
    kinds = ", ".join(f"{f.suffix} ({name})" for name, f in FORMATS.items())
    raise ModelFileError(f"{source}: not a model format autonn reads; autonn exports are "
                         f"{kinds}.")


def _torch_save_zip(path: Path, head: bytes) -> bool:
    """Whether the file is ``torch.save``'s zip: a pickle (``data.pkl``) and its tensors."""
    if not head.startswith(b"PK"):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/data.pkl") for name in archive.namelist())
    except zipfile.BadZipFile:
        return False


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(16)
