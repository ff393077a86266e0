"""Workers started before their search is set up: they search once released, on the problem
they prepared, and end without a trace when the command ends first."""

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time

import optuna
import pytest
from click.testing import CliRunner

from autonn import make_config
from autonn.cli import main
from autonn.config import Config
from autonn.search.handoff import collect
from autonn.search.problem import prepare
from autonn.search.storage import open_storage
from autonn.search.study import create_study
from autonn.search.worker_process import problem_for
from autonn.search.workers import cancel, join_workers, release, spawn_workers

SMALL = {"epochs": 3, "n_layers": 1, "width": 8, "embedding": "none"}


def test_a_worker_started_before_the_study_exists_searches_once_released(tmp_path):
    config = make_config(dataset="iris", n_trials=4, seed=0, pruner="none", study="early",
                         space=SMALL)
    journal = str(tmp_path / "optuna.journal")
    spawned = spawn_workers(config, range(1, 2), 2, journal, tracking=False)
    time.sleep(1.0)  # it is importing and preparing now, with no study to join yet
    problem = prepare(config)
    create_study(problem, journal)
    processes, readers = release(spawned, problem.config, None)
    packed = []
    collector = threading.Thread(target=lambda: packed.extend(collect(readers)), daemon=True)
    collector.start()
    collector.join(timeout=300)  # a worker that never searched would leave its pipe open
    assert not collector.is_alive() and join_workers(processes) == []
    study = optuna.load_study(study_name="early", storage=open_storage(journal))
    assert len(study.trials) == 4 and {t.state.name for t in study.trials} == {"COMPLETE"}
    assert packed and {p["trial"] for p in packed} <= {t.number for t in study.trials}


def test_a_cancelled_worker_ends_at_once(tmp_path):
    config = make_config(dataset="iris", n_trials=4, seed=0, study="never", space=SMALL)
    journal = str(tmp_path / "optuna.journal")
    spawned = spawn_workers(config, range(1, 3), 3, journal, tracking=True)
    time.sleep(3.0)  # importing, preparing or already waiting for the go
    begun = time.monotonic()
    cancel(spawned)
    assert time.monotonic() - begun < 15
    assert [p.exitcode for p in spawned.processes] == [-signal.SIGTERM] * 2  # ended, not done
    cancel(spawned)  # twice is harmless: the command's own cleanup may follow run_search's


def test_bad_input_with_workers_ends_the_command_with_its_error_and_no_worker_left(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n")
    before = set(multiprocessing.active_children())
    result = CliRunner().invoke(main, ["search", "--data", str(tmp_path / "t.csv"),
                                       "--target", "label", "--timeout", "60",
                                       "--workers", "2", "--no-tracking"])
    assert result.exit_code != 0 and "label" in result.output
    assert set(multiprocessing.active_children()) <= before


def test_a_worker_searches_on_the_problem_it_prepared_only_where_the_config_is_the_same():
    config = make_config(dataset="iris", seed=0, space=SMALL)
    early = prepare(config)
    # the go carries the main process's resolved config through a pipe, as plain data
    released = Config.model_validate(prepare(config).config.model_dump())
    assert problem_for(early, released) is early
    other = early.config.model_copy(update={"seed": 1})
    fresh = problem_for(early, other)
    assert fresh is not early and fresh.config == prepare(other).config
    assert problem_for(None, early.config).config == early.config  # its own preparing failed


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="finds the workers in /proc")
def test_a_ctrl_c_that_reaches_a_starting_worker_leaves_it_to_the_main_process(tmp_path):
    # a terminal's Ctrl-C reaches every process of the group; a worker still importing holds it
    # back (the main process ends it if the command stops), so no traceback comes from the
    # middle of its imports and, here, where only the worker got it, it goes on to search
    command = [sys.executable, "-m", "autonn", "search", "--dataset", "iris", "--study", "held",
               "--n-trials", "12", "--workers", "2", "--epochs", "40", "--no-tracking", "--quiet"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    while not (workers := _workers_of(process.pid)) and process.poll() is None:
        time.sleep(0.005)  # the moment it exists: Python is still starting in it
    for pid in workers:
        os.kill(pid, signal.SIGINT)
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 0, output
    assert "Traceback" not in output and "died" not in output, output
    study = optuna.load_study(study_name="held", storage=open_storage(root=tmp_path / "mlruns"))
    assert len({t.user_attrs["owner"] for t in study.trials}) == 2  # the worker searched


def _workers_of(pid: int) -> list[int]:
    """The worker processes of ``pid`` (its children that run multiprocessing's spawn_main, not
    its resource tracker), from Linux's /proc."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                if parent == pid and b"spawn_main" in cmdline.read():
                    found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found
