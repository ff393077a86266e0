"""Ctrl-C and SIGTERM during a search: both become ``SearchInterrupted``, so the running trial
ends FAIL, its MLflow run KILLED, and finished trials stay in the study."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from autonn.errors import SearchInterrupted


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """Turn SIGTERM (and SIGINT) into SearchInterrupted while a search runs in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SearchInterrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
