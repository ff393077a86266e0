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
    """Per-column mean and scale fitted on the training split, then a soft clip: z / sqrt(1 +
    (z / clip)^2) keeps |z| under ``clip`` (0: no clipping), so a row far outside the training
    range cannot drive the network's outputs wild (RealMLP's robust scaling does the same).
    Columns of only 0 and 1 (one-hot levels, missing-value indicators) and constant columns keep
    their values: standardising a rare level would turn its 1 into a large number."""

    mean: np.ndarray
    scale: np.ndarray
    clip: float = 0.0

    @classmethod
    def fit(cls, X: np.ndarray, clip: float = 0.0) -> Standardizer:
        scale = X.std(axis=0)
        keep = np.all((X == 0) | (X == 1), axis=0) | (scale <= 1e-12)
        return cls(np.where(keep, 0.0, X.mean(axis=0)), np.where(keep, 1.0, scale), clip)

    def transform(self, X: np.ndarray) -> np.ndarray:
        z = (X - self.mean) / self.scale
        if self.clip:
            z = z / np.sqrt(1 + (z / self.clip) ** 2)
        return z.astype(np.float32)


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
    continuous: tuple[int, ...] | None = None  # the columns embeddings embed (None: all)


def continuous_columns(*parts: np.ndarray) -> tuple[int, ...]:
    """The columns that hold more than two distinct values over the row blocks ``parts`` (N_i, F):
    numbers an embedding can say more about. One-hot levels, indicators and constants (two values
    or fewer) are left out: a linear layer already tells their two values apart."""
    parts = tuple(p for p in parts if len(p))
    if not parts:
        return ()
    low = np.min([p.min(axis=0) for p in parts], axis=0)  # (F,)
    high = np.max([p.max(axis=0) for p in parts], axis=0)
    between = np.zeros(parts[0].shape[1], dtype=bool)  # a third value, strictly inside the range
    for p in parts:
        between |= ((p != low) & (p != high)).any(axis=0)
    return tuple(int(j) for j in np.flatnonzero(between))


def to_device(splits: Splits, task: str, device: torch.device, n_classes: int = 0,
              input_shape: tuple[int, ...] | None = None, clip: float = 0.0,
              continuous: tuple[int, ...] | None = None) -> DeviceData:
    """Standardise on the training split (features soft-clipped at ``clip``) and move every split
    to ``device`` once. ``continuous``: the columns embeddings embed, as the caller found them
    for all its folds (None: found here, on the training and validation rows)."""
    fs = Standardizer.fit(splits.X_train, clip)
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
                      t(ys[2]), fs, ts, device, input_shape,
                      continuous_columns(splits.X_train, splits.X_val) if continuous is None
                      else continuous)
