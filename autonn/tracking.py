"""Experiment tracking: the one module that writes to MLflow's tracking store.

A ``Tracker`` has a handful of hooks the search calls; ``NullTracker`` ignores them and
``MlflowTracker`` writes one experiment per study, one parent run per study and one nested child
run per trial. Child runs are created synchronously when a trial starts (so a long trial is visible
while it runs); everything else is queued to one background thread and sent in batches, off the
training loop. Every run's final status is set here, never left to MLflow's exit hook.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any, Protocol

from autonn.errors import TrackingError
from autonn.storage import mask

STUDY_ROLE = "study"
MAX_BATCH = 1000  # MLflow's limit of metrics per log_batch call
# Fail within seconds on an unreachable server instead of MLflow's default minutes of retries.
HTTP_LIMITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
               "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED", "KILLED": "KILLED"}


def default_tracking_uri(root: str | Path = "mlruns") -> str:
    """The embedded store: a SQLite database under ``root``."""
    return f"sqlite:///{(Path(root) / 'mlflow.db').resolve()}"


class Tracker(Protocol):
    """What the search tells a tracker."""

    records: bool  # False: the search need not prepare artifacts for it

    def start_study(self, name: str, settings: dict[str, Any]) -> None: ...

    def start_trial(self, number: int, params: dict[str, Any], tags: dict[str, Any]) -> str | None: ...

    def end_trial(self, number: int, state: str, *, curves: dict[str, list[float]] | None = None,
                  metrics: dict[str, float] | None = None, tags: dict[str, Any] | None = None,
                  traceback: str | None = None) -> None: ...

    def fail_run(self, trial: Any) -> None: ...

    def attach(self, name: str) -> bool: ...

    def spawn_args(self) -> tuple[str, str] | None: ...

    def close(self) -> None: ...

    def new_best(self, number: int, metric: str, value: float, params: dict[str, Any],
                 architecture: dict[str, Any]) -> None: ...

    def end_study(self, status: str, *, metrics: dict[str, float] | None = None,
                  texts: dict[str, str] | None = None, figures: dict[str, Any] | None = None,
                  model: Any = None, example: Any = None) -> None: ...


class NullTracker:
    """Tracks nothing: the default for library use and for benchmarks with tracking off."""

    records = False

    def start_study(self, name, settings):
        pass

    def start_trial(self, number, params, tags):
        return None

    def end_trial(self, number, state, **kwargs):
        pass

    def new_best(self, number, metric, value, params, architecture):
        pass

    def end_study(self, status, **kwargs):
        pass

    def fail_run(self, trial):
        pass

    def attach(self, name):
        pass

    def close(self):
        pass

    def spawn_args(self):
        return None


class MlflowTracker:
    """Writes a study to MLflow; see the module docstring for the run tree."""

    records = True

    def __init__(self, tracking_uri: str, experiment: str, artifact_root: str | Path | None = None):
        import mlflow

        self.uri, self.experiment = tracking_uri, experiment
        self.client = _quiet_client(tracking_uri)
        self._mlflow = mlflow
        try:
            found = self.client.get_experiment_by_name(experiment)
            self.experiment_id = found.experiment_id if found else self.client.create_experiment(
                experiment, artifact_location=_artifact_location(tracking_uri, artifact_root, experiment),
                tags={"mlflow.experimentKind": "custom_model_development"})  # UI: model training
        except Exception as exc:  # MLflow raises MlflowException, requests' errors, SQLAlchemy's
            raise TrackingError(f"cannot reach the MLflow tracking store at {mask(tracking_uri)} "
                                f"({type(exc).__name__}); check --tracking-uri / "
                                "MLFLOW_TRACKING_URI, or start the server.") from None
        self.parent_id: str | None = None
        self._runs: dict[int, str] = {}
        self._queue = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autonn-mlflow")
        self._pending: list[Future] = []

    # -- study ------------------------------------------------------------------------------------
    def start_study(self, name: str, settings: dict[str, Any]) -> None:
        """Open (or reopen, on resume) the study's parent run and record its settings."""
        from mlflow.entities import Param

        if self.attach(name):
            self.client.update_run(self.parent_id, status="RUNNING")
            return
        run = self.client.create_run(self.experiment_id, run_name=name,
                                     tags={"autonn.role": STUDY_ROLE, "autonn.study": name})
        self.parent_id = run.info.run_id
        self.client.log_batch(self.parent_id, params=[Param(k, _text(v)) for k, v in settings.items()])

    def attach(self, name: str) -> bool:
        """Find the study's parent run (a worker's trials nest under it); False if none yet."""
        existing = self.client.search_runs(
            [self.experiment_id], f"tags.`autonn.role` = '{STUDY_ROLE}' and tags.`autonn.study` = '{name}'",
            max_results=1)
        if existing:
            self.parent_id = existing[0].info.run_id
        return bool(existing)

    def spawn_args(self) -> tuple[str, str]:
        """What a worker process needs to build its own tracker for the same experiment."""
        return self.uri, self.experiment

    def close(self) -> None:
        """Send what is queued and stop the background thread; the parent run stays open."""
        try:
            self.flush()
        finally:
            self._queue.shutdown(wait=True)

    def new_best(self, number: int, metric: str, value: float, params: dict[str, Any],
                 architecture: dict[str, Any]) -> None:
        """Record a new best trial on the parent run as the search goes."""
        def send() -> None:
            self.client.log_metric(self.parent_id, f"best_{metric}", value, step=number)
            self.client.set_tag(self.parent_id, "best_trial", str(number))
            self.client.log_dict(self.parent_id, params, "best_params.json")
            self.client.log_dict(self.parent_id, architecture, "best_architecture.json")
        self._submit(send)

    def end_study(self, status: str, *, metrics: dict[str, float] | None = None,
                  texts: dict[str, str] | None = None, figures: dict[str, Any] | None = None,
                  model: Any = None, example: Any = None) -> None:
        """Write the study's artifacts and the best pipeline (an ``autonn.bundle.Bundle``, logged
        as an MLflow model and registered); then close the parent run."""
        self.flush()
        try:
            for path, text in (texts or {}).items():
                self.client.log_text(self.parent_id, text, path)
            for path, figure in (figures or {}).items():
                self.client.log_figure(self.parent_id, figure, path)
            if metrics:
                self._log_metrics(self.parent_id, {k: [v] for k, v in metrics.items()})
            if model is not None:
                self._log_model(model, example)
        finally:
            self.client.set_terminated(self.parent_id, status)
            self._queue.shutdown(wait=True)

    # -- trials -----------------------------------------------------------------------------------
    def start_trial(self, number: int, params: dict[str, Any], tags: dict[str, Any]) -> str:
        """Create the trial's child run now; its parameters follow in the background."""
        from mlflow.entities import Param

        run = self.client.create_run(self.experiment_id, run_name=f"trial-{number:04d}", tags={
            "mlflow.parentRunId": self.parent_id, "autonn.trial": str(number),
            **{f"autonn.{k}": _text(v) for k, v in tags.items()}})
        run_id = self._runs[number] = run.info.run_id
        self._submit(lambda: self.client.log_batch(
            run_id, params=[Param(k, _text(v)) for k, v in params.items()]))
        return run_id

    def end_trial(self, number: int, state: str, *, curves: dict[str, list[float]] | None = None,
                  metrics: dict[str, float] | None = None, tags: dict[str, Any] | None = None,
                  traceback: str | None = None) -> None:
        """Send the trial's curves, final metrics and tags, then end its run with a matching status."""
        run_id = self._runs.pop(number, None)
        if run_id is None:
            return
        all_tags = {"autonn.state": state, **{f"autonn.{k}": v for k, v in (tags or {}).items()}}

        def send() -> None:
            from mlflow.entities import RunTag

            series = dict(curves or {})
            series.update({k: [v] for k, v in (metrics or {}).items()})
            self._log_metrics(run_id, series, tags=[RunTag(k, _text(v)) for k, v in all_tags.items()])
            if traceback:
                self.client.log_text(run_id, traceback, "traceback.txt")
            self.client.set_terminated(run_id, RUN_STATUS[state])
        self._submit(send)

    def fail_run(self, trial: Any) -> None:
        """End the MLflow run of a trial whose worker died: FAILED, with the reason."""
        run_id = trial.user_attrs.get("mlflow_run_id")
        if run_id:
            self._submit(lambda: (self.client.set_tag(run_id, "autonn.state", "FAIL"),
                                  self.client.set_tag(run_id, "autonn.fail_reason", "worker died"),
                                  self.client.set_terminated(run_id, "FAILED")))

    # -- plumbing ---------------------------------------------------------------------------------
    def flush(self) -> None:
        """Wait for every queued write; re-raise the first that failed."""
        pending, self._pending = self._pending, []
        errors = [f.exception() for f in pending if f.exception() is not None]
        if errors:
            raise TrackingError(f"writing to MLflow at {mask(self.uri)} failed: {errors[0]}")

    def _submit(self, fn) -> None:
        self._pending.append(self._queue.submit(fn))

    def _log_metrics(self, run_id: str, series: dict[str, list[float]], tags=()) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(name, float(v), now, step) for name, values in series.items()
                 for step, v in enumerate(values)]
        for lo in range(0, max(len(items), 1), MAX_BATCH):
            self.client.log_batch(run_id, metrics=items[lo:lo + MAX_BATCH],
                                  tags=list(tags) if lo == 0 else [])

    def _log_model(self, bundle: Any, example: Any) -> None:
        """The best pipeline as an MLflow pyfunc model (autonn's MLflow export), registered."""
        import tempfile

        from autonn.formats import mlflow_model_args

        quiet = io.StringIO()  # MLflow prints registry chatter straight to the terminal
        with tempfile.TemporaryDirectory() as scratch, _fluent_uri(self.uri), \
                self._mlflow.start_run(run_id=self.parent_id), redirect_stdout(quiet), \
                redirect_stderr(quiet):
            self._mlflow.pyfunc.log_model(name="model", registered_model_name=self.experiment,
                                          **mlflow_model_args(bundle, Path(scratch), example))


@contextmanager
def _fluent_uri(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API at ``uri`` for a moment, then restore its URI and environment.

    ``mlflow.set_tracking_uri`` also writes MLFLOW_TRACKING_URI into the environment, which would
    leak this store into later searches in the same process.
    """
    from mlflow.tracking._tracking_service import utils

    saved_uri, saved_env = utils._tracking_uri, os.environ.get("MLFLOW_TRACKING_URI")
    utils.set_tracking_uri(uri)
    try:
        yield
    finally:
        utils._tracking_uri = saved_uri
        if saved_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved_env


def _artifact_location(tracking_uri: str, root: str | Path | None, experiment: str) -> str | None:
    """Artifacts of the embedded SQLite store live beside it; a server picks its own."""
    if root is None and tracking_uri.startswith("sqlite:///"):
        root = Path(tracking_uri.removeprefix("sqlite:///")).parent / "artifacts"
    return (Path(root) / experiment).resolve().as_uri() if root else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def experiment_ids(tracking_uri: str) -> dict[str, str]:
    """Experiment name -> id for every autonn study tracked at ``tracking_uri``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    return {e.name: e.experiment_id for e in client.search_experiments()
            if e.name != "Default"}


def _client(tracking_uri: str):
    """A client for an existing store; the embedded SQLite store is never created here."""

    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri.removeprefix("sqlite:///")).is_file():
        raise TrackingError(f"no MLflow store at {mask(tracking_uri)}; the search ran without "
                            "tracking, or give --tracking-uri.")
    return _quiet_client(tracking_uri)


def _quiet_client(tracking_uri: str):
    """An MlflowClient that fails within seconds on an unreachable server and logs warnings only."""
    from mlflow.tracking import MlflowClient

    for key, value in HTTP_LIMITS.items():
        os.environ.setdefault(key, value)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    return MlflowClient(tracking_uri)


def trial_of_run(tracking_uri: str, run_id: str) -> tuple[str, int | None]:
    """The study and trial number an MLflow run records (None for a study's own run)."""
    client = _client(tracking_uri)
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


def log_export(tracking_uri: str, study: str, fmt: str, path: str | Path, digest: str) -> str | None:
    """Tag the study's parent run with an exported file's sha256 and path; returns its run id,
    or None when the study has no parent run in this store."""
    client = _client(tracking_uri)
    try:
        experiments = [e.experiment_id for e in client.search_experiments()]
        runs = client.search_runs(experiments, f"tags.`autonn.role` = '{STUDY_ROLE}' and "
                                               f"tags.`autonn.study` = '{study}'", max_results=1)
        if not runs:
            return None
        run_id = runs[0].info.run_id
        client.set_tag(run_id, f"autonn.export.{fmt}.sha256", digest)
        client.set_tag(run_id, f"autonn.export.{fmt}.path", str(Path(path).resolve()))
    except Exception as exc:
        raise TrackingError(f"cannot log the export to MLflow at {mask(tracking_uri)} "
                            f"({type(exc).__name__}).") from None
    return run_id
