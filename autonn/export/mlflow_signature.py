"""What an MLflow export declares to its servers: a typed signature and minimal requirements.

Input columns are typed as the encoder takes them: numeric columns ``double`` (the model fills
gaps in them, and an integer column with a gap arrives as floats: MLflow refuses floats in a
``long`` column), categorical ones ``string`` (``boolean`` where the training column was), date
columns ``datetime`` where the training column held datetimes, else ``string`` (ISO text, parsed by
autonn). Only the columns the model uses are required; ignored ones take any type. Values MLflow's
types cannot judge (a typo in a text cell, an unparseable date) still reach autonn's own checks,
which name the row.
"""

from __future__ import annotations

from typing import Any

from autonn.export.bundle import Bundle

# The packages ``autonn.pyfunc`` imports besides torch (autonn's sources travel under code/), and
# mlflow-skinny, the pyfunc loader: MLflow adds all of mlflow (scikit-learn, scipy, flask, ...)
# to any requirements that name no MLflow distribution.
SERVING_PACKAGES = ("mlflow-skinny", "numpy", "pandas", "safetensors")


def requirements() -> list[str]:
    """Pinned requirements for serving: torch by release (any build, the CPU one is enough; the
    weights are plain safetensors), the rest at the versions autonn was run with."""
    from importlib.metadata import version

    torch = version("torch").split("+")[0]  # no local tag (+cpu, +cu124): PyPI has none
    major, minor = torch.split(".")[:2]
    return [f"torch>={major}.{minor},<{int(major) + 1}"] + [
        f"{name}=={version(name).split('+')[0]}" for name in SERVING_PACKAGES]


def input_types(bundle: Bundle, example: Any = None) -> dict[str, str]:
    """The MLflow type of each column the model uses (``example``: rows of the training table,
    whose dtypes tell booleans and datetimes apart)."""
    import pandas as pd

    dtypes = dict(example.dtypes) if isinstance(example, pd.DataFrame) else {}
    types = {}
    for block in bundle.encoder.blocks:
        for column in block.columns:
            dtype = dtypes.get(column)
            if block.kind in ("numbers", "numeric"):
                types[column] = "double"
            elif block.kind == "dates":
                datetime = dtype is not None and pd.api.types.is_datetime64_any_dtype(dtype)
                types[column] = "datetime" if datetime else "string"
            else:
                boolean = dtype is not None and pd.api.types.is_bool_dtype(dtype)
                types[column] = "boolean" if boolean else "string"
    return types


def model_signature(bundle: Bundle, example: Any = None) -> Any:
    """The typed ModelSignature (see the module docstring), with the ``proba`` parameter."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, ParamSchema, ParamSpec, Schema

    types = input_types(bundle, example)
    inputs = Schema([ColSpec(types[c], c) if c in types else ColSpec(AnyType(), c, required=False)
                     for c in bundle.encoder.columns])
    params = ParamSchema([ParamSpec("proba", "boolean", False)])
    return ModelSignature(inputs, Schema(_outputs(bundle)), params)


def _outputs(bundle: Bundle) -> list[Any]:
    """The label column(s); with ``proba`` one ``proba_<label>`` column per class instead."""
    from mlflow.types.schema import ColSpec

    names = bundle.target or "prediction"
    names = names if isinstance(names, list) else [names]
    if not bundle.is_classifier:
        return [ColSpec("double", n) for n in names]
    label = _label_type(bundle.classes)
    return [ColSpec(label, n) for n in names] + [
        ColSpec("double", f"proba_{c}", required=False) for c in bundle.classes]


def _label_type(classes: list[Any]) -> str:
    if classes and all(isinstance(c, bool) for c in classes):
        return "boolean"
    if classes and all(isinstance(c, int) for c in classes):
        return "long"
    if classes and all(isinstance(c, (int, float)) for c in classes):
        return "double"
    return "string"
