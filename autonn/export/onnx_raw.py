"""The onnx_raw format: one .onnx file whose graph takes the table's raw columns, so onnxruntime
alone serves raw rows, with no autonn, pandas or scikit-learn beside it.

The preprocessing fitted in the search becomes plain ONNX operators in front of the network graph
of the onnx format (``onnx_model``), joined at the tensor ``features``:

    numeric columns   float32 (batch, 1) each; NaN is a gap: median fill (Where), missing-value
                      indicators (Gather + Cast), then (x - mean) / scale. A model trained on
                      a numeric array (a bundled dataset) has no fill: NaN comes out as NaN
    text columns      string (batch, 1) each; ai.onnx.ml LabelEncoder to the level's index (-1
                      for a level training never held, which goes to the "other" column), then
                      one-hot (Equal + Cast); an empty string is a gap, as an empty CSV cell is

Tables with date columns are refused: their parsing has no ONNX operator. The file carries the
same manifest, digest and signature as an onnx export, and ``autonn.load`` reads it (it runs the
network part on autonn's own encoding, which names bad values with their rows).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from autonn.data.features import MISSING_LEVEL, Block, FeatureEncoder, as_text
from autonn.errors import ConfigError
from autonn.export import onnx_model
from autonn.export.bundle import Bundle
from autonn.export.onnx_model import ONNX_INPUT, ONNX_OPSET

ML_DOMAIN, ML_OPSET = "ai.onnx.ml", 2  # LabelEncoder with string keys and int64 values
PREFIX = "autonn_pre/"  # of the graph's own tensors, apart from the columns' names


def write(bundle: Bundle, path: Path, example: object = None) -> None:
    """The onnx export with the preprocessing graph in front: one input per raw column."""
    preprocessing = preprocessing_model(bundle.encoder)  # refuses date columns before any work
    onnx_model.write(bundle, path, example, before=preprocessing)


# read as an onnx export: the onnx reader runs the network part of the graph
read, provenance = onnx_model.read, onnx_model.provenance


def preprocessing_model(encoder: FeatureEncoder) -> Any:
    """An ONNX model from the raw columns to ``features``: float32 (batch, n_features)."""
    from onnx import TensorProto, helper

    dates = [c for b in encoder.blocks if b.kind == "dates" for c in b.columns]
    if dates:
        raise ConfigError(f"onnx_raw: the columns {dates} hold dates, which ONNX cannot parse; "
                          "export with --format onnx (a graph over the encoded features) and "
                          "encode rows with autonn, or drop the date columns from the data.")
    clashes = [c for c in encoder.used if c in (ONNX_INPUT, "probabilities", "values")
               or c.startswith(PREFIX)]
    if clashes:
        raise ConfigError(f"onnx_raw: the columns {clashes} have names the graph uses itself; "
                          "rename them in the data (or export with --format onnx).")
    graph = _Graph()
    parts = [_BLOCKS[b.kind](graph, b, i) for i, b in enumerate(encoder.blocks)]
    graph.node("Concat", parts, [ONNX_INPUT], axis=1)
    out = helper.make_tensor_value_info(ONNX_INPUT, TensorProto.FLOAT, ["batch", encoder.n_features])
    model = helper.make_model(
        helper.make_graph(graph.nodes, "autonn_preprocessing", graph.inputs, [out], graph.constants),
        opset_imports=[helper.make_opsetid("", ONNX_OPSET), helper.make_opsetid(ML_DOMAIN, ML_OPSET)])
    return model


class _Graph:
    """Nodes, inputs and constants as they are added; names are unique by construction."""

    def __init__(self):
        self.nodes, self.inputs, self.constants = [], [], []

    def node(self, op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> str:
        from onnx import helper

        domain = ML_DOMAIN if op == "LabelEncoder" else ""
        self.nodes.append(helper.make_node(op, inputs, outputs, domain=domain, **attrs))
        return outputs[0]

    def constant(self, name: str, values: Any, dtype: Any) -> str:
        from onnx import numpy_helper

        self.constants.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), name))
        return name

    def column(self, name: str, text: bool) -> str:
        from onnx import TensorProto, helper

        kind = TensorProto.STRING if text else TensorProto.FLOAT
        self.inputs.append(helper.make_tensor_value_info(name, kind, ["batch", 1]))
        return name


def _numbers(g: _Graph, b: Block, i: int) -> str:
    """Columns used as they are: (batch, len(columns))."""
    n = f"{PREFIX}b{i}_"
    return g.node("Concat", [g.column(c, text=False) for c in b.columns], [f"{n}x"], axis=1)


def _numeric(g: _Graph, b: Block, i: int) -> str:
    """Median fill, indicators of the ``indicate`` columns' gaps, then scaling."""
    n = f"{PREFIX}b{i}_"
    x = _numbers(g, b, i)
    gaps = g.node("IsNaN", [x], [f"{n}gaps"])
    pieces = [g.node("Where", [gaps, g.constant(f"{n}fill", [b.fill], np.float32), x],
                     [f"{n}filled"])]
    if b.indicate:
        chosen = g.node("Gather", [gaps, g.constant(f"{n}indicate", b.indicate, np.int64)],
                        [f"{n}chosen"], axis=1)
        pieces.append(g.node("Cast", [chosen], [f"{n}indicators"], to=1))  # float32
    joined = g.node("Concat", pieces, [f"{n}joined"], axis=1)
    centred = g.node("Sub", [joined, g.constant(f"{n}mean", [b.mean], np.float32)],
                     [f"{n}centred"])
    return g.node("Div", [centred, g.constant(f"{n}scale", [b.scale], np.float32)],
                  [f"{n}scaled"])


def _onehot(g: _Graph, b: Block, i: int) -> str:
    """Per column: the level's index (-1: other), then one column per level and the other's."""
    pieces = []
    for j, (column, levels, other) in enumerate(zip(b.columns, b.levels, b.other)):
        name = f"{PREFIX}b{i}_c{j}"  # this column's tensors
        gap = MISSING_LEVEL in levels and "" not in levels  # "" is a gap too, unless a level
        keys = list(levels) + ([""] if gap else [])
        values = list(range(len(levels))) + ([levels.index(MISSING_LEVEL)] if gap else [])
        index = g.node("LabelEncoder", [g.column(column, text=True)], [f"{name}_index"],
                       keys_strings=keys or ["\0"], values_int64s=values or [-1],
                       default_int64=-1)
        if levels:
            hot = g.node("Equal", [index, g.constant(f"{name}_levels", [range(len(levels))],
                                                     np.int64)], [f"{name}_hot"])
            pieces.append(g.node("Cast", [hot], [f"{name}_onehot"], to=1))
        if other:
            unseen = g.node("Less", [index, g.constant(f"{name}_zero", [[0]], np.int64)],
                            [f"{name}_unseen"])
            pieces.append(g.node("Cast", [unseen], [f"{name}_other"], to=1))
    return g.node("Concat", pieces, [f"{PREFIX}b{i}_onehot"], axis=1)


_BLOCKS = {"numbers": _numbers, "numeric": _numeric, "onehot": _onehot}


def raw_inputs(frame: Any, encoder: FeatureEncoder) -> dict[str, np.ndarray]:
    """A pandas table as this graph's inputs: float32 or string (batch, 1) per used column, gaps
    as NaN and as the text autonn reads them as."""
    text = {c for b in encoder.blocks if b.kind == "onehot" for c in b.columns}
    return {c: (as_text(frame[[c]]).astype(str) if c in text
                else frame[[c]].to_numpy(dtype=np.float32, na_value=np.nan))
            for b in encoder.blocks for c in b.columns}
