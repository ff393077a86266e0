"""Learning-rate schedules: every registry entry, and the rate the training core really uses."""

import math

import pytest
import torch
from conftest import tiny

from autonn.families.builder import build_model
from autonn.losses import head
from autonn.metrics import metric_for
from autonn.schedules import SCHEDULES, WARMUP
from autonn.training.loop import batch_bounds, fit, train_params

PARAMS = {"n_layers": 1, "width": 8, "activation": "relu", "init": "he_uniform", "loss": "mse",
          "optimizer": "sgd", "lr": 0.1, "batch_size": 8, "epochs": 4}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_schedule_is_a_positive_multiplier_that_never_grows_after_warm_up(name):
    f = SCHEDULES[name]
    points = [f(i / 100) for i in range(101)]
    assert all(0 < p <= 1 for p in points)
    after = [p for i, p in enumerate(points) if i / 100 >= WARMUP]
    assert all(a >= b - 1e-12 for a, b in zip(after, after[1:]))


def test_cosine_anneals_and_onecycle_warms_up_first():
    assert SCHEDULES["cosine"](0) == 1 and SCHEDULES["cosine"](1) == pytest.approx(0.01)
    assert SCHEDULES["onecycle"](0) == pytest.approx(0.1)
    assert SCHEDULES["onecycle"](WARMUP) == pytest.approx(1.0)
    assert SCHEDULES["constant"](0.7) == 1


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_the_optimizer_steps_at_the_scheduled_rate(name):
    data = tiny("regression", n=60)
    torch.manual_seed(0)
    h = head("mse", "regression", data.n_outputs)
    model = build_model(PARAMS, data.x_train.shape[1], h.n_outputs).to(data.x_train.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, h, optimizer, data, metric=metric_for("rmse", "regression"), epochs=3,
                  batch_size=8, generator=torch.Generator(data.x_train.device).manual_seed(0),
                  schedule=SCHEDULES[name], horizon=4)
    steps = len(batch_bounds(len(data.x_train), 8))
    last = 3 * steps - 1  # the last step of the third epoch of a four-epoch schedule
    assert len(history.train_loss) == 3
    assert math.isclose(optimizer.param_groups[0]["lr"],
                        0.1 * SCHEDULES[name](last / (4 * steps)), rel_tol=1e-12)


def test_a_trial_trains_with_its_schedule():
    data = tiny("regression", n=60)
    _, _, history = train_params({**PARAMS, "schedule": "onecycle"}, data,
                                 metric_for("rmse", "regression"), seed=0)
    assert len(history.train_loss) == PARAMS["epochs"] and history.train_loss[-1] < history.train_loss[0]
