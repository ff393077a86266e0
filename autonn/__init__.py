"""autonn: experiment-tracked neural-architecture search for PyTorch.

The public API. Errors import at once; everything else on first use (as optuna's ``_LazyImport``
does), so ``import autonn`` and ``autonn --help`` load no torch, optuna, scikit-learn or mlflow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from autonn.errors import (
    AutonnError,
    ConfigError,
    DataError,
    DeviceError,
    ModelFileError,
    StudyError,
    TrialDiverged,
)
from autonn.version import __version__ as __version__

# public name -> the module that defines it
_LAZY = {
    "AutoNNClassifier": "autonn.estimators",
    "AutoNNRegressor": "autonn.estimators",
    "Config": "autonn.config",
    "SpaceConfig": "autonn.config",
    "TrainingConfig": "autonn.config",
    "load_config": "autonn.config",
    "make_config": "autonn.config",
    "export_model": "autonn.search.exporting",
    "load": "autonn.export.loading",
    "prepare": "autonn.search.problem",
    "run_search": "autonn.search.run",
}

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time ``__getattr__`` loads these
    from autonn.config import (
        Config,
        SpaceConfig,
        TrainingConfig,
        load_config,
        make_config,
    )
    from autonn.estimators import AutoNNClassifier, AutoNNRegressor
    from autonn.export.loading import load
    from autonn.search.exporting import export_model
    from autonn.search.problem import prepare
    from autonn.search.run import run_search


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'autonn' has no attribute '{name}'")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = ["AutoNNClassifier", "AutoNNRegressor", "AutonnError", "Config", "ConfigError",
           "DataError", "DeviceError", "ModelFileError", "SpaceConfig", "StudyError",
           "TrainingConfig", "TrialDiverged", "export_model", "load", "load_config",
           "make_config", "prepare", "run_search"]
