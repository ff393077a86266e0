"""Reading an MLflow tracking store: clients that fail fast, and the lookups autonn needs
(experiments by study, a run's study and trial, a study's own run).

mlflow is imported inside each function: the command line imports this module without it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from urllib.parse import quote

from autonn.errors import TrackingError
from autonn.masking import mask

STUDY_ROLE = "study"  # the autonn.role tag of a study's parent run
SORT_KEY, SORT_ASCENDING = "autonn.sort_key", "autonn.sort_ascending"  # experiment tags of
# studies tracked before the shared view below: the runs table's order, best trial first
# MLflow's shared views: the runs page at ?viewStateShareKey=K reads its sort order and columns
# from the experiment tag mlflow.sharedViewState.K (JSON), so the link autonn prints opens on the
# trials sorted best first with the objective, its cost and the architecture as columns
VIEW_NAME = "autonn"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_NAME}"
VIEW_COLUMNS = ("metrics.`train_seconds`", "metrics.`n_params`", "params.`family`",
                "params.`n_layers`", "params.`optimizer`", "params.`lr`", "tags.`autonn.state`")
# Fail within seconds on an unreachable server instead of MLflow's default minutes of retries.
HTTP_LIMITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
               "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
               # MLflow prints "View run ... at: <tracking URI>" per run: a password in the URI
               # would reach the terminal, --quiet or not
               "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}


def default_tracking_uri(root: str | Path = "mlruns") -> str:
    """The embedded store: a SQLite database under ``root``."""
    return f"sqlite:///{(Path(root) / 'mlflow.db').resolve()}"


def experiments(tracking_uri: str) -> dict[str, tuple[str, dict[str, str]]]:
    """Experiment name -> (id, tags) for every study tracked at ``tracking_uri``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    return {e.name: (e.experiment_id, e.tags) for e in client.search_experiments()
            if e.name != "Default"}


def sort_tags(metric: str, direction: str) -> dict[str, str]:
    """The experiment tag whose shared view orders its runs table by the study's objective,
    best first, with the objective, cost and architecture as columns."""
    key = f"metrics.`val_{metric}`"
    view = {"orderByKey": key, "orderByAsc": direction == "minimize",
            "selectedColumns": [key, *VIEW_COLUMNS]}
    return {VIEW_TAG: json.dumps(view)}


def runs_url(base: str, experiment_id: str, tags: dict[str, str]) -> str:
    """An experiment's runs table in the MLflow UI at ``base``: the machine-learning view (not
    MLflow 3's GenAI overview), trials sorted best first by the study's objective."""
    url = f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
    if VIEW_TAG in tags:  # MLflow ignores a shared view when the URL has its own sort order
        url += f"&viewStateShareKey={VIEW_NAME}"
    elif SORT_KEY in tags:  # a study tracked before the shared view: its sort order only
        url += (f"&orderByKey={quote(tags[SORT_KEY])}"
                f"&orderByAsc={'true' if tags.get(SORT_ASCENDING) == 'true' else 'false'}")
    return url


def store_exists(tracking_uri: str) -> bool:
    """False for an embedded SQLite store whose file is not there (a search without tracking);
    a server or a database is taken to exist until it fails to answer."""
    return not tracking_uri.startswith("sqlite:///") or Path(
        tracking_uri.removeprefix("sqlite:///")).is_file()


def existing_client(tracking_uri: str):
    """A client for an existing store; the embedded SQLite store is never created here."""
    if not store_exists(tracking_uri):
        raise TrackingError(f"no MLflow store at {mask(tracking_uri)}; the search ran without "
                            "tracking, or give --tracking-uri.")
    return quiet_client(tracking_uri)


def quiet_client(tracking_uri: str):
    """An MlflowClient that fails within seconds on an unreachable server and logs warnings only."""
    from mlflow.tracking import MlflowClient

    for key, value in HTTP_LIMITS.items():
        os.environ.setdefault(key, value)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    return MlflowClient(tracking_uri)


def trial_of_run(tracking_uri: str, run_id: str) -> tuple[str, int | None]:
    """The study and trial number an MLflow run records (None for a study's own run)."""
    client = existing_client(tracking_uri)
    try:
        tags = client.get_run(run_id).data.tags
    except Exception as exc:  # MlflowException: RESOURCE_DOES_NOT_EXIST, connection errors
        raise TrackingError(f"no MLflow run {run_id} at {mask(tracking_uri)} "
                            f"({type(exc).__name__}); check the id in the MLflow UI.") from None
    if tags.get("autonn.role") == STUDY_ROLE:
        return tags["autonn.study"], None
    if "autonn.trial" in tags and "autonn.study" in tags:
        return tags["autonn.study"], int(tags["autonn.trial"])
    raise TrackingError(f"MLflow run {run_id} is not an autonn study or trial run; give the run "
                        "id of a study (its parent run) or of one of its trials.")


def study_run(client, study: str) -> str | None:
    """The id of ``study``'s parent run in ``client``'s store (None: not tracked there)."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, f"tags.`autonn.role` = '{STUDY_ROLE}' and "
                                           f"tags.`autonn.study` = '{study}'", max_results=1)
    return runs[0].info.run_id if runs else None
