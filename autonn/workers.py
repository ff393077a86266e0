"""Several worker processes on one study.

Processes, not threads: the Python loop of small networks holds the GIL. The CPU's threads are
split between workers; with several CUDA devices, workers take them round-robin. Every worker
claims trials through ``claims.optimize_to_count``, so together they finish exactly the requested
count; the parent process opened the study and its MLflow parent run before they start.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

from autonn.config import Config


def run_workers(config: Config, n_workers: int, storage: Any, tracking: tuple[str, str] | None) -> None:
    """Run ``n_workers`` processes on the study ``config`` describes; wait for all of them.

    Raises:
        KeyboardInterrupt: after asking every worker to stop (each ends its trial cleanly).
        RuntimeError: a worker exited with an error.
    """
    context = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // n_workers)
    processes = [context.Process(target=_worker, name=f"autonn-worker-{i}",
                                 args=(config.model_dump(), i, threads, storage, tracking))
                 for i in range(n_workers)]
    for p in processes:
        p.start()
    try:
        for p in processes:
            p.join()
    except KeyboardInterrupt:
        for p in processes:
            p.terminate()  # SIGTERM: the worker's trial ends FAIL, its MLflow run KILLED
        for p in processes:
            p.join(timeout=60)
        raise
    failed = [p.name for p in processes if p.exitcode not in (0, 130, 143)]
    if failed:
        raise RuntimeError(f"worker(s) {', '.join(failed)} exited with an error; see their output.")


def worker_device(device: str, index: int) -> str:
    """``cuda`` spreads workers over every CUDA device, one each in turn; others stay as given."""
    import torch

    if device == "cuda" and torch.cuda.device_count() > 1:
        return f"cuda:{index % torch.cuda.device_count()}"
    return device


def _worker(config_data: dict, index: int, threads: int, storage: Any,
            tracking: tuple[str, str] | None) -> None:
    import sys

    import torch

    from autonn.claims import optimize_to_count
    from autonn.errors import TrialDiverged
    from autonn.search import _signals_interrupt, create_study, make_objective, prepare
    from autonn.tracking import MlflowTracker, NullTracker

    torch.set_num_threads(threads)
    config = Config.model_validate(config_data)
    config = config.model_copy(update={"device": worker_device(config.device, index)})
    problem = prepare(config)
    tracker = MlflowTracker(*tracking) if tracking else NullTracker()
    study = create_study(problem, storage, worker=index + 1)
    tracker.attach(study.study_name)
    try:
        with _signals_interrupt():
            optimize_to_count(study, make_objective(problem, tracker, lambda winner: None),
                              config.n_trials, storage=storage, timeout=config.timeout,
                              catch=(TrialDiverged,), on_orphan=tracker.fail_run)
    except KeyboardInterrupt as exc:
        tracker.close()
        sys.exit(128 + getattr(exc, "signal_number", 2))
    tracker.close()
