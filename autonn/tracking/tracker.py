"""What the search tells a tracker, the tracker that records nothing, and the registry that
builds one by name (``open_tracker``, as ``open_storage`` opens a study's storage).

A ``Tracker`` has a handful of hooks the search calls (a study starts, a trial starts and ends, a
new best, the study ends); ``NullTracker`` ignores them, ``MlflowTracker`` writes them to MLflow.
A new backend is one class with these members and one entry in ``TRACKERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Tracker(Protocol):
    """What the search tells a tracker."""

    records: bool  # False: the search need not prepare artifacts (plots, tables) for it

    def start_study(self, name: str, settings: dict[str, Any]) -> None:
        """Open (or reopen, on resume) the study's record with its settings."""

    def attach(self, name: str) -> bool:
        """Join the record of a study another process opened (a worker); False if none yet."""

    def start_trial(self, number: int, params: dict[str, Any], tags: dict[str, Any]
                    ) -> str | None:
        """A trial begins: record it now (a long trial is visible while it runs); its id."""

    def end_trial(self, number: int, state: str, *, curves: dict[str, list[float]] | None = None,
                  metrics: dict[str, float] | None = None, tags: dict[str, Any] | None = None,
                  traceback: str | None = None) -> None:
        """A trial ends COMPLETE, PRUNED, STOPPED, FAIL or KILLED, with its curves and facts."""

    def fail_run(self, trial: Any) -> None:
        """End the record of a trial whose process died (an Optuna FrozenTrial)."""

    def new_best(self, number: int, metric: str, value: float, params: dict[str, Any],
                 architecture: dict[str, Any]) -> None:
        """A trial took the lead: record it on the study."""

    def end_study(self, status: str, *, metrics: dict[str, float] | None = None,
                  texts: dict[str, str] | None = None, figures: dict[str, Any] | None = None,
                  model: Any = None, example: Any = None) -> None:
        """Close the study's record with its artifacts and final model (a Bundle)."""

    def close(self) -> None:
        """Send what is pending; the study's record stays open (a worker's last call)."""

    def spawn_args(self) -> tuple[Any, ...] | None:
        """What ``open_tracker(*args)`` takes to build this tracker in a worker process."""

    def runs_address(self, base: str) -> str | None:
        """Where a person browses the study's trials, given the UI's ``base`` address."""

    def find_run(self, run_id: str) -> tuple[str, int | None]:
        """The study and trial (None: the study's own) of a run id (``--warm-start RUN``)."""


class NullTracker:
    """Tracks nothing: the default for library use and for benchmarks with tracking off."""

    records = False

    def start_study(self, name, settings):
        pass

    def attach(self, name):
        return False

    def start_trial(self, number, params, tags):
        return None

    def end_trial(self, number, state, **kwargs):
        pass

    def fail_run(self, trial):
        pass

    def new_best(self, number, metric, value, params, architecture):
        pass

    def end_study(self, status, **kwargs):
        pass

    def close(self):
        pass

    def spawn_args(self):
        return None

    def runs_address(self, base):
        return None

    def find_run(self, run_id):
        # a run id given without tracking: the embedded MLflow store may still know it
        from autonn.tracking.runs import default_tracking_uri, trial_of_run  # mlflow, lazily

        return trial_of_run(default_tracking_uri(), run_id)


def _mlflow(uri: str | None, experiment: str) -> Tracker:
    from autonn.tracking.mlflow_tracker import MlflowTracker  # mlflow: when tracking only
    from autonn.tracking.runs import default_tracking_uri  # beside it

    return MlflowTracker(uri or default_tracking_uri(), experiment)


# name -> (tracking URI or None for the backend's default, experiment) -> a Tracker
TRACKERS: dict[str, Callable[[str | None, str], Tracker]] = {
    "mlflow": _mlflow,
    "none": lambda uri, experiment: NullTracker(),
}


def open_tracker(kind: str = "mlflow", uri: str | None = None, experiment: str = "autonn"
                 ) -> Tracker:
    """The tracker ``kind`` (a ``TRACKERS`` name) for ``experiment`` at ``uri``."""
    from autonn.errors import lookup  # light: the registry lookup's one message

    return lookup(TRACKERS, "tracker", kind)(uri, experiment)
