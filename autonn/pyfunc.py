"""The MLflow pyfunc loader named in every autonn MLflow export's MLmodel (``loader_module``).

A stable name across layouts: MLflow calls ``_load_pyfunc(data_path)``; the work is done by
``autonn.export.mlflow_model``.
"""

from __future__ import annotations

from autonn.export.mlflow_model import AutonnPyfunc
from autonn.export.mlflow_model import load_pyfunc as _load_pyfunc

__all__ = ["AutonnPyfunc", "_load_pyfunc"]
