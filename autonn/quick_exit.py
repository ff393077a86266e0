"""A process that ends without tearing its modules down: the ``autonn`` command, a worker.

Tearing down what a search loaded (torch, MLflow, SQLAlchemy, matplotlib) took 1-2 s after
the command had printed its last line and written its last byte; a user waited for nothing,
and a search waited about 1 s for each worker process to end before building its final model.
The quick exit comes after everything Python does at a normal exit that can matter: other
threads joined, the exit handlers registered since the command started run, logging and the
standard streams flushed. Handlers registered before it do not run: the ``autonn`` command's
only one is logging's, which it calls itself; a worker starts it before it imports torch or
MLflow. A command that ends in anything but a return or ``SystemExit`` (a crash, shown with
its traceback) exits as Python does. Only a process's outermost call may use it (inside pytest
it would end the session with the command's status).
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
from collections.abc import Callable

_status: list[int] = [0]


def run(command: Callable[[], object]) -> None:
    """Run ``command`` (a click group in standalone mode, which ends in ``SystemExit``; a
    worker's search, which returns) and exit with its status (0 on a return) when Python next
    exits, skipping the interpreter's teardown."""
    atexit.register(_leave)  # the handlers registered after it run before it
    try:
        command()
    except SystemExit as done:
        _status[0] = _code(done.code)
        raise
    except BaseException:  # a crash (--debug, a bug) or a bare Ctrl-C: Python's own exit
        atexit.unregister(_leave)
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
            getattr(stream, "flush", lambda: None)()
        except (OSError, ValueError):  # a closed pipe (`autonn trials | head`) or stream
            _status[0] = _status[0] or 120  # what Python exits with when it cannot flush
    os._exit(_status[0])
