"""Several worker processes on one study, on the default journal file and on PostgreSQL."""

import os
import subprocess
import sys
import time
import uuid

import optuna
import pytest
import torch
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from autonn import make_config
from autonn.cli import main
from autonn.search.deadline import last_deadline
from autonn.search.handoff import collect, unpack
from autonn.search.lifecycle import out_of_training
from autonn.search.problem import prepare
from autonn.search.ranking import remaining_trials
from autonn.search.storage import open_storage
from autonn.search.study import create_study
from autonn.search.worker_process import threads_per_worker
from autonn.search.workers import join_workers, release, resolve_workers, spawn_workers
from autonn.tracking.runs import default_tracking_uri

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
# no pruning, trials long enough that the spawned workers get some before the first one is done
STEADY = ["--epochs", "12", "--pruner", "none", "--quiet"]


def search(cwd, *args):
    return subprocess.run([sys.executable, "-m", "autonn", "search", "--dataset", "digits", *args,
                           *STEADY], cwd=cwd, capture_output=True, text=True, timeout=600)


def assert_exact(study, n, client, experiment):
    states = [t.state for t in study.trials]
    assert sorted(t.number for t in study.trials) == list(range(len(study.trials)))
    assert sum(s in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for s in states) == n
    assert optuna.trial.TrialState.RUNNING not in states
    assert len({t.user_attrs["owner"] for t in study.trials}) >= 2  # really shared out
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    trial_runs = [r.data.tags["autonn.trial"] for r in runs if "autonn.trial" in r.data.tags]
    assert sorted(map(int, trial_runs)) == sorted(t.number for t in study.trials)  # one run each
    assert not [r for r in runs if r.info.status == "RUNNING"]


@pytest.mark.slow
def test_four_workers_on_the_default_storage(tmp_path):
    result = search(tmp_path, "--study", "w4", "--n-trials", "14", "--workers", "4")
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(study_name="w4", storage=open_storage(root=tmp_path / "mlruns"))
    assert_exact(study, 14, MlflowClient(default_tracking_uri(tmp_path / "mlruns")), "w4")


@pytest.mark.slow
def test_three_workers_on_postgresql(tmp_path):
    name = f"pg-{uuid.uuid4().hex[:8]}"
    try:
        result = search(tmp_path, "--study", name, "--n-trials", "12", "--workers", "3",
                        "--storage", POSTGRES)
        assert result.returncode == 0, result.stderr
        study = optuna.load_study(study_name=name, storage=POSTGRES)
        assert_exact(study, 12, MlflowClient(default_tracking_uri(tmp_path / "mlruns")), name)
        # a second machine running the same command joins the finished study and adds nothing
        again = search(tmp_path, "--study", name, "--n-trials", "12", "--storage", POSTGRES)
        assert again.returncode == 0, again.stderr
        assert len(optuna.load_study(study_name=name, storage=POSTGRES).trials) == len(study.trials)
    finally:
        optuna.delete_study(study_name=name, storage=POSTGRES)


@pytest.mark.slow
def test_the_main_process_draws_one_study_wide_bar_for_all_workers(tmp_path):
    result = subprocess.run([sys.executable, "-m", "autonn", "search", "--dataset", "iris",
                             "--n-trials", "6", "--workers", "2", "--epochs", "3", "--no-tracking"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    # the bar counts every worker's trials, to the study's total
    assert "6/6 trials" in result.stderr, result.stderr[-2000:]


@pytest.mark.slow
def test_workers_start_no_trial_after_the_deadline_and_record_cut_trials_as_stopped(tmp_path):
    # trials of 100000 epochs cannot finish (no candidate's time cap here): the deadline lands
    # mid-trial in every process, including the worker, which starts seconds after the parent
    # (it imports torch and loads the data again) and must still keep the parent's deadline
    (tmp_path / "uncapped.yaml").write_text("training:\n  candidate_share: null\n")
    result = subprocess.run([sys.executable, "-m", "autonn", "search", "--dataset", "digits",
                             "uncapped.yaml",
                             "--study", "late", "--n-trials", "20", "--workers", "2",
                             "--timeout", "12", "--epochs", "100000", "--pruner", "none",
                             "--no-tracking"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(study_name="late", storage=open_storage(root=tmp_path / "mlruns"))
    deadline = last_deadline(study)
    ran = [t for t in study.trials if t.state != optuna.trial.TrialState.WAITING]
    assert deadline is not None and ran
    assert all(t.datetime_start.timestamp() < deadline for t in ran)
    assert len({t.user_attrs["owner"] for t in ran}) == 2  # the worker did run trials
    assert {t.state for t in ran} == {optuna.trial.TrialState.FAIL}  # none COMPLETE
    assert all("stopped by the search's deadline" in t.user_attrs["stopped"] for t in ran)
    assert remaining_trials(study, 20) == 20  # stopped trials do not count toward --n-trials
    assert "stopped by the --timeout deadline" in result.stdout
    assert "No final model: no trial finished within the budget" in result.stdout
    assert "COMPLETE" not in result.stdout and "WAITING" not in result.stdout


def test_a_worker_hands_its_best_networks_to_the_main_process_after_it_exits(tmp_path):
    # a real worker process trains, sends its best trials and exits before they are rebuilt
    # here: what crosses is data, not handles to the worker's memory
    config = make_config(dataset="iris", n_trials=3, seed=0, pruner="none", study="handed",
                         space={"epochs": 4, "n_layers": 1, "width": 8, "embedding": "none"})
    problem = prepare(config)
    journal = str(tmp_path / "optuna.journal")
    create_study(problem, journal)
    processes, readers = release(spawn_workers(config, range(1, 2), 2, journal, False), config,
                                 None)
    packed = collect(readers)
    assert join_workers(processes) == [] and not any(p.is_alive() for p in processes)
    winners = unpack(problem, packed)
    study = optuna.load_study(study_name="handed", storage=open_storage(journal))
    complete = {t.number: t for t in study.trials if t.state.name == "COMPLETE"}
    assert winners and {w.trial_number for w in winners} <= set(complete)
    for winner in winners:  # the same networks: they predict what the worker recorded
        assert winner.value == complete[winner.trial_number].value
        assert torch.allclose(out_of_training(problem, winner.fits), winner.predictions)
        assert len(winner.fits) == len(problem.folds)
        # the threads each fold trained on cross too: a refit here is predicted from them
        assert all(f.history.threads == threads_per_worker(2) for f in winner.fits)


def _send_then_die(writer, whole: bool) -> None:
    """A worker's last act: one whole message, then half of a 1 MB one, then killed."""
    import signal
    import struct

    if whole:
        writer.send([{"trial": 7}])
    os.write(writer.fileno(), struct.pack("!i", 1 << 20) + b"x" * 1000)  # 1000 of 1 MB bytes
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_killed_partway_through_sending_does_not_hang_the_main_process():
    # each worker has a pipe of its own, whose only write end it holds: killed mid-message, its
    # pipe ends, and the main process keeps what whole messages came (one queue for every
    # worker would wait forever for the rest of the message)
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    processes, readers = [], []
    for whole in (True, False):
        reader, writer = context.Pipe(duplex=False)
        processes.append(context.Process(target=_send_then_die, args=(writer, whole)))
        processes[-1].start()
        writer.close()
        readers.append(reader)
    finished = []
    collector = __import__("threading").Thread(target=lambda: finished.append(collect(readers)),
                                                daemon=True)
    collector.start()
    collector.join(timeout=60)
    assert finished == [[{"trial": 7}]]
    assert all(p.join(timeout=10) is None and p.exitcode == -9 for p in processes)


def test_auto_takes_two_workers_on_a_cpu_for_a_budget_long_enough_to_pay_for_them():
    cpu = "cpu"
    two = 2 if (os.cpu_count() or 1) >= 2 else 1
    assert resolve_workers("auto", cpu, 60) == two
    assert resolve_workers("auto", cpu, 10) == 1  # a worker's start would eat a short budget
    assert resolve_workers("auto", cpu, None) == 1  # no budget: trial counts, one process
    assert resolve_workers("auto", "meta", 60) == 1  # not a CPU
    assert resolve_workers("auto", cpu, 60, "sqlite:///s.db") == 1  # SQLite locks under two
    assert resolve_workers(3, cpu, None) == 3


@pytest.mark.parametrize("bad", ["0", "two", "-1"])
def test_a_worker_count_that_is_not_one_is_refused_with_the_fix(bad):
    result = CliRunner().invoke(main, ["search", "--dataset", "iris", "--workers", bad])
    assert result.exit_code == 2
    assert "whole number of 1 or more, or auto" in result.output


def test_a_lone_search_trains_a_small_table_on_one_thread_and_gives_torch_its_threads_back(
        monkeypatch):
    from autonn.search.run import run_search
    from autonn.training.threads import SMALL_TABLE, lone_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # a user's own count would win
    assert lone_threads(SMALL_TABLE - 1) == 1  # a small table: one thread is as fast, and safe
    assert 1 <= lone_threads(10 * SMALL_TABLE) <= (os.cpu_count() or 1)
    seen, before = [], torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        problem = prepare(make_config(dataset="iris", n_trials=2, seed=0,
                                      space={"epochs": 2}))
        run_search(problem, storage=optuna.storages.InMemoryStorage(),
                   callbacks=[lambda study, trial: seen.append(torch.get_num_threads())])
        assert seen == [1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_thread_count_the_user_set_for_openmp_is_kept(monkeypatch):
    from autonn.training.threads import lone_threads

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert lone_threads(10**9) == torch.get_num_threads()


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="counts runnable tasks on Linux")
def test_a_lone_search_on_a_busy_machine_takes_the_cores_other_processes_leave(monkeypatch):
    from autonn.training.threads import SMALL_TABLE, lone_threads, others_running

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = len(os.sched_getaffinity(0))
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        time.sleep(1.0)  # each burner is runnable from here on
        assert others_running() >= cores
        assert lone_threads(100 * SMALL_TABLE) == 1  # no core is free: one thread, no spinning
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
