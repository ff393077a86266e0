import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from autonn.errors import ConfigError
from autonn.metrics import METRICS, metric_for

rng = np.random.default_rng(0)
Y3 = rng.integers(0, 3, 200)
P3 = rng.dirichlet([1, 1, 1], 200)
Y2 = rng.integers(0, 2, 200)
P2 = rng.dirichlet([1, 1], 200)
YR = rng.normal(size=(200, 1))
PR = YR + rng.normal(scale=0.5, size=(200, 1))

REFERENCE = {  # the same number computed by scikit-learn
    "accuracy": lambda y, p: skm.accuracy_score(y, p.argmax(1)),
    "balanced_accuracy": lambda y, p: skm.balanced_accuracy_score(y, p.argmax(1)),
    "log_loss": lambda y, p: skm.log_loss(y, p, labels=list(range(p.shape[1]))),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("y,p", [(Y2, P2), (Y3, P3)])
def test_classification_metrics_match_sklearn(name, y, p):
    ours = METRICS[name].fn(torch.tensor(y), torch.tensor(p))
    assert ours == pytest.approx(REFERENCE[name](y, p), rel=1e-6)


def test_f1_and_auc_match_sklearn():
    f1 = METRICS["f1"].fn
    assert f1(torch.tensor(Y2), torch.tensor(P2)) == pytest.approx(skm.f1_score(Y2, P2.argmax(1)))
    assert f1(torch.tensor(Y3), torch.tensor(P3)) == pytest.approx(
        skm.f1_score(Y3, P3.argmax(1), average="macro"))
    auc = METRICS["roc_auc"].fn
    assert auc(torch.tensor(Y2), torch.tensor(P2)) == pytest.approx(skm.roc_auc_score(Y2, P2[:, 1]))
    assert auc(torch.tensor(Y3), torch.tensor(P3)) == pytest.approx(
        skm.roc_auc_score(Y3, P3, multi_class="ovr"))


@pytest.mark.parametrize("name,ref", [
    ("rmse", lambda y, p: skm.root_mean_squared_error(y, p)),
    ("mae", skm.mean_absolute_error), ("r2", skm.r2_score)])
def test_regression_metrics_match_sklearn(name, ref):
    assert METRICS[name].fn(torch.tensor(YR), torch.tensor(PR)) == pytest.approx(ref(YR, PR), rel=1e-9)


def test_metric_must_fit_the_task():
    assert metric_for("rmse", "regression").direction == "minimize"
    with pytest.raises(ConfigError, match="metric 'rmse' does not score a binary task"):
        metric_for("rmse", "binary")


def test_a_perfect_prediction_scores_the_metrics_perfect_score():
    # training stops at a metric's perfect score (EarlyStopping), so it must be its true ceiling
    labels, values = torch.tensor([0, 1, 1, 0]), torch.tensor([[0.5], [1.5], [2.0], [3.0]])
    for name, metric in METRICS.items():
        if metric.perfect is not None:
            y, out = ((values, values.clone()) if "regression" in metric.tasks
                      else (labels, torch.eye(2)[labels]))
            assert metric.fn(y, out) == metric.perfect, name
    assert METRICS["log_loss"].perfect is None  # clamped probabilities never reach 0
