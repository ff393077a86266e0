"""Several worker processes on one study.

Processes, not threads: the Python loop of small networks holds the GIL. The CPU's threads are
split between workers; with several CUDA devices, workers take them round-robin. Every worker
claims trials through ``claims.optimize_to_count``, so together they finish exactly the requested
count; the parent process opened the study and its MLflow parent run before they start.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import warnings
from typing import Any

import torch

from autonn.config import Config
from autonn.errors import DataWarning
from autonn.search.batching import populations
from autonn.search.claims import optimize_to_count
from autonn.search.handoff import Best, pack
from autonn.search.objective import make_objective
from autonn.search.problem import prepare
from autonn.search.signals import signals_interrupt
from autonn.search.study import create_study
from autonn.tracking.tracker import NullTracker, open_tracker


def start_workers(config: Config, indices: range, n_workers: int, storage: Any,
                  tracking: tuple | None, deadline: float | None = None,
                  since: float | None = None) -> tuple[list, Any]:
    """Start worker processes ``indices`` of ``n_workers`` on the study ``config`` describes;
    ``deadline`` is the search's (a ``time.time()`` value), which no worker starts a trial after,
    and ``since`` when it began. Returns the processes and the read end of each one's pipe, on
    which it sends its best trials' networks as it ends (``search.handoff``)."""
    context = multiprocessing.get_context("spawn")
    processes, readers = [], []
    for i in indices:
        reader, writer = context.Pipe(duplex=False)
        process = context.Process(target=_worker, name=f"autonn-worker-{i}",
                                  args=(config.model_dump(), i, n_workers, storage, tracking,
                                        deadline, since, writer))
        process.start()
        # the worker holds the only write end now: its pipe ends (EOF) when it exits, however
        writer.close()
        processes.append(process)
        readers.append(reader)
    return processes, readers


def join_workers(processes: list, interrupted: bool = False) -> list[str]:
    """Wait for the workers (asking them to stop first if ``interrupted``); name those that died.

    A worker that died leaves its trial to the others: the next claim fails and retries it.
    """
    if interrupted:
        for p in processes:
            p.terminate()  # SIGTERM: the worker's trial ends FAIL, its MLflow run KILLED
    for p in processes:
        p.join(timeout=60 if interrupted else None)
    return [f"{p.name} (exit {p.exitcode})" for p in processes if p.exitcode not in (0, 130, 143)]


# ``--workers auto``: two single-thread workers on a CPU of two cores or more, once a --timeout
# is long enough to pay for a worker's start (it imports torch and loads the data again: 3-5 s
# on 2 cores). At 60 s on 2 cores they ran 2.3-3x the candidates of one process on digits, ames
# and titanic, and held the budget quiet and beside two busy processes (benchmarks/RESULTS.md);
# on CUDA populations take the device instead.
AUTO_WORKERS, AUTO_MIN_TIMEOUT = 2, 30.0


def resolve_workers(setting: int | str, device: torch.device, timeout: float | None,
                    storage: str | None = None) -> int:
    """The worker processes to run: ``setting`` itself, or for "auto" ``AUTO_WORKERS`` on a CPU
    with that many cores and a --timeout of at least ``AUTO_MIN_TIMEOUT`` seconds, else one
    (also on SQLite, which locks under several writers: ``search.storage``)."""
    if setting != "auto":
        return int(setting)
    cores = os.cpu_count() or 1
    long_enough = timeout is not None and timeout >= AUTO_MIN_TIMEOUT
    shared = not (storage or "").startswith("sqlite")
    return (AUTO_WORKERS if device.type == "cpu" and cores >= AUTO_WORKERS and long_enough
            and shared else 1)


def threads_per_worker(n_workers: int) -> int:
    """The machine's CPU threads, shared out between workers."""
    return max(1, (os.cpu_count() or 1) // n_workers)


def worker_device(device: str, index: int) -> str:
    """``cuda`` spreads workers over every CUDA device, one each in turn; others stay as given."""
    if device == "cuda" and torch.cuda.device_count() > 1:
        return f"cuda:{index % torch.cuda.device_count()}"
    return device


def _worker(config_data: dict, index: int, n_workers: int, storage: Any,
            tracking: tuple | None, deadline: float | None, since: float | None,
            channel: Any) -> None:
    """One worker process: open the study and claim trials until the count is reached or the
    search's deadline comes (the parent's, not one counted from this worker's slower start);
    then send its best trials' networks to the main process."""
    torch.set_num_threads(threads_per_worker(n_workers))
    config = Config.model_validate(config_data)
    config = config.model_copy(update={"device": worker_device(config.device, index)})
    with warnings.catch_warnings():  # the main process already reported the table's dropped columns
        warnings.simplefilter("ignore", DataWarning)
        problem = prepare(config)
    problem.deadline = deadline
    tracker = open_tracker(*tracking) if tracking else NullTracker()
    study = create_study(problem, storage, worker=index + 1)
    tracker.attach(study.study_name)
    # as many as the final ensemble can draw on: its mean of the best, then as many additions
    best = Best(problem.metric.direction, 2 * max(config.ensemble, 1))
    try:
        with signals_interrupt():
            optimize_to_count(study, make_objective(problem, tracker, best.keep),
                              config.n_trials, storage=storage, deadline=deadline,
                              catch=(Exception,), retries=config.retries,
                              max_failures=config.max_failures, on_orphan=tracker.fail_run,
                              processes=n_workers, since=since,
                              **populations(problem, tracker, best.keep))
        channel.send(pack(best.winners))
    except KeyboardInterrupt as exc:
        sys.exit(128 + getattr(exc, "signal_number", 2))
    finally:
        channel.close()
        tracker.close()
