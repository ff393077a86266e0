import optuna
import pytest

from autonn.config import make_config
from autonn.losses import LOSSES_FOR_TASK
from autonn.params import layer_activations, layer_widths
from autonn.space import describe, resolve_losses, suggest
from autonn.tasks import TASKS


def space(task="multiclass", **dims):
    return resolve_losses(make_config({"space": dims}).space, task)


def sample(sp, n=30, seed=0):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(suggest(trial, sp))
        study.tell(trial, 0.0)
    return out


def test_fixed_list_and_range_dimensions():
    sp = space(n_layers=2, activation=["relu", "tanh"], lr={"low": 1e-3, "high": 1e-2, "log": True},
               batch_size=[16, 32], width={"low": 8, "high": 64, "step": 8})
    for p in sample(sp):
        assert p["n_layers"] == 2 and p["activation"] in ("relu", "tanh")
        assert 1e-3 <= p["lr"] <= 1e-2 and p["batch_size"] in (16, 32)
        assert all(w % 8 == 0 and 8 <= w <= 64 for w in layer_widths(p))
        assert isinstance(p["n_layers"], int) and isinstance(p["width_0"], int)


def test_widths_and_activations_are_conditional_on_depth():
    for p in sample(space(n_layers={"low": 1, "high": 4}, per_layer_activation=True)):
        n = p["n_layers"]
        assert [k for k in p if k.startswith("width_")] == [f"width_{i}" for i in range(n)]
        assert len(layer_activations(p)) == n and "activation" not in p
    shared = sample(space(per_layer_width=False), n=5)
    assert all("width" in p and "width_0" not in p for p in shared)


def test_momentum_settings_only_for_the_momentum_optimizer():
    for p in sample(space(optimizer=["adam", "momentum"], nesterov=[True, False]), n=40):
        assert ("momentum" in p) == (p["optimizer"] == "momentum")


@pytest.mark.parametrize("task", TASKS)
def test_search_never_samples_a_loss_that_does_not_fit(task):
    sp = space(task)
    seen = {p["loss"] for p in sample(sp, n=60)}
    assert seen <= set(LOSSES_FOR_TASK[task]) and len(seen) > 1


def test_fixed_trial_replays_the_same_parameters():
    sp = space()
    params = sample(sp, n=3)[-1]
    assert suggest(optuna.trial.FixedTrial(params), sp) == params


def test_every_parameter_is_recorded_in_the_trial():
    study = optuna.create_study()
    trial = study.ask()
    assert suggest(trial, space(n_layers=1, epochs=3)) == trial.params


def test_describe_is_json_ready():
    d = describe(space(n_layers=2, activation=["relu"]))
    assert d["n_layers"] == {"type": "fixed", "value": 2}
    assert d["activation"] == {"type": "choice", "choices": ["relu"]}
    assert d["width"] == {"type": "int", "low": 16, "high": 256, "log": True}
    assert d["loss"]["choices"] == ["cross_entropy", "kl_div", "hinge"]
