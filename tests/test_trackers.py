"""A tracking backend is one class and one registry entry: a recording tracker, defined here,
receives a whole search through ``open_tracker``."""

from __future__ import annotations

import optuna

from autonn.config import make_config
from autonn.search.problem import prepare
from autonn.search.run import run_search
from autonn.tracking.tracker import TRACKERS, open_tracker


class RecordingTracker:
    """Keeps every call the search makes, in order."""

    records = True

    def __init__(self, uri, experiment):
        self.uri, self.experiment, self.calls = uri, experiment, []

    def start_study(self, name, settings):
        self.calls.append(("start_study", name))

    def attach(self, name):
        return True

    def start_trial(self, number, params, tags):
        self.calls.append(("start_trial", number))
        return f"run-{number}"

    def end_trial(self, number, state, **kwargs):
        self.calls.append(("end_trial", number, state, sorted(kwargs.get("metrics") or {})))

    def fail_run(self, trial):
        self.calls.append(("fail_run", trial.number))

    def new_best(self, number, metric, value, params, architecture):
        self.calls.append(("new_best", number))

    def end_study(self, status, **kwargs):
        self.calls.append(("end_study", status, kwargs.get("model") is not None,
                           sorted(kwargs.get("texts") or {})))

    def close(self):
        pass

    def spawn_args(self):
        return ("recording", self.uri, self.experiment)

    def runs_address(self, base):
        return f"{base}/recorded/{self.experiment}"

    def find_run(self, run_id):
        return self.experiment, None


def test_a_recording_tracker_receives_a_whole_search(monkeypatch):
    monkeypatch.setitem(TRACKERS, "recording", RecordingTracker)
    tracker = open_tracker("recording", None, "iris-recorded")
    cfg = make_config(dataset="iris", n_trials=3, seed=0, study="iris-recorded",
                      space={"epochs": 2, "n_layers": 1, "width": 8})
    study, final = run_search(prepare(cfg), storage=optuna.storages.InMemoryStorage(),
                              tracker=tracker)
    calls = tracker.calls
    assert calls[0] == ("start_study", "iris-recorded")
    assert [c[1] for c in calls if c[0] == "start_trial"] == [0, 1, 2]
    ended = {c[1]: c[2] for c in calls if c[0] == "end_trial"}
    assert ended == {t.number: t.state.name for t in study.trials}
    assert all(t.user_attrs["mlflow_run_id"] == f"run-{t.number}" for t in study.trials)
    assert ("new_best", study.best_trial.number) in calls
    assert calls[-1] == ("end_study", "FINISHED", True, ["trials.csv"])
    assert tracker.runs_address("http://ui") == "http://ui/recorded/iris-recorded"
