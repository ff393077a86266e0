"""Several worker processes on one study.

Processes, not threads: the Python loop of small networks holds the GIL. The CPU's threads are
split between workers; with several CUDA devices, workers take them round-robin. Every worker
claims trials through ``claims.optimize_to_count``, so together they finish exactly the requested
count. The command line starts its workers before it loads the data (``spawn_workers``), so
that their start overlaps its own; they search once the main process has opened the study and
its MLflow parent run (``release``). This module loads no torch: the command starts them first.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing import resource_tracker
from typing import Any

from autonn.config import Config
from autonn.quick_exit import run as run_process


@dataclass
class Spawned:
    """Worker processes started ahead of their search (``spawn_workers``): each imports, warms
    up and prepares the problem, then waits on its ``starters`` pipe for the go (``release``)
    or for nothing (``cancel``); it sends its best networks back on its ``readers`` pipe.
    ``settled``: released or cancelled, once; nothing more is done with them here."""

    n_workers: int
    processes: list = field(default_factory=list)
    starters: list = field(default_factory=list)
    readers: list = field(default_factory=list)
    settled: bool = False


def spawn_workers(config: Config, indices: range, n_workers: int, storage: Any,
                  tracking: bool) -> Spawned:
    """Start worker processes ``indices`` of ``n_workers`` for a search on ``config``, before
    that search is set up: a worker's start (torch, its first optimizer step, MLflow, the data:
    8-11 s on 2 cores) then overlaps the main process's own instead of following it."""
    context = multiprocessing.get_context("spawn")
    spawned = Spawned(n_workers)
    try:
        _spawn(context, spawned, config, indices, storage, tracking)
    except BaseException:  # a Ctrl-C held back while one started: none is left behind
        cancel(spawned)
        raise
    return spawned


def _spawn(context: Any, spawned: Spawned, config: Config, indices: range, storage: Any,
           tracking: bool) -> None:
    if _CAN_HOLD:  # multiprocessing starts its resource tracker with the first process and
        # unblocks SIGINT after it (bpo-33613): started first, it leaves the workers' block alone
        resource_tracker.ensure_running()
    for i in indices:
        reader, writer = context.Pipe(duplex=False)
        go_reader, go_writer = context.Pipe(duplex=False)
        process = context.Process(target=_enter, name=f"autonn-worker-{i}", args=(
            config.model_dump(), i, spawned.n_workers, storage, tracking, go_reader, writer))
        # kept before it starts: an interruption anywhere from here on still finds it (cancel)
        spawned.processes.append(process)
        spawned.starters.append(go_writer)
        spawned.readers.append(reader)
        with _ctrl_c_held():
            process.start()
        # the worker holds the only write end now: its pipe ends (EOF) when it exits, however
        writer.close()
        go_reader.close()


def release(spawned: Spawned, config: Config, tracking: tuple | None,
            deadline: float | None = None, since: float | None = None) -> tuple[list, list]:
    """Tell ``spawned`` workers to search on ``config`` (the problem's, as the main process
    resolved it) with the tracker ``tracking`` builds (``open_tracker(*tracking)``); the search's
    ``deadline`` (a ``time.time()`` value), which no worker starts a trial after, and ``since``,
    when it began. Returns the processes and the read end of each one's pipe, on which it sends
    its best trials' networks as it ends (``search.handoff``)."""
    assert not spawned.settled, "these workers were released or cancelled already"
    go = (config.model_dump(), tracking, deadline, since)
    for starter in spawned.starters:
        with contextlib.suppress(OSError):  # a worker that died: join_workers reports it
            starter.send(go)
        starter.close()
    spawned.settled = True
    return spawned.processes, spawned.readers


def cancel(spawned: Spawned | None) -> None:
    """End ``spawned`` workers that were never released (the command ended before its search,
    or the search takes fewer): waiting for the go, they have opened no study and no run."""
    if spawned is None or spawned.settled:
        return
    started = [p for p in spawned.processes if p.pid is not None]
    for process in started:
        process.terminate()
    for process in started:
        process.join(timeout=10)
    for connection in spawned.starters + spawned.readers:
        connection.close()
    spawned.settled = True


def reuse_or_spawn(spawned: Spawned | None, config: Config, n_workers: int, storage: Any,
                   tracking: bool) -> Spawned | None:
    """``spawned`` where they are the workers of ``n_workers`` processes, waiting; else those
    cancelled, and as many as that takes started now (None: one process takes none)."""
    if spawned is not None and not spawned.settled and spawned.n_workers == n_workers:
        return spawned
    cancel(spawned)
    return spawn_workers(config, range(1, n_workers), n_workers, storage, tracking
                         ) if n_workers > 1 else None


_CAN_HOLD = hasattr(signal, "pthread_sigmask")  # POSIX; Windows sends its processes no SIGINT


@contextlib.contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """SIGINT held back (blocked: pending, not lost) while a worker process starts. The worker
    inherits the block, so a Ctrl-C reaches it through the main process (which ends it) instead
    of as a traceback from the middle of its imports, until its search begins
    (``worker_process.run_worker``); here a Ctrl-C held back arrives as the block ends."""
    if not _CAN_HOLD:
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _enter(*args: Any) -> None:
    """A worker process's first call: the worker's module (torch) loads here, in the child,
    and the worker exits without tearing torch down (the search waits for it to end)."""
    def work() -> None:
        from autonn.search.worker_process import run_worker  # torch: loaded in the child only

        run_worker(*args)

    run_process(work)  # torch's and MLflow's exit handlers, registered in it, still run


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
# is long enough to pay for a worker's start (imports and the data again: 5-11 s on 2 cores,
# beside the main process's own start: ``spawn_workers``). At 60 s on 2 cores they ran 2.3-3x
# the candidates of one process on digits, ames and titanic, and held the budget quiet and
# beside two busy processes (benchmarks/RESULTS.md); on CUDA populations take the device
# instead.
AUTO_WORKERS, AUTO_MIN_TIMEOUT = 2, 30.0


def resolve_workers(setting: int | str, device: str, timeout: float | None,
                    storage: str | None = None) -> int:
    """The worker processes to run: ``setting`` itself, or for "auto" ``AUTO_WORKERS`` on a CPU
    (``device`` is a device type) with that many cores and a --timeout of at least
    ``AUTO_MIN_TIMEOUT`` seconds, else one (also on SQLite, which locks under several writers:
    ``search.storage``)."""
    if setting != "auto":
        return int(setting)
    cores = os.cpu_count() or 1
    long_enough = timeout is not None and timeout >= AUTO_MIN_TIMEOUT
    shared = not (storage or "").startswith("sqlite")
    return (AUTO_WORKERS if device == "cpu" and cores >= AUTO_WORKERS and long_enough
            and shared else 1)
