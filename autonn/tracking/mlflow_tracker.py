"""MLflow tracking: one experiment per study, one parent run per study, one nested child run
per trial.

Child runs are created synchronously when a trial starts (so a long trial is visible while it
runs); everything else is queued to one background thread and sent in batches, off the training
loop. Every run's final status is set here, never left to MLflow's exit hook.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

from autonn.errors import TrackingError
from autonn.export.mlflow_model import model_args
from autonn.masking import mask, mask_text
from autonn.tracking.new_store import seed_store
from autonn.tracking.outbox import deliver
from autonn.tracking.runs import STUDY_ROLE, quiet_client, runs_url, sort_tags, trial_of_run

MAX_BATCH = 1000  # MLflow's limit of metrics per log_batch call
# STOPPED: the search's deadline cut the trial short (Optuna records it as FAIL)
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED", "KILLED": "KILLED",
              "STOPPED": "KILLED"}
RUN_SUFFIX = {"PRUNED": "pruned", "FAIL": "failed", "KILLED": "interrupted", "STOPPED": "stopped"}


class MlflowTracker:
    """Writes a study to MLflow; see the module docstring for the run tree."""

    records = True

    def __init__(self, tracking_uri: str, experiment: str, artifact_root: str | Path | None = None):
        import mlflow

        self.uri, self.experiment = tracking_uri, experiment
        seed_store(tracking_uri)  # a new embedded store: a copy, not 2 s of migrations
        self.client = quiet_client(tracking_uri)
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
        _deliver_outbox(tracking_uri, self.client)
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
        for key, value in sort_tags(settings["metric"], settings["direction"]).items():
            self.client.set_experiment_tag(self.experiment_id, key, value)
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

    def spawn_args(self) -> tuple[str, str, str]:
        """What ``open_tracker(*args)`` takes to build this tracker in a worker process."""
        return "mlflow", self.uri, self.experiment

    def runs_address(self, base: str) -> str:
        """The study's runs table in the MLflow UI at ``base``, best trial first."""
        tags = self.client.get_experiment(self.experiment_id).tags
        return runs_url(base, self.experiment_id, tags)

    def find_run(self, run_id: str) -> tuple[str, int | None]:
        """The study and trial an MLflow run of this store records."""
        return trial_of_run(self.uri, run_id)

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
        """Write the study's artifacts and the best pipeline (an ``autonn.export.bundle.Bundle``, logged
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
        if state in RUN_SUFFIX:  # the runs table shows the name, not the status's meaning
            all_tags["mlflow.runName"] = f"trial-{number:04d} {RUN_SUFFIX[state]}"

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
            raise TrackingError(f"writing to MLflow at {mask(self.uri)} failed: {mask_text(str(errors[0]))}")

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
        quiet = io.StringIO()  # MLflow prints registry chatter straight to the terminal
        with tempfile.TemporaryDirectory() as scratch, _fluent_uri(self.uri), \
                self._mlflow.start_run(run_id=self.parent_id), redirect_stdout(quiet), \
                redirect_stderr(quiet):
            self._mlflow.pyfunc.log_model(name="model", registered_model_name=self.experiment,
                                          **model_args(bundle, Path(scratch), example))


def _deliver_outbox(tracking_uri: str, client: Any) -> None:
    """Send tags an earlier command left for this store (``tracking.outbox``); any that cannot
    be sent now wait for the next search."""
    try:
        deliver(tracking_uri, client)
    except Exception:  # noqa: BLE001 - the search goes on; the records stay in the outbox
        pass


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
