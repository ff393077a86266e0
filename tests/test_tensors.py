"""Rows to tensors: standardisation fitted on the training rows, 0/1 columns kept, a soft clip."""

import numpy as np
import pytest
import torch

from autonn.data.split import Splits
from autonn.data.tensors import Standardizer, continuous_columns, to_device
from autonn.export.pipeline import ScoringModule


def test_binary_and_constant_columns_keep_their_values_and_others_are_standardised():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(5, 2, 200), rng.integers(0, 2, 200), np.full(200, 7.0)])
    s = Standardizer.fit(X)
    z = s.transform(X)
    assert z[:, 0].mean() == pytest.approx(0, abs=1e-6) and z[:, 0].std() == pytest.approx(1, rel=1e-5)
    np.testing.assert_array_equal(z[:, 1], X[:, 1])
    np.testing.assert_array_equal(z[:, 2], X[:, 2])


def test_continuous_columns_are_those_with_a_third_value_in_training_or_validation_rows():
    rng = np.random.default_rng(2)
    X = np.column_stack([rng.normal(size=30), rng.integers(0, 2, 30), np.full(30, 4.0),
                         rng.integers(0, 2, 30) * 5.0, np.r_[np.zeros(29), 1.0]]).astype(np.float32)
    assert continuous_columns(X) == (0,)  # 0/1, constant, 0/5 and a rare 1 are two-valued
    third = X[:1].copy()
    third[0, 3] = 2.5  # a third value of column 3 in another block of rows (validation)
    assert continuous_columns(X, third) == (0, 3) and continuous_columns(X[:0]) == ()
    y = rng.integers(0, 2, 30)
    data = to_device(Splits(X, y, third, y[:1], X[:4] + 0.5, y[:4]), "binary", torch.device("cpu"),
                     n_classes=2)
    assert data.continuous == (0, 3)  # the test rows' values (0.5 in every column) are not looked at


def test_the_soft_clip_bounds_far_rows_and_leaves_near_ones_almost_alone():
    X = np.linspace(-3, 3, 101)[:, None]
    s = Standardizer.fit(X, clip=3.0)
    far = s.transform(np.array([[1e6], [-1e6]]))
    assert np.all(np.abs(far) <= 3.0) and far[0, 0] == pytest.approx(3.0, rel=1e-3)
    near = s.transform(np.array([[0.1 * X.std()]]))[0, 0]
    assert near == pytest.approx(0.1, rel=1e-2)


def test_the_exported_module_scales_and_clips_exactly_as_training_did():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(0, 3, 64), rng.integers(0, 2, 64)]).astype(np.float32)
    y = rng.integers(0, 2, 64)
    data = to_device(Splits(X, y, X[:8], y[:8], X[:8], y[:8]), "binary", torch.device("cpu"),
                     n_classes=2, clip=3.0)
    module = ScoringModule(torch.nn.Identity(), "identity", 2, clip=data.feature_scaler.clip)
    module.feature_mean.copy_(torch.as_tensor(data.feature_scaler.mean, dtype=torch.float32))
    module.feature_scale.copy_(torch.as_tensor(data.feature_scaler.scale, dtype=torch.float32))
    far = np.array([[50.0, 1.0]], dtype=np.float32)
    expected = data.feature_scaler.transform(far)
    np.testing.assert_allclose(module(torch.as_tensor(far)).detach().numpy(), expected, rtol=1e-5)
