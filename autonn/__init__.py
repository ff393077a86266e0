"""autonn: experiment-tracked neural-architecture search for PyTorch."""

from autonn.config import Config, SpaceConfig, TrainingConfig, load_config, make_config
from autonn.estimators import AutoNNClassifier, AutoNNRegressor
from autonn.errors import AutonnError, ConfigError, DataError, DeviceError, StudyError, TrialDiverged
from autonn.export import export_model
from autonn.predictor import load
from autonn.search import prepare, run_search

__version__ = "0.1.0"

__all__ = [
    "AutoNNClassifier",
    "AutoNNRegressor",
    "AutonnError",
    "Config",
    "ConfigError",
    "DataError",
    "DeviceError",
    "SpaceConfig",
    "StudyError",
    "TrainingConfig",
    "TrialDiverged",
    "export_model",
    "load",
    "load_config",
    "make_config",
    "prepare",
    "run_search",
]
