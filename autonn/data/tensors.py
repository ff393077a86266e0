"""Splits -> standardised tensors on one device, moved there once.

Standardisation statistics come from the training split alone. Training then slices the tensors,
with no DataLoader and no host-device copy per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from autonn.data.split import Splits
from autonn.tasks import REGRESSION


@dataclass(frozen=True)
class Standardizer:
    """Per-column mean and scale fitted on the training split; constant columns keep scale 1."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        scale = X.std(axis=0)
        return cls(X.mean(axis=0), np.where(scale > 1e-12, scale, 1.0))

    def transform(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.scale).astype(np.float32)

    def inverse(self, X: np.ndarray) -> np.ndarray:
        return X * self.scale + self.mean


@dataclass(frozen=True)
class DeviceData:
    """Splits as tensors on one device, ready for training.

    Regression targets for training are standardised (``y_train``); validation and test targets
    stay in the user's units, and predictions are mapped back with ``target_scaler`` to score.
    """

    task: str
    n_outputs: int  # classes for classification, target columns for regression
    x_train: torch.Tensor  # (N, F) float32
    y_train: torch.Tensor  # (N,) int64 labels or (N, T) float32 standardised values
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    feature_scaler: Standardizer
    target_scaler: Standardizer | None
    device: torch.device
    input_shape: tuple[int, ...] | None = None  # what the cnn family reshapes rows into


def to_device(splits: Splits, task: str, device: torch.device, n_classes: int = 0,
              input_shape: tuple[int, ...] | None = None) -> DeviceData:
    """Standardise on the training split and move every split to ``device`` once."""
    fs = Standardizer.fit(splits.X_train)
    ys = [splits.y_train, splits.y_val, splits.y_test]
    ts = None
    if task == REGRESSION:
        width = ys[0].reshape(len(ys[0]), -1).shape[1]
        ys = [y.reshape(len(y), width) for y in ys]
        ts = Standardizer.fit(ys[0])
        ys[0] = ts.transform(ys[0])
        n_outputs = ys[0].shape[1]
    else:
        n_outputs = n_classes or int(max(y.max() for y in ys)) + 1
    t = lambda a: torch.as_tensor(a).to(device)  # noqa: E731
    return DeviceData(task, n_outputs, t(fs.transform(splits.X_train)), t(ys[0]),
                      t(fs.transform(splits.X_val)), t(ys[1]), t(fs.transform(splits.X_test)),
                      t(ys[2]), fs, ts, device, input_shape)
