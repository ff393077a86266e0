"""Faults: a worker killed mid-trial or while it holds the journal's lock, and memory over many
trials (passwords in URLs: test_attacks)."""

import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from autonn.config import make_config
from autonn.search.problem import prepare
from autonn.search.run import run_search
from autonn.search.storage import JOURNAL_NAME, open_storage
from autonn.tracking.runs import default_tracking_uri

KILL_ME = [sys.executable, "-m", "autonn", "search", "--dataset", "digits", "--study", "kill-me",
           "--n-trials", "6", "--epochs", "12", "--pruner", "none", "--workers", "2", "--quiet"]


def running_trial_of_another_process(tmp_path, main_pid, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            study = optuna.load_study(study_name="kill-me", storage=open_storage(root=tmp_path / "mlruns"))
            for t in study.get_trials(states=(optuna.trial.TrialState.RUNNING,)):
                pid = int(t.user_attrs.get("owner", "x:0").rpartition(":")[2])
                if pid and pid != main_pid and t.user_attrs.get("mlflow_run_id"):
                    return t.number, pid
        except (KeyError, ValueError):
            pass  # the study does not exist yet
        time.sleep(0.2)
    raise TimeoutError("no worker trial started")


@pytest.mark.slow
def test_a_killed_worker_loses_nothing(tmp_path):
    search = subprocess.Popen(KILL_ME, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    number, pid = running_trial_of_another_process(tmp_path, search.pid)
    os.kill(pid, signal.SIGKILL)
    _, err = search.communicate(timeout=600)
    assert search.returncode == 0, err
    again = subprocess.run(KILL_ME, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr

    study = optuna.load_study(study_name="kill-me", storage=open_storage(root=tmp_path / "mlruns"))
    states = [t.state for t in study.trials]
    assert optuna.trial.TrialState.RUNNING not in states
    assert sum(s in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for s in states) == 6
    killed = study.trials[number]
    assert killed.state == optuna.trial.TrialState.FAIL and "died" in killed.user_attrs["fail_reason"]
    retry = [t for t in study.trials if t.user_attrs.get("retry_of") == number]
    assert len(retry) == 1 and retry[0].params == killed.params
    client = MlflowClient(default_tracking_uri(tmp_path / "mlruns"))
    runs = client.search_runs([client.get_experiment_by_name("kill-me").experiment_id])
    assert not [r for r in runs if r.info.status == "RUNNING"]
    assert client.get_run(killed.user_attrs["mlflow_run_id"]).info.status == "FAILED"


HOLDER = """
import sys, time
from pathlib import Path
from autonn.search.storage import JournalFlock
lock = JournalFlock(Path(sys.argv[1]))
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_a_writer_killed_holding_the_journal_lock_blocks_the_others_only_while_it_lives(tmp_path):
    """Optuna's own lock (a symlink) outlived a worker killed mid-write: the other processes
    waited on it for ever (it dangled under the relative ./mlruns path) or for 30 s."""
    journal = tmp_path / "mlruns" / JOURNAL_NAME
    storage = open_storage(root=Path("mlruns"))  # relative, as the command line opens it
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(journal)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        written = threading.Event()
        threading.Thread(target=lambda: (optuna.create_study(study_name="s", storage=storage),
                                         written.set()), daemon=True).start()
        assert not written.wait(2)  # a living holder excludes every other writer
    finally:
        holder.kill()
        holder.wait()
    assert written.wait(10)  # the kernel released the lock with its holder
    # the copy a spawned worker gets locks the same file
    copy = pickle.loads(pickle.dumps(storage))
    optuna.create_study(study_name="t", storage=copy)
    assert sorted(s.study_name for s in open_storage(root=Path("mlruns")).get_all_studies()) \
        == ["s", "t"]


def resident_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
def test_memory_stays_flat_over_300_trials():
    space = {"n_layers": 1, "width": 16, "epochs": 2, "batch_size": 128, "optimizer": "adam"}
    base = {"dataset": "iris", "sampler": "random", "pruner": "none", "space": space}
    run_search(prepare(make_config({**base, "n_trials": 50})), storage="mem.journal")  # warm up
    before = resident_bytes()
    run_search(prepare(make_config({**base, "n_trials": 350})), storage="mem.journal")
    assert resident_bytes() < before * 1.10
