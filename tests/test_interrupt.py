"""Ctrl-C and SIGTERM during a trial, in a real subprocess: nothing is left RUNNING, and the same
command resumes the study to the requested trial count."""

import signal
import subprocess
import sys
import time

import optuna
import pytest
from mlflow.tracking import MlflowClient

from autonn.search.storage import open_storage
from autonn.tracking.runs import default_tracking_uri

COMMAND = [sys.executable, "-m", "autonn", "search", "--dataset", "digits", "--study", "stop-me",
           "--n-trials", "2", "--epochs", "10", "--pruner", "none", "--quiet"]


def wait_for_running_trial(tmp_path, process, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            client = MlflowClient(default_tracking_uri(tmp_path / "mlruns"))
            exp = client.get_experiment_by_name("stop-me")
            if exp and client.search_runs([exp.experiment_id],
                                          "tags.`autonn.trial` = '0' and attributes.status = 'RUNNING'"):
                return
        except Exception:  # the store is still being created
            pass
        time.sleep(0.3)
    raise TimeoutError("no trial started")


@pytest.mark.slow
@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_search_leaves_nothing_running_and_resumes(tmp_path, signum, code):
    process = subprocess.Popen(COMMAND, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    wait_for_running_trial(tmp_path, process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    assert "Run the same command again to resume" in err and "Traceback" not in err

    client = MlflowClient(default_tracking_uri(tmp_path / "mlruns"))
    exp = client.get_experiment_by_name("stop-me")
    runs = client.search_runs([exp.experiment_id])
    assert runs and not [r for r in runs if r.info.status == "RUNNING"]
    killed = [r for r in runs if r.data.tags.get("autonn.trial") == "0"]
    assert killed[0].info.status == "KILLED"
    parent = [r for r in runs if r.data.tags.get("autonn.role") == "study"][0]
    assert parent.info.status == "KILLED"
    study = optuna.load_study(study_name="stop-me", storage=open_storage(root=tmp_path / "mlruns"))
    # trial 0 and any trial claimed with it in its population were running: all end FAIL with
    # their runs KILLED; a built-in start not yet claimed waits for the resume
    ran = [t for t in study.trials if t.state != optuna.trial.TrialState.WAITING]
    assert ran and {t.state for t in ran} == {optuna.trial.TrialState.FAIL}
    trial_runs = {r.data.tags.get("autonn.trial"): r.info.status for r in runs}
    assert {trial_runs.get(str(t.number), "KILLED") for t in ran} == {"KILLED"}  # a run if begun
    if signum != signal.SIGINT:
        return  # a study stopped either way resumes alike: once is enough

    resumed = subprocess.run(COMMAND, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    study = optuna.load_study(study_name="stop-me", storage=open_storage(root=tmp_path / "mlruns"))
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials) == 2
    runs = client.search_runs([exp.experiment_id])
    assert not [r for r in runs if r.info.status == "RUNNING"]
    assert [r for r in runs if r.data.tags.get("autonn.role") == "study"][0].info.status == "FINISHED"
