"""One worker process of a search (``search.workers`` starts it).

A worker starts before the search it joins is ready: while the main process loads the data and
opens the study, it imports torch, takes the imports its first trial would wait for and
prepares the problem from the command's config. Then it waits for the search's go - the
problem's final config, the tracker, the deadline - and claims trials until the count is
reached or the deadline comes, and sends its best trials' networks to the main process.
"""

from __future__ import annotations

import os
import signal
import sys
import warnings
from multiprocessing.connection import Connection
from typing import Any

import torch

from autonn.config import Config
from autonn.errors import DataWarning
from autonn.search.batching import populations
from autonn.search.claims import optimize_to_count
from autonn.search.handoff import Best, pack
from autonn.search.objective import make_objective
from autonn.search.problem import Problem, prepare
from autonn.search.signals import signals_interrupt
from autonn.search.study import create_study
from autonn.tracking.tracker import NullTracker, open_tracker
from autonn.training.device import resolve_device


def run_worker(config_data: dict, index: int, n_workers: int, storage: Any, tracking: bool,
               starter: Connection, channel: Connection) -> None:
    """Worker ``index`` of ``n_workers``: get ready on the command's config, then, once the
    search's go comes on ``starter`` (``workers.release``), search; nothing if its pipe ends
    first (``workers.cancel`` ends it while it waits)."""
    try:
        torch.set_num_threads(threads_per_worker(n_workers))
        early = _prepared(config_data, index)
        _warm_up(tracking)
        try:
            go = starter.recv()
        except EOFError:  # the command ended before its search began
            return
        _search(early, index, n_workers, storage, channel, *go)
    except KeyboardInterrupt as exc:
        sys.exit(128 + getattr(exc, "signal_number", 2))
    finally:
        channel.close()


def _search(early: Problem | None, index: int, n_workers: int, storage: Any,
            channel: Connection, config_data: dict, tracking: tuple | None,
            deadline: float | None, since: float | None) -> None:
    """Claim trials until the count is reached or the search's deadline comes (the parent's,
    not one counted from this worker's start); then send the best trials' networks."""
    config = Config.model_validate(config_data)
    problem = problem_for(early, config.model_copy(update={
        "device": worker_device(config.device, index)}))
    problem.deadline = deadline
    tracker = open_tracker(*tracking) if tracking else NullTracker()
    study = create_study(problem, storage, worker=index + 1)
    tracker.attach(study.study_name)
    # as many as the final ensemble can draw on: its mean of the best, then as many additions
    best = Best(problem.metric.direction, 2 * max(config.ensemble, 1))
    _hear_ctrl_c()
    try:
        with signals_interrupt():
            optimize_to_count(study, make_objective(problem, tracker, best.keep),
                              config.n_trials, storage=storage, deadline=deadline,
                              catch=(Exception,), retries=config.retries,
                              max_failures=config.max_failures, on_orphan=tracker.fail_run,
                              processes=n_workers, since=since,
                              **populations(problem, tracker, best.keep))
        channel.send(pack(best.winners))
    finally:
        tracker.close()


def _hear_ctrl_c() -> None:
    """Take SIGINT again from here on (``workers`` held it back while this process started):
    in its search a worker ends its trial on Ctrl-C as the main process does. One held back
    until now was the main process's to act on (it ends a worker it does not release), and is
    dropped: an ignored signal that is pending is discarded."""
    if hasattr(signal, "pthread_sigmask"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _prepared(config_data: dict, index: int) -> Problem | None:
    """The problem of the command's config, prepared before the search's go, on the CPU only
    (a GPU's is prepared after it, on the device the go assigns); None where it fails (the main
    process reports the input's errors)."""
    config = Config.model_validate(config_data)
    device = worker_device(config.device, index)
    try:
        if resolve_device(device).type != "cpu":
            return None
        return _quietly(config.model_copy(update={"device": device}))
    except Exception:
        return None


def problem_for(early: Problem | None, config: Config) -> Problem:
    """``early`` where it was prepared on ``config`` itself (make_problem resolves the same
    config the same way in every process); else ``config``'s problem, prepared now."""
    if early is not None and early.config == config:
        return early
    return _quietly(config)


def _quietly(config: Config) -> Problem:
    with warnings.catch_warnings():  # the main process already reported the table's dropped columns
        warnings.simplefilter("ignore", DataWarning)
        return prepare(config)


def _warm_up(tracking: bool) -> None:
    """The imports a first trial would wait for, taken while the search is being set up: torch's
    optimizers import torch._dynamo on their first step (2 s on 2 cores), MLflow its client."""
    weight = torch.zeros(1, requires_grad=True)
    weight.grad = torch.zeros(1)
    torch.optim.SGD([weight], lr=0.0).step()
    if tracking:
        import autonn.tracking.mlflow_tracker  # noqa: F401  (mlflow: 2 s)


def threads_per_worker(n_workers: int) -> int:
    """The machine's CPU threads, shared out between workers."""
    return max(1, (os.cpu_count() or 1) // n_workers)


def worker_device(device: str, index: int) -> str:
    """``cuda`` spreads workers over every CUDA device, one each in turn; others stay as given."""
    if device == "cuda" and torch.cuda.device_count() > 1:
        return f"cuda:{index % torch.cuda.device_count()}"
    return device
