"""The ``autonn`` process: the command, then an exit that skips tearing its modules down.

Tearing down what a search loaded (torch, MLflow, SQLAlchemy, matplotlib) took 1-2 s after
the command had printed its last line and written its last byte; a user waited for nothing.
The quick exit comes after everything Python does at a normal exit that can matter: other
threads joined, every other exit handler run, logging and the standard streams flushed.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
from collections.abc import Callable

_status: list[int] = [0]


def run(command: Callable[[], object]) -> None:
    """Run ``command`` (a click group in standalone mode, which ends in ``SystemExit``) and exit
    with its status, skipping the interpreter's teardown."""
    atexit.register(_leave)  # the handlers registered after it run before it
    try:
        command()
    except SystemExit as done:
        _status[0] = _code(done.code)
        raise


def _code(code: object) -> int:
    """The exit status Python gives ``sys.exit(code)``: None 0, an int itself, else 1 (the
    text, already printed)."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def _leave() -> None:
    logging.shutdown()  # its exit handler was registered first, so it would run after this one
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            pass
    os._exit(_status[0])
