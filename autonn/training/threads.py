"""How many CPU threads a search process trains with.

Intra-op threads pay on a quiet machine with a table big enough to split a batch's work
(digits, 1437 x 64, 2 cores: 2 threads 1.25x faster than 1) and cost dearly on a busy one,
where OpenMP threads spin waiting for a thread whose core another process took (small fits
beside two CPU-burning processes on 2 cores: 2 threads 3.6x slower than quiet, 1 thread 1.5x;
`check_estimator` took 21 minutes instead of 2.3). On a small table one thread is as fast
even when quiet.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import torch

SMALL_TABLE = 20_000  # training values (rows x encoded columns) below which one thread is as fast


def lone_threads(values: int) -> int:
    """Threads for a search that is the only one of its kind here: one on a table of fewer than
    ``SMALL_TABLE`` values, else the cores that other processes leave free now, at least one.
    ``OMP_NUM_THREADS`` set by the user wins: torch's own count is kept."""
    if "OMP_NUM_THREADS" in os.environ:
        return torch.get_num_threads()
    if values < SMALL_TABLE:
        return 1
    cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()) or 1
    return max(1, min(cores, round(cores - others_running())))


def others_running() -> float:
    """How many other processes' tasks want a CPU now: the kernel's count of runnable tasks less
    this process's own (Linux), else the 1-minute load average (which also counts this
    process's own recent work, so a second fit in one session may take a thread fewer)."""
    try:
        runnable = Path("/proc/loadavg").read_text().split()[3].split("/")[0]
        return max(0, int(runnable) - _own_running())
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.getloadavg()[0]
    except OSError:  # no load average on this system: assume a quiet machine
        return 0.0


def _own_running() -> int:
    """This process's runnable threads (this one at least): its tracker's or torch's threads
    that happen to be running are not other work."""
    states = []
    for stat in Path("/proc/self/task").glob("*/stat"):
        with contextlib.suppress(OSError, IndexError):  # a thread that ended meanwhile
            states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
    return max(1, states.count("R"))


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's CPU threads set to ``count`` inside the block, restored after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
