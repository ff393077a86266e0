"""The exported column encoding reproduces the search's fitted ColumnTransformer exactly."""

import json
import warnings

import numpy as np
import pytest
import torch
from test_tables import messy_frame

from autonn.components import ACTIVATIONS
from autonn.data.features import (
    FeatureEncoder,
    from_column_transformer,
    identity_encoder,
)
from autonn.data.tables import preprocessor
from autonn.export import onnx_model
from autonn.export.bundle import Bundle
from autonn.export.pipeline import ScoringModule
from autonn.families.builder import build_model
from autonn.training.weights import state_tensors


def test_the_json_encoding_matches_the_column_transformer():
    train = messy_frame(n=240, seed=0).drop(columns=["churn"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = preprocessor(train)
    encoder = FeatureEncoder.from_json(json.loads(json.dumps(from_column_transformer(fitted).to_json())))
    rows = messy_frame(n=60, seed=9).drop(columns=["churn"])
    rows.loc[0, "city"] = "Atlantis"  # a level never seen in training
    rows.loc[1, "age"] = np.nan
    rows.loc[2, "signup"] = "not a date"
    assert encoder.ignored == ["customer_id", "constant", "empty"]
    np.testing.assert_allclose(encoder.encode(rows), fitted.transform(rows), atol=1e-6)
    assert encoder.n_features == fitted.transform(rows).shape[1]


def test_ignored_columns_may_be_left_out():
    train = messy_frame(n=240).drop(columns=["churn"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        encoder = from_column_transformer(preprocessor(train))
    rows = messy_frame(n=40, seed=2).drop(columns=["churn", "customer_id", "constant", "empty"])
    assert encoder.encode(rows).shape == (40, encoder.n_features)


def test_arrays_are_taken_in_column_order():
    encoder = identity_encoder(["a", "b"])
    assert encoder.encode(np.array([[1.0, 2.0]])).tolist() == [[1.0, 2.0]]
    with pytest.raises(Exception, match=r"expected rows of 2 values"):
        encoder.encode(np.ones((1, 3)))


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_exports_to_onnx(activation, tmp_path):
    params = {"n_layers": 2, "width_0": 8, "width_1": 6, "activation": activation,
              "init": "he_uniform", "norm": "batch", "dropout": 0.1}
    torch.manual_seed(0)
    module = ScoringModule(build_model(params, 4, 3), "softmax", 4).eval()
    bundle = Bundle("multiclass", params, 3, "softmax", identity_encoder(list("abcd")),
                    ["x", "y", "z"], tensors=state_tensors(module))
    onnx_model.write(bundle, tmp_path / "m.onnx")
    _, run, _ = onnx_model.read(tmp_path / "m.onnx")
    x = torch.randn(7, 4)
    with torch.inference_mode():
        expected = module(x).numpy()
    np.testing.assert_allclose(run(x.numpy()), expected, atol=1e-5)
