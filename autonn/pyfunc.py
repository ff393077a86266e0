"""The MLflow pyfunc loader of autonn's MLflow exports (``loader_module`` in their MLmodel).

MLflow calls ``_load_pyfunc(data_path)``; the data is a state_dict export, so loading unpickles
nothing. ``predict`` takes a DataFrame of raw feature rows; ``params={"proba": True}`` returns
class probabilities instead of labels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from autonn.bundle import Bundle


class AutonnPyfunc:
    """What ``mlflow.pyfunc.load_model`` wraps for an autonn MLflow export."""

    def __init__(self, bundle: Bundle, source: str = "MLflow model") -> None:
        from autonn.formats import state_dict_backend
        from autonn.predictor import Predictor

        self.predictor = Predictor(bundle, state_dict_backend(bundle, source), source)

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
        proba = bool((params or {}).get("proba", False))
        return self.predictor.predict_frame(model_input, proba=proba)


def _load_pyfunc(data_path: str) -> AutonnPyfunc:
    from autonn.formats import MLFLOW_DATA, read_state_dict

    path = Path(data_path)
    return AutonnPyfunc(read_state_dict(path / MLFLOW_DATA if path.is_dir() else path))
