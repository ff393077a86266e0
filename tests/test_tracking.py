"""A search through the real command line, then the MLflow store read back with MlflowClient."""

import json
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from conftest import working_dir
from mlflow.tracking import MlflowClient

from autonn.cli import main
from autonn.tracking.runs import default_tracking_uri

FAST = ["--epochs", "6", "--seed", "0"]


def cli(*args):
    result = CliRunner().invoke(main, list(args))
    return result


def runs_of(client, experiment):
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parent = [r for r in runs if r.data.tags.get("autonn.role") == "study"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return exp, parent, children


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """One tracked search (pruning off so that states are deterministic), shared by the asserts."""
    root = tmp_path_factory.mktemp("store")
    with working_dir(root):
        result = cli("search", "--dataset", "iris", "--n-trials", "4", "--pruner", "none",
                     "--study", "iris-tracked", *FAST)
    return root, result


def test_run_tree_params_curves_states_and_artifacts(searched):
    root, result = searched
    assert result.exit_code == 0, result.output
    client = MlflowClient(default_tracking_uri(root / "mlruns"))
    exp, parents, children = runs_of(client, "iris-tracked")
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert parent.info.run_name == "iris-tracked" and parent.info.status == "FINISHED"
    assert parent.data.params["metric"] == "accuracy" and parent.data.params["dataset"] == "iris"
    assert "best_accuracy" in parent.data.metrics and "test_accuracy" in parent.data.metrics
    assert sorted(c.info.run_name for c in children) == [f"trial-{i:04d}" for i in range(4)]
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.status == "FINISHED" and child.data.tags["autonn.state"] == "COMPLETE"
        assert child.data.tags["autonn.study"] == "iris-tracked" and child.data.tags["autonn.device"] == "cpu"
        assert int(child.data.tags["autonn.seed"]) == int(child.data.tags["autonn.trial"])
        params = child.data.params
        assert {"n_layers", "activation", "init", "loss", "optimizer", "lr", "batch_size"} <= set(params)
        assert all(f"width_{i}" in params for i in range(int(params["n_layers"])))
        curve = client.get_metric_history(child.info.run_id, "epoch_val_accuracy")
        assert [m.step for m in curve] == list(range(len(curve))) and 1 <= len(curve) <= 6
        # the objective, one value the runs table sorts trials by
        assert len(client.get_metric_history(child.info.run_id, "val_accuracy")) == 1
        assert len(client.get_metric_history(child.info.run_id, "train_loss")) == len(curve)
        assert child.data.metrics["n_params"] > 0 and child.data.metrics["train_seconds"] > 0
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"trials.csv", "best_params.json", "best_architecture.json", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert "plots/optimization_history.png" in plots


def test_best_model_is_logged_and_registered(searched, monkeypatch):
    root, _ = searched
    import mlflow
    import numpy as np
    import pandas as pd
    monkeypatch.setenv("MLFLOW_TRACKING_URI", default_tracking_uri(root / "mlruns"))
    client = MlflowClient(default_tracking_uri(root / "mlruns"))
    versions = client.search_model_versions("name='iris-tracked'")
    assert len(versions) == 1
    version = versions[0]
    model = mlflow.pyfunc.load_model(client.get_model_version_download_uri("iris-tracked", version.version))
    assert model.metadata.signature is not None
    rows = pd.DataFrame([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], columns=[
        "sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"])
    proba = model.predict(rows, params={"proba": True})
    assert list(proba.columns) == ["proba_setosa", "proba_versicolor", "proba_virginica"]
    assert np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert model.predict(rows)["target"][0] == "setosa"  # a textbook setosa, from raw features


def test_best_names_the_mlflow_run(searched, monkeypatch):
    root, _ = searched
    monkeypatch.chdir(root)
    best = json.loads(cli("best", "--study", "iris-tracked", "--json").output)
    client = MlflowClient(default_tracking_uri(root / "mlruns"))
    run = client.get_run(best["mlflow_run_id"])
    assert run.data.tags["autonn.trial"] == str(best["trial"])
    assert float(run.data.metrics["val_accuracy"]) == pytest.approx(best["value"])


def test_rerun_reuses_the_parent_run_and_adds_trials(searched, monkeypatch):
    root, _ = searched
    monkeypatch.chdir(root)
    result = cli("search", "--dataset", "iris", "--n-trials", "5", "--pruner", "none",
                 "--study", "iris-tracked", *FAST)
    assert result.exit_code == 0, result.output
    client = MlflowClient(default_tracking_uri(root / "mlruns"))
    _, parents, children = runs_of(client, "iris-tracked")
    assert len(parents) == 1 and len(children) == 5
    assert parents[0].info.status == "FINISHED"


def test_pruned_and_failed_trials_get_matching_statuses():
    result = cli("search", "--dataset", "diabetes", "--n-trials", "8", "--study", "states",
                 "--sampler", "random", *FAST)
    assert result.exit_code == 0, result.output
    client = MlflowClient(default_tracking_uri())
    _, _, children = runs_of(client, "states")
    for child in children:
        state = child.data.tags["autonn.state"]
        assert child.info.status == {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}[state]
        if state == "PRUNED":  # the runs table's name column says what the status means
            assert child.data.tags["autonn.pruned"].startswith(("pruned at epoch", "raced out"))
            assert child.info.run_name == f"trial-{int(child.data.tags['autonn.trial']):04d} pruned"


def test_a_failing_trial_records_reason_and_traceback(tmp_path):
    cfg = tmp_path / "diverge.yaml"
    cfg.write_text("dataset: diabetes\nn_trials: 2\nspace:\n  optimizer: sgd\n  lr: [100000.0]\n"
                   "  loss: mse\n  epochs: 3\n")
    result = cli("search", str(cfg), "--study", "diverge", "--n-trials", "1")
    assert result.exit_code == 2
    assert "Error: study 'diverge' stopped after 5 failed trials in a row (trial 2: TrialDiverged: " \
           "training diverged at epoch 0" in result.output
    client = MlflowClient(default_tracking_uri())
    _, parents, children = runs_of(client, "diverge")
    assert len(children) == 5 and all(c.info.status == "FAILED" for c in children)
    assert "training diverged" in children[0].data.tags["autonn.fail_reason"]
    assert "traceback.txt" in {a.path for a in client.list_artifacts(children[0].info.run_id)}
    assert parents[0].info.status == "FAILED"


def test_unreachable_tracking_uri_fails_fast_with_the_uri():
    start = time.perf_counter()
    result = cli("search", "--dataset", "iris", "--n-trials", "1",
                 "--tracking-uri", "http://user:secret@127.0.0.1:9")
    assert result.exit_code == 2
    assert "cannot reach the MLflow tracking store at http://user:***@127.0.0.1:9" in result.output
    assert "secret" not in result.output
    assert time.perf_counter() - start < 20


def test_search_as_a_real_subprocess(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "autonn", "search", "--dataset", "wine",
                           "--n-trials", "2", "--quiet", *FAST], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # --quiet
    client = MlflowClient(default_tracking_uri(tmp_path / "mlruns"))
    _, parents, children = runs_of(client, "wine")
    assert parents[0].info.status == "FINISHED" and len(children) == 2

