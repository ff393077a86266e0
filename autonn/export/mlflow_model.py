"""The mlflow format: an MLflow pyfunc model directory that ``mlflow models predict`` and
``mlflow.pyfunc.load_model`` serve.

Its loader module is ``autonn.pyfunc`` (a stable name: every exported MLmodel file carries it),
its data a state_dict file, so loading unpickles nothing; autonn's sources travel under ``code/``
so the model serves where autonn is not installed. autonn itself reads the data file directly,
without MLflow's loader. Other MLflow models (pickled python_model, other loaders) load only when
trusted.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from autonn.errors import ModelFileError
from autonn.export import state_dict
from autonn.export.bundle import Bundle
from autonn.export.mlflow_signature import model_signature, requirements
from autonn.export.pipeline import Backend
from autonn.export.predictor import Predictor

DATA_FILE = "model.safetensors"
LOADER = "autonn.pyfunc"
PACKAGE_DIR = Path(__file__).resolve().parent.parent  # autonn/, copied under code/


def write(bundle: Bundle, path: Path, example: Any = None) -> None:
    """Save ``bundle`` as an MLflow pyfunc model directory at ``path``."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        mlflow.pyfunc.save_model(str(path), **model_args(bundle, Path(tmp), example))


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


def read(path: Path, trust: bool = False, source: str | None = None
         ) -> tuple[Bundle | None, Backend | Any]:
    """autonn's own MLflow model as (bundle, backend), read from its safetensors data; any other
    MLflow model, when trusted, as (None, its pyfunc)."""
    import yaml

    source = source or str(path)
    try:
        spec = yaml.safe_load((path / "MLmodel").read_text())
        pyfunc = spec["flavors"]["python_function"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        raise ModelFileError(f"{source}: not an MLflow model directory (no readable MLmodel with "
                             "a python_function flavor).") from None
    if pyfunc.get("loader_module") == LOADER and "data" in pyfunc:
        data = path / pyfunc["data"]
        return state_dict.read(data / DATA_FILE if data.is_dir() else data, source=source)
    if not trust:
        raise ModelFileError(
            f"{source}: an MLflow model autonn did not write (loader "
            f"{pyfunc.get('loader_module')!r}); loading it can run pickled code. Load it only if "
            "you trust where it came from, with --trust-model (Python: trust_model=True).")
    import mlflow

    return None, mlflow.pyfunc.load_model(str(path))


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
