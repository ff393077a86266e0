"""What the search tells a tracker, and the tracker that records nothing.

A ``Tracker`` has a handful of hooks the search calls (a study starts, a trial starts and ends, a
new best, the study ends); ``NullTracker`` ignores them, ``MlflowTracker`` writes them to MLflow.
"""

from __future__ import annotations

from typing import Any, Protocol


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
