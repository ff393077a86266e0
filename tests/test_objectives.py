"""Multi-objective studies: size, latency and FLOPs beside the metric; the Pareto front."""

import json

import pytest
import torch
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from autonn import make_config
from autonn.cli import main
from autonn.errors import ConfigError, StudyError
from autonn.export.loading import load
from autonn.measures import measure
from autonn.search.problem import prepare
from autonn.search.run import run_search
from autonn.tracking.runs import default_tracking_uri


def test_measures_count_what_they_say():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    x = torch.randn(300, 4)
    assert measure("params", model, x) == 4 * 8 + 8 + 8 * 3 + 3
    assert measure("flops", model, x) == 2 * (4 * 8 + 8 * 3)  # one row's multiply-adds
    assert 0 < measure("latency", model, x) < 1000
    assert model.training  # measuring leaves the mode as it was


def test_objectives_are_checked():
    with pytest.raises(ConfigError, match="start with val_metric"):
        make_config(objectives=["params", "val_metric"])
    with pytest.raises(ConfigError, match="unknown objective 'latncy'. Did you mean 'latency'"):
        make_config(objectives=["val_metric", "latncy"])


def test_a_multi_objective_study_has_a_pareto_front_in_the_cli_and_mlflow():
    cli = CliRunner()
    result = cli.invoke(main, ["search", "--dataset", "iris", "--objectives",
                               "val_metric,params,latency,flops", "--n-trials", "8", "--epochs",
                               "4", "--quiet", "--no-builtin-starts"])
    assert result.exit_code == 0, result.output
    front = json.loads(cli.invoke(main, ["trials", "--pareto", "--json"]).output)
    assert front and [r["rank"] for r in front] == list(range(1, len(front) + 1))
    assert {"val_metric", "params", "latency", "flops"} <= set(front[0])
    assert front == sorted(front, key=lambda r: -r["val_metric"])
    client = MlflowClient(default_tracking_uri())
    experiment = client.get_experiment_by_name("iris")
    parent = [r for r in client.search_runs([experiment.experiment_id])
              if r.data.tags.get("autonn.role") == "study"][0]
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert "pareto.csv" in artifacts and "plots/pareto_front.png" in plots
    pareto_csv = client.download_artifacts(parent.info.run_id, "pareto.csv", ".")
    assert open(pareto_csv).read().count("\n") == len(front) + 1
    smallest = min(front, key=lambda r: r["params"])
    result = cli.invoke(main, ["export", "--format", "state_dict", "--max-params",
                               str(smallest["params"]), "--out", "small.safetensors", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["trial"] == smallest["trial"]
    assert load("small.safetensors").bundle.info["trial"] == smallest["trial"]
    result = cli.invoke(main, ["export", "--format", "onnx", "--pareto-rank", "1", "--json"])
    assert json.loads(result.output)["trial"] == front[0]["trial"]


def test_changing_the_objectives_of_a_study_is_refused():
    config = make_config(dataset="iris", n_trials=1, space={"epochs": 2}, builtin_starts=False)
    run_search(prepare(config))
    with pytest.raises(StudyError, match=r"objectives: was \['val_metric'\], now \['val_metric', "
                                         r"'params'\]"):
        run_search(prepare(config.model_copy(update={"objectives": ["val_metric", "params"]})))
