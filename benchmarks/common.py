"""What every benchmark script shares."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator


def emit(table: str, write: str | None) -> None:
    """Print a Markdown results table; append it to ``write`` when given."""
    print(table)
    if write:
        with open(write, "a") as fh:
            fh.write("\n" + table + "\n")


@contextlib.contextmanager
def burning(n: int) -> Iterator[None]:
    """``n`` CPU-burning processes beside what runs inside (a busy machine)."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for b in burners:
            b.kill()
            b.wait()
