import numpy as np
import pytest
import torch
from conftest import tiny

from autonn.data.datasets import load_dataset
from autonn.data.split import split
from autonn.data.tensors import to_device
from autonn.errors import TrialDiverged
from autonn.metrics import METRICS
from autonn.training.callbacks import EarlyStopping
from autonn.training.loop import predict, train_params

PARAMS = {"n_layers": 1, "width_0": 16, "activation": "relu", "init": "he_uniform", "norm": "none",
          "dropout": 0.0, "loss": "cross_entropy", "optimizer": "adam", "lr": 0.01,
          "weight_decay": 0.0, "batch_size": 16, "epochs": 30}


def test_training_learns_iris(iris_data):
    model, head, history = train_params(PARAMS, iris_data, METRICS["accuracy"], seed=0)
    assert history.best_value >= 0.9
    assert len(history.train_loss) == 30 and history.train_loss[-1] < history.train_loss[0]
    # the best epoch's weights are the ones kept
    assert METRICS["accuracy"].fn(iris_data.y_val, predict(model, head, iris_data, iris_data.x_val)) \
        == history.best_value


def test_same_seed_same_result(iris_data):
    a = train_params({**PARAMS, "dropout": 0.2}, iris_data, METRICS["log_loss"], seed=5)[2]
    b = train_params({**PARAMS, "dropout": 0.2}, iris_data, METRICS["log_loss"], seed=5)[2]
    c = train_params({**PARAMS, "dropout": 0.2}, iris_data, METRICS["log_loss"], seed=6)[2]
    assert a.train_loss == b.train_loss and a.val_metric == b.val_metric
    assert a.train_loss != c.train_loss


def test_early_stopping_ends_training(iris_data):
    history = train_params({**PARAMS, "epochs": 200}, iris_data, METRICS["log_loss"], seed=0,
                           callbacks=[EarlyStopping(patience=3)])[2]
    assert history.stop_reason == "early_stopping"
    assert len(history.val_metric) == history.best_epoch + 4 < 200


def test_a_perfect_score_ends_training_with_the_network_patience_would_keep():
    # accuracy 1.0 cannot be beaten: the epochs patience would add change nothing that is kept
    data, metric = tiny("binary", n=150, features=2), METRICS["accuracy"]
    params = {**PARAMS, "epochs": 150, "lr": 0.03}
    quick_model, _, quick = train_params(params, data, metric, seed=0,
                                         callbacks=[EarlyStopping(40, metric.perfect)])
    slow_model, _, slow = train_params(params, data, metric, seed=0,
                                       callbacks=[EarlyStopping(40)])
    assert quick.stop_reason == EarlyStopping.PERFECT and slow.stop_reason == "early_stopping"
    assert len(quick.val_metric) == quick.best_epoch + 1 < len(slow.val_metric)
    assert (quick.best_epoch, quick.best_value) == (slow.best_epoch, slow.best_value)
    assert quick.best_value == 1.0
    assert all(torch.equal(a, b) for a, b in zip(quick_model.state_dict().values(),
                                                  slow_model.state_dict().values()))


def test_a_diverging_loss_stops_at_once():
    data = tiny("regression")
    params = {**PARAMS, "loss": "mse", "optimizer": "sgd", "lr": 1e6, "epochs": 50}
    with pytest.raises(TrialDiverged, match="training diverged at epoch 0"):
        train_params(params, data, METRICS["rmse"], seed=0)


def test_gradient_clipping_tames_a_huge_step():
    data = tiny("regression")
    params = {**PARAMS, "loss": "mse", "optimizer": "sgd", "lr": 1.0, "epochs": 5}
    history = train_params(params, data, METRICS["rmse"], seed=0, grad_clip=0.1)[2]
    assert all(np.isfinite(history.train_loss))


def test_regression_scores_in_the_targets_own_units():
    ds = load_dataset("diabetes")
    data = to_device(split(ds, 0.2, 0.2, seed=0), ds.task, torch.device("cpu"))
    assert abs(data.y_train.mean().item()) < 1e-4 and abs(data.y_val.mean().item()) > 50
    params = {**PARAMS, "loss": "mse", "epochs": 20}
    history = train_params(params, data, METRICS["rmse"], seed=0)[2]
    assert 40 < history.best_value < 90  # diabetes targets span 25..346


def test_standardised_on_the_training_split_only(iris_data):
    assert torch.allclose(iris_data.x_train.mean(dim=0).cpu(), torch.zeros(4), atol=1e-5)
    assert not torch.allclose(iris_data.x_test.mean(dim=0).cpu(), torch.zeros(4), atol=1e-3)


def test_flattened_parameters_train_exactly_like_separate_ones(iris_data):
    """The flat-buffer fast path computes the same updates as torch.optim on each tensor."""
    from autonn.components import make_optimizer
    from autonn.families.builder import build_model
    from autonn.losses import head as bind_head
    from autonn.training.loop import fit
    from autonn.training.weights import flatten_parameters

    def run(flat: bool):
        torch.manual_seed(0)
        h = bind_head("cross_entropy", "multiclass", 3)
        model = build_model({**PARAMS, "norm": "batch"}, 4, 3).to(iris_data.x_train.device)
        params = [flatten_parameters(model)] if flat else list(model.parameters())
        opt = make_optimizer("rmsprop", params, lr=0.01, weight_decay=1e-3)
        gen = torch.Generator(iris_data.x_train.device).manual_seed(0)
        history = fit(model, h, opt, iris_data, metric=METRICS["log_loss"], epochs=5,
                      batch_size=16, generator=gen)
        return history.train_loss, [p.detach().clone() for p in model.parameters()]

    (loss_a, params_a), (loss_b, params_b) = run(True), run(False)
    assert loss_a == pytest.approx(loss_b, rel=1e-5)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(params_a, params_b))


def _watched_identity(seen: list):
    """An identity layer that overrides train() (logging each mode): fit must flip through it."""
    from torch import nn

    class Watched(nn.Identity):
        def train(self, mode: bool = True):
            seen.append(mode)
            return super().train(mode)
    return Watched()


def test_fit_flips_modules_as_module_train_does(iris_data):
    """The quick mode flip reaches every nested module as Module.train would; a network with a
    module that overrides train() is flipped through it; both ways train the same network bit
    for bit (dropout on while training, off while validating)."""
    import copy

    from autonn.families.builder import build_model
    from autonn.losses import head as bind_head
    from autonn.training.loop import _Modes, fit

    params = {"family": "resmlp", "n_layers": 2, "width": 16, "activation": "relu",
              "norm": "batch", "dropout": 0.3, "init": "he_uniform", "attention": True,
              "attention_dim": 8, "attention_heads": 2,
              "embedding": "none"}
    torch.manual_seed(0)
    nested = build_model(params, 4, 3)
    for training in (False, True):
        _Modes(nested).set(training)
        assert {m.training for m in nested.modules()} == {training}
        assert len(list(nested.modules())) > len(list(nested.children())) + 1  # nested indeed

    def run(model):
        model = model.to(iris_data.x_train.device)
        torch.manual_seed(1)  # dropout draws from the global generator
        history = fit(model, bind_head("cross_entropy", "multiclass", 3),
                      torch.optim.Adam(model.parameters()), iris_data,
                      metric=METRICS["log_loss"], epochs=3, batch_size=16,
                      generator=torch.Generator(iris_data.x_train.device).manual_seed(0))
        return history, [p.detach().clone() for p in model.parameters()]

    seen = []
    quick, slow = run(copy.deepcopy(nested)), run(torch.nn.Sequential(
        copy.deepcopy(nested), _watched_identity(seen)))
    assert seen == [True, False, True, False, True, False, True]
    assert quick[0].train_loss == slow[0].train_loss and quick[0].val_metric == slow[0].val_metric
    assert all(torch.equal(a, b) for a, b in zip(quick[1], slow[1]))


def test_fit_zeroes_gradients_before_every_step(iris_data):
    """fit's losses are those of the textbook loop (zero_grad, backward, step) on the same
    batches: no gradient carries over from one step to the next."""
    from autonn.families.builder import build_model
    from autonn.losses import head as bind_head
    from autonn.training.loop import batch_bounds, fit

    head, device = bind_head("cross_entropy", "multiclass", 3), iris_data.x_train.device

    def model_and_sgd():
        torch.manual_seed(0)
        model = build_model(PARAMS, 4, 3).to(device)
        return model, torch.optim.SGD(model.parameters(), lr=0.5)

    model, sgd = model_and_sgd()
    losses = fit(model, head, sgd, iris_data, metric=METRICS["log_loss"], epochs=3,
                 batch_size=16, generator=torch.Generator(device).manual_seed(0)).train_loss
    model, sgd = model_and_sgd()
    generator, expected = torch.Generator(device).manual_seed(0), []
    x, target = iris_data.x_train, head.encode(iris_data.y_train)
    for _ in range(3):
        perm = torch.randperm(len(x), device=device, generator=generator)
        total = 0.0
        for lo, hi in batch_bounds(len(x), 16):
            loss = head.criterion(model(x[perm][lo:hi]), target[perm][lo:hi])
            sgd.zero_grad()
            loss.backward()
            sgd.step()
            total += loss.item() * (hi - lo)
        expected.append(total / len(x))
    assert losses == pytest.approx(expected, rel=1e-5)
