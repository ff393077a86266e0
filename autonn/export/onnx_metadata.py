"""Standard, self-describing metadata of an ONNX export, for tools that know nothing of autonn.

onnxruntime shows it as ``InferenceSession(path).get_modelmeta()``: ``producer_name`` "autonn",
``description`` (the model's doc_string) and in ``custom_metadata_map`` these JSON-free or JSON
values:

    task             "binary", "multiclass" or "regression"
    class_labels     JSON list: the label of each output column (classifiers only)
    feature_names    JSON list: the name of each column of the graph's input, in order (for raw
                     numeric tables these are the table's columns; otherwise the encoded features)
    input_columns    JSON list: the raw table columns the whole pipeline takes (autonn.load)
    target           the target column, or a JSON list of them
    output           the graph's output: "probabilities" or "values"
    graph_input      "features" (the encoded matrix) or "raw_columns" (the onnx_raw format)
    metric, validation_score, test_score   how the search scored the model ("" when unknown);
                     validation_score is the whole model's (an ensemble's, on the rows it was
                     chosen on), not one of its trials'
    trials           JSON object: each trial in the model and its weight ({"12": 3, "7": 2})
    autonn_version   the autonn that wrote the file

Kept apart from the manifest and its digest (``autonn.export.onnx_model``): these keys are
written after the digest is taken, so they describe the file without taking part in its integrity.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from autonn.version import __version__

if TYPE_CHECKING:  # torch: for the exports' writers, not to read a model's scores
    from autonn.export.bundle import Bundle

ONNX_INPUT = "features"  # the network graph's input: the encoded (batch, n_features) matrix


def describe(model: Any, bundle: Bundle) -> None:
    """Add the standard metadata to the ONNX ModelProto ``model`` (in place)."""
    model.producer_name, model.producer_version = "autonn", __version__
    kind = "classifier" if bundle.is_classifier else "regressor"
    raw = all(i.name != ONNX_INPUT for i in model.graph.input)
    takes = ("one input per raw column it uses (named as the columns), (batch, 1) each: float32 "
             "for numbers (NaN: a gap, where the model was trained on a table with gaps), "
             "strings for text columns ('': a gap)" if raw else
             f"input 'features' is a float32 (batch, {bundle.n_features}) matrix, columns as "
             "in feature_names")
    model.doc_string = f"autonn {bundle.task} {kind}: {takes}; output '{output_name(bundle)}'."
    values = {**standard_metadata(bundle), "graph_input": "raw_columns" if raw else ONNX_INPUT}
    for key, value in values.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def output_name(bundle: Bundle) -> str:
    return "probabilities" if bundle.is_classifier else "values"


def standard_metadata(bundle: Bundle) -> dict[str, str]:
    """The keys of the module docstring, as strings."""
    info = bundle.info
    values = {"task": bundle.task, "feature_names": json.dumps(feature_names(bundle)),
              "input_columns": json.dumps(bundle.encoder.columns),
              "target": bundle.target if isinstance(bundle.target, str)
              else json.dumps(bundle.target),
              "output": output_name(bundle), "metric": str(info.get("metric") or ""),
              "validation_score": _number(validation_score(info)),
              "trials": json.dumps(info.get("trials") or {str(info.get("trial")): 1}),
              "test_score": _number(info.get("test_score")), "autonn_version": __version__}
    if bundle.is_classifier:
        values["class_labels"] = json.dumps([_plain(c) for c in bundle.classes])
    return values


def feature_names(bundle: Bundle) -> list[str]:
    """The name of each column of the network's input matrix, in order."""
    from autonn.data.features import DATE_PARTS  # pandas: for writers only

    names: list[str] = []
    for block in bundle.encoder.blocks:
        if block.kind == "onehot":
            for column, levels, other in zip(block.columns, block.levels, block.other):
                names += [f"{column}={level}" for level in levels]
                names += [f"{column}=(other)"] if other else []
        elif block.kind == "dates":
            names += [f"{column}_{part}" for column in block.columns for part in DATE_PARTS]
        else:
            names += list(block.columns)
            names += [f"{block.columns[i]}_missing" for i in block.indicate]
    return names


def validation_score(info: dict[str, Any]) -> float | None:
    """The model's own validation score: a final model's score on the rows it was chosen on
    (out of fold after cross-validation), or its one trial's score in the search."""
    chosen = info.get("selection_score")
    return chosen if chosen is not None else info.get("value")


def _number(value: Any) -> str:
    return "" if value is None else repr(float(value))


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
