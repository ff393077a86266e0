"""Starting from what worked: built-in architectures, earlier studies, and exported weights."""

import json

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from autonn import make_config
from autonn.cli import main
from autonn.config import SpaceConfig
from autonn.data.datasets import dataset_from_frame
from autonn.data.features import identity_encoder
from autonn.export import state_dict
from autonn.export.bundle import Bundle
from autonn.export.loading import load
from autonn.export.pipeline import ScoringModule
from autonn.families.builder import build_model
from autonn.search.exporting import export_model
from autonn.search.problem import make_problem, prepare
from autonn.search.run import run_search
from autonn.search.warmstart import BUILTIN, fit_to_space
from autonn.training.weights import aligned_embedding, load_matching, state_tensors, transferable


def search(dataset, study, n_trials=3, space=None, **options):
    config = make_config(dataset=dataset, study=study, n_trials=n_trials,
                         space={"epochs": 3, **(space or {})}, **options)
    return run_search(prepare(config), storage="sqlite:///s.db")


def test_starts_are_fitted_to_the_space():
    space = SpaceConfig(width={"low": 16, "high": 100}, per_layer_width=False,
                        optimizer=["adam", "rmsprop"], lr={"low": 1e-3, "high": 1e-2, "log": True})
    fitted = fit_to_space({"family": "mlp", "n_layers": 2, "width_0": 128, "width_1": 64,
                           "optimizer": "adamw", "lr": 0.5, "activation": "relu"}, space, scale=0.5)
    assert fitted == {"family": "mlp", "n_layers": 2, "width": 64, "lr": 1e-2, "activation": "relu"}
    per_layer = fit_to_space({"n_layers": 3, "width": 32}, SpaceConfig())
    assert per_layer == {"n_layers": 3, "width_0": 32, "width_1": 32, "width_2": 32}


def test_builtin_architectures_run_first():
    study, _ = search("iris", "iris", n_trials=2)
    first = {k: v for k, v in BUILTIN[0].items() if k != "epochs"}  # the space fixes 3 epochs
    params = study.trials[0].params
    assert {k: params[k] for k in first} == first and params["epochs"] == 3
    assert study.trials[1].params["width_2"] == BUILTIN[1]["width_2"]
    off, _ = search("iris", "plain", n_trials=1, builtin_starts=False)
    assert off.trials[0].params != params


def test_warm_start_runs_an_earlier_studys_best_trials_rescaled():
    earlier, _ = search("iris", "iris", n_trials=3, builtin_starts=False)
    best = sorted((t for t in earlier.trials if t.state.name == "COMPLETE"),
                  key=lambda t: -t.value)[0]
    study, _ = search("wine", "wine", n_trials=1, builtin_starts=False, warm_start=["iris"])
    params = study.trials[0].params
    scale = (13 / 4) ** 0.5
    assert params["n_layers"] == best.params["n_layers"]
    assert params["width_0"] == min(256, round(best.params["width_0"] * scale))
    assert params["optimizer"] == best.params["optimizer"] and params["lr"] == best.params["lr"]


def test_warm_start_takes_an_mlflow_run_id_on_the_command_line():
    run = CliRunner().invoke(main, ["search", "--dataset", "iris", "--n-trials", "2", "--epochs",
                                    "3", "--quiet", "--no-builtin-starts"])
    assert run.exit_code == 0, run.output
    best = json.loads(CliRunner().invoke(main, ["best", "--study", "iris", "--json"]).output)
    result = CliRunner().invoke(main, ["search", "--dataset", "iris", "--study", "again",
                                       "--n-trials", "1", "--epochs", "3", "--quiet",
                                       "--warm-start", best["mlflow_run_id"]])
    assert result.exit_code == 0, result.output
    again = optuna.load_study(study_name="again", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend("mlruns/optuna.journal")))
    assert again.trials[0].params == best["params"]


def test_init_from_starts_the_embedding_fresh_when_it_embedded_other_columns():
    state = {"0.frequencies": torch.ones(2, 4), "0.weight": torch.ones(2, 8, 4),
             "1.weight": torch.ones(8, 11), "3.weight": torch.ones(3, 8)}
    assert aligned_embedding(state, [0, 1], (0, 1), 5) is state
    assert aligned_embedding(state, None, (0, 1, 2, 3, 4), 5) is state  # None: every column
    with pytest.warns(RuntimeWarning, match="embeds other columns than these rows' continuous"):
        fresh = aligned_embedding(state, [0, 1], (0, 2), 5)  # same shapes, other columns
    assert set(fresh) == {"3.weight"}
    plain = {"1.weight": torch.ones(8, 5)}
    assert aligned_embedding(plain, [0, 1], (0, 2), 5) is plain  # no embedding: nothing to align


def test_init_from_a_model_that_embedded_other_columns_keeps_only_the_layers_after(tmp_path):
    params = {"family": "mlp", "n_layers": 2, "width_0": 8, "width_1": 6, "activation": "relu",
              "init": "he_uniform", "norm": "none", "dropout": 0.0, "loss": "cross_entropy",
              "optimizer": "adam", "lr": 1e-2, "batch_size": 16, "epochs": 1, "embedding": "plr",
              "embedding_dim": 4, "embedding_scale": 0.1}
    torch.manual_seed(0)
    network = build_model(params, 4, 2, None, (0, 1))  # columns 0 and 1 were continuous
    bundle = Bundle("binary", params, 2, "softmax", identity_encoder(list("abcd")), ["no", "yes"],
                    tensors=state_tensors(ScoringModule(network, "softmax", 4)), continuous=[0, 1])
    state_dict.write(bundle, tmp_path / "m.safetensors")
    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"a": rng.normal(size=80), "b": rng.integers(0, 2, 80),  # now 0/1
                         "c": rng.normal(size=80), "d": rng.integers(0, 2, 80),
                         "y": rng.choice(["no", "yes"], 80)})
    config = make_config(init_from=str(tmp_path / "m.safetensors"), n_trials=1)
    with pytest.warns(RuntimeWarning, match="embeds other columns than these rows' continuous"):
        problem = make_problem(config, dataset_from_frame(rows, "y"))
    assert problem.data.continuous == (0, 2) and len(problem.folds) == 5
    assert {f.continuous for f in problem.folds} == {(0, 2)}  # every fold and the refit agree
    assert problem.refit_data().continuous == (0, 2)
    assert sorted(problem.init_state) == ["3.bias", "3.weight", "5.bias", "5.weight"]


def test_init_from_reuses_matching_layers_and_retrains_the_head(tmp_path):
    search("iris", "iris", n_trials=1, builtin_starts=False, space={"n_layers": 2, "norm": "none", "dropout": 0.0, "activation": "relu"})
    exported = export_model("state_dict", tmp_path / "iris.safetensors", study="iris",
                            storage="sqlite:///s.db")
    bundle = load(exported.path).bundle
    same = transferable(bundle.tensors, bundle.classes, bundle.classes)  # a bag: its first fold's
    other = transferable(bundle.tensors, bundle.classes, ["class_0", "class_1", "class_2"])
    assert len(other) == len(same) - 2  # the output layer's weight and bias
    torch.manual_seed(0)
    wine_net = build_model(bundle.params, 13, 3)
    loaded = load_matching(wine_net, other)
    assert loaded == len(other) - 2  # the first layer (weight and bias) takes 13 inputs, not 4
    assert torch.equal(wine_net.state_dict()["2.weight"], other["2.weight"])  # the second layer
    study, _ = search("wine", "wine", n_trials=2, init_from=str(exported.path),
                      space={"n_layers": 2, "norm": "none", "dropout": 0.0, "activation": "relu"})
    arch = {k: v for k, v in bundle.params.items() if k.startswith(("n_layers", "width", "activation"))}
    for trial in study.trials:
        assert {k: trial.params[k] for k in arch} == arch
