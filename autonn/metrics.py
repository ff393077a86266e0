"""Task metrics on predictions, independent of the training loss, so trials compare fairly.

Classification metrics take labels (N,) and probabilities (N, K); regression metrics take values
(N, T) in the target's own units. All run on the tensors' device and return a float.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autonn._lazy import torch
from autonn.errors import ConfigError, lookup
from autonn.tasks import BINARY, MULTICLASS, REGRESSION

if TYPE_CHECKING:
    from torch import Tensor
EPS = 1e-7


def _confusion(y: Tensor, proba: Tensor) -> Tensor:
    k = proba.shape[-1]
    pred = proba.argmax(dim=-1)
    return torch.bincount(y.long() * k + pred, minlength=k * k).reshape(k, k).double()


def accuracy(y: Tensor, proba: Tensor) -> float:
    return (proba.argmax(dim=-1) == y).double().mean().item()


def balanced_accuracy(y: Tensor, proba: Tensor) -> float:
    cm = _confusion(y, proba)
    present = cm.sum(dim=1) > 0
    return (cm.diagonal()[present] / cm.sum(dim=1)[present]).mean().item()


def f1(y: Tensor, proba: Tensor) -> float:
    """Binary F1 of the positive class; macro F1 over classes for multi-class."""
    cm = _confusion(y, proba)
    tp, fp, fn = cm.diagonal(), cm.sum(dim=0) - cm.diagonal(), cm.sum(dim=1) - cm.diagonal()
    scores = 2 * tp / (2 * tp + fp + fn).clamp(min=EPS)
    return scores[1].item() if cm.shape[0] == 2 else scores.mean().item()


def roc_auc(y: Tensor, proba: Tensor) -> float:
    """ROC AUC; one-vs-rest macro average for multi-class."""
    import numpy as np
    from sklearn.metrics import (
        roc_auc_score,  # scikit-learn loads in seconds: only when used
    )

    y_np, p_np = y.cpu().numpy(), proba.double().cpu().numpy()
    if p_np.shape[1] == 2:
        return float(roc_auc_score(y_np, p_np[:, 1]))
    present = np.unique(y_np)
    p_np = p_np[:, present] / p_np[:, present].sum(axis=1, keepdims=True).clip(EPS)
    return float(roc_auc_score(y_np, p_np, multi_class="ovr", labels=present))


def log_loss(y: Tensor, proba: Tensor) -> float:
    p = proba.double().clamp(EPS, 1 - EPS)
    return -p.gather(1, y.long().unsqueeze(1)).log().mean().item()


def rmse(y: Tensor, pred: Tensor) -> float:
    return (pred.double() - y.double()).square().mean().sqrt().item()


def mae(y: Tensor, pred: Tensor) -> float:
    return (pred.double() - y.double()).abs().mean().item()


def r2(y: Tensor, pred: Tensor) -> float:
    y, pred = y.double(), pred.double()
    total = (y - y.mean(dim=0)).square().sum(dim=0).clamp(min=EPS)
    return (1 - (y - pred).square().sum(dim=0) / total).mean().item()


@dataclass(frozen=True)
class Metric:
    """A registry entry: the function, whether larger is better, the tasks it scores, and the
    perfect score, where it has one (no other beats it: training that reaches it may stop)."""

    fn: Callable[[Tensor, Tensor], float]
    direction: str  # "maximize" or "minimize", as Optuna spells it
    tasks: frozenset[str]
    perfect: float | None = None  # log loss has none: its clamp keeps it above 0


_CLS, _REG = frozenset({BINARY, MULTICLASS}), frozenset({REGRESSION})
METRICS: dict[str, Metric] = {
    "accuracy": Metric(accuracy, "maximize", _CLS, 1.0),
    "balanced_accuracy": Metric(balanced_accuracy, "maximize", _CLS, 1.0),
    "f1": Metric(f1, "maximize", _CLS, 1.0),
    "roc_auc": Metric(roc_auc, "maximize", _CLS, 1.0),
    "log_loss": Metric(log_loss, "minimize", _CLS),
    "rmse": Metric(rmse, "minimize", _REG, 0.0),
    "mae": Metric(mae, "minimize", _REG, 0.0),
    "r2": Metric(r2, "maximize", _REG, 1.0),
}
DEFAULT_METRIC = {BINARY: "accuracy", MULTICLASS: "accuracy", REGRESSION: "rmse"}


def metric_for(name: str, task: str) -> Metric:
    """The metric ``name``, checked against ``task``."""
    metric = lookup(METRICS, "metric", name)
    if task not in metric.tasks:
        valid = [m for m, entry in METRICS.items() if task in entry.tasks]
        raise ConfigError(f"metric '{name}' does not score a {task} task. Valid: {', '.join(valid)}.")
    return metric


def is_better(a: float, b: float, direction: str) -> bool:
    """True when score ``a`` beats ``b`` under ``direction``."""
    return a > b if direction == "maximize" else a < b
