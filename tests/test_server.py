"""A search against a real MLflow tracking server, checked through its REST API."""

import json
import urllib.request

from click.testing import CliRunner
from servers import mlflow_server

from autonn.cli import main


def rest(url: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"{url}/api/2.0/mlflow/{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def test_search_against_a_tracking_server(tmp_path):
    with mlflow_server(tmp_path) as url:
        result = CliRunner().invoke(main, ["search", "--dataset", "iris", "--n-trials", "3",
                                           "--epochs", "5", "--tracking-uri", url,
                                           "--experiment", "served"])
        assert result.exit_code == 0, result.output
        with urllib.request.urlopen(f"{url}/api/2.0/mlflow/experiments/get-by-name"
                                    "?experiment_name=served", timeout=30) as response:
            experiment = json.load(response)["experiment"]
        runs = rest(url, "runs/search", {"experiment_ids": [experiment["experiment_id"]],
                                         "max_results": 100})["runs"]
    tags = [{t["key"]: t["value"] for t in r["data"].get("tags", [])} for r in runs]
    parents = [r for r, t in zip(runs, tags) if t.get("autonn.role") == "study"]
    children = [(r, t) for r, t in zip(runs, tags) if "mlflow.parentRunId" in t]
    assert len(parents) == 1 and len(children) == 3
    assert parents[0]["info"]["status"] == "FINISHED"
    for run, tag in children:
        assert tag["mlflow.parentRunId"] == parents[0]["info"]["run_id"]
        assert run["info"]["status"] in ("FINISHED", "KILLED")
        metrics = {m["key"] for m in run["data"].get("metrics", [])}
        assert {"train_loss", "val_accuracy", "n_params"} <= metrics
