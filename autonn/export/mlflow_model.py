"""The mlflow format: an MLflow pyfunc model directory that ``mlflow models predict`` and
``mlflow.pyfunc.load_model`` serve.

Its loader module is ``autonn.pyfunc`` (a stable name: every exported MLmodel file carries it),
its data a state_dict file, so loading unpickles nothing; autonn's sources travel under ``code/``
so the model serves where autonn is not installed. autonn itself reads the data file directly,
without MLflow's loader, after checking the signature in ``autonn.sig`` over every file of the
directory (MLmodel, code/, the data). Other MLflow models (pickled python_model, other loaders) load only when
trusted.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from autonn.errors import ModelFileError
from autonn.export import bytecode, state_dict
from autonn.export.bundle import Bundle
from autonn.export.integrity import MAX_FILE_BYTES, read_once
from autonn.export.mlflow_signature import model_signature, requirements
from autonn.export.pipeline import Backend
from autonn.export.predictor import Predictor
from autonn.export.signing import Provenance, admit, sign, verify

DATA_FILE = "model.safetensors"
SIGNATURE_FILE = "autonn.sig"  # the signature of every other file in the directory
KIND = "mlflow"
LOADER = "autonn.pyfunc"
PACKAGE_DIR = Path(__file__).resolve().parent.parent  # autonn/, copied under code/


def write(bundle: Bundle, path: Path, example: Any = None) -> None:
    """Save ``bundle`` as an MLflow pyfunc model directory at ``path``."""
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # no INFO lines in the user's terminal
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.pyfunc.save_model(str(path), **model_args(bundle, Path(tmp), example))
    files = read_tree(path, str(path))
    (path / SIGNATURE_FILE).write_text(sign(KIND, tree_parts(files)) + "\n")


def read_tree(path: Path, source: str) -> dict[str, bytes]:
    """Every file of a model directory by its relative path, each read once (links refused:
    they could lead anywhere), bytecode Python wrote when MLflow served it checked against its
    signed source (``bytecode``) and left out of what the signature covers."""
    files, total, pycache = {}, 0, {}
    for entry in sorted(path.rglob("*")):
        name = entry.relative_to(path).as_posix()
        if entry.is_symlink():
            raise ModelFileError(f"{source}: {name} is a symbolic link; an autonn MLflow export "
                                 "holds plain files only.")
        if entry.is_file() and name != SIGNATURE_FILE:
            data = read_once(entry, f"{source}/{name}", MAX_FILE_BYTES - total)
            total += len(data)
            inside = "__pycache__" in entry.relative_to(path).parts
            (pycache if inside else files)[name] = data
    for name, data in pycache.items():
        origin = bytecode.source_of(name)
        if origin not in files or not bytecode.matches(data, files[origin], name):
            raise ModelFileError(f"{source}: {name} is bytecode that is not the compiled form of "
                                 "a signed source, and MLflow would run it. If you served the "
                                 "model yourself, remove the __pycache__ folders (`find "
                                 f"{source} -name __pycache__ -exec rm -r {{}} +`) and check "
                                 "again.")
    return files


def tree_parts(files: dict[str, bytes]) -> list[bytes]:
    """What the signature covers: each file's relative path and bytes (MLmodel, code/, data)."""
    return [part for name in sorted(files) for part in (name.encode(), files[name])]


def model_args(bundle: Bundle, scratch: Path, example: Any = None) -> dict[str, Any]:
    """What ``mlflow.pyfunc.save_model`` / ``log_model`` take to store ``bundle``: its state_dict
    file as data, autonn's sources as code, minimal pinned requirements, the typed signature
    and input example (files are staged in ``scratch``)."""
    data = scratch / DATA_FILE
    state_dict.write(bundle, data)
    code = scratch / "autonn"  # the package's sources, so the model serves anywhere
    shutil.copytree(PACKAGE_DIR, code, ignore=shutil.ignore_patterns("__pycache__"))
    signature = model_signature(bundle, example)
    return {"loader_module": LOADER, "data_path": str(data), "code_paths": [str(code)],
            "pip_requirements": requirements(), "signature": signature,
            "input_example": example}


def checked(path: Path, source: str) -> tuple[dict[str, bytes], dict[str, Any], Provenance]:
    """The directory's files, its python_function flavor and who signed it; nothing is run."""
    import yaml

    files = read_tree(path, source)
    try:
        spec = yaml.safe_load(files["MLmodel"])
        pyfunc = spec["flavors"]["python_function"]
        if not isinstance(pyfunc, dict):
            raise TypeError
    except (KeyError, yaml.YAMLError, TypeError):
        raise ModelFileError(f"{source}: not an MLflow model directory (no readable MLmodel with "
                             "a python_function flavor).") from None
    try:
        signature = (path / SIGNATURE_FILE).read_text().strip()
    except FileNotFoundError:
        signature = None
    except (OSError, UnicodeDecodeError):
        raise ModelFileError(f"{source}: {SIGNATURE_FILE} cannot be read.") from None
    return files, pyfunc, verify(signature, KIND, tree_parts(files), source)


def provenance(path: Path, source: str) -> Provenance:
    return checked(path, source)[2]


def read(path: Path, trust: bool = False, source: str | None = None
         ) -> tuple[Bundle | None, Backend | Any, Provenance]:
    """autonn's own MLflow model as (bundle, backend, signer), read from its safetensors data; any
    other MLflow model, when trusted, as (None, its pyfunc, signer)."""
    source = source or str(path)
    files, pyfunc, signed = checked(path, source)
    if pyfunc.get("loader_module") == LOADER and "data" in pyfunc:
        admit(signed, trust, source)
        name = _data_file(path, pyfunc["data"], files, source)
        bundle, _ = state_dict.bundle_of(files[name], f"{source}/{name}")
        return bundle, state_dict.backend(bundle, source), signed
    if not trust:
        raise ModelFileError(
            f"{source}: an MLflow model autonn did not write (loader "
            f"{pyfunc.get('loader_module')!r}); loading it can run pickled code. Load it only if "
            "you trust where it came from, with --trust-model (Python: trust_model=True).")
    import mlflow

    return None, mlflow.pyfunc.load_model(str(path)), signed


def _data_file(path: Path, data: Any, files: dict[str, bytes], source: str) -> str:
    """The MLmodel's data file, by its path inside the directory (never outside it)."""
    root = path.resolve()
    target = (root / str(data)).resolve()
    if not target.is_relative_to(root) or target == root:
        raise ModelFileError(f"{source}: MLmodel field data = {str(data)!r} leads outside the "
                             "model directory; the directory is not an autonn export.")
    name = target.relative_to(root).as_posix()
    name = f"{name}/{DATA_FILE}" if f"{name}/{DATA_FILE}" in files else name
    if name not in files:
        raise ModelFileError(f"{source}: MLmodel field data = {str(data)!r} names no file in "
                             "the model directory.")
    return name


class AutonnPyfunc:
    """What ``mlflow.pyfunc.load_model`` wraps for an autonn MLflow export."""

    def __init__(self, bundle: Bundle, source: str = "MLflow model") -> None:
        self.predictor = Predictor(bundle, state_dict.backend(bundle, source), source)

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
        proba = bool((params or {}).get("proba", False))
        return self.predictor.predict_frame(model_input, proba=proba)


def load_pyfunc(data_path: str) -> AutonnPyfunc:
    """MLflow's entry point (through ``autonn.pyfunc._load_pyfunc``): the data is a state_dict."""
    path = Path(data_path)
    return AutonnPyfunc(state_dict.read_bundle(path / DATA_FILE if path.is_dir() else path))
