"""What every benchmark script shares."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


def emit(table: str, write: str | None) -> None:
    """Print a Markdown results table; append it to ``write`` when given."""
    print(table)
    if write:
        with open(write, "a") as fh:
            fh.write("\n" + table + "\n")


def read_rows(path: Path) -> list[dict]:
    """The results a JSON lines file holds so far (none when it does not exist yet)."""
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def append_row(path: Path, row: dict) -> None:
    """Print one result and append it to the JSON lines file ``path``, so that a long run can
    be read (and resumed) before it ends."""
    print(json.dumps(row), flush=True)
    with path.open("a") as fh:
        fh.write(json.dumps(row) + "\n")


def pruned_for(trials: list, why: str) -> int:
    """How many of ``trials`` were pruned for ``why``, the start of their recorded reason:
    "raced out" (after a fold, ``search.racing``) or "not trained" (their time afforded too
    few epochs, ``search.sizing``)."""
    return sum(t.user_attrs.get("pruned", "").startswith(why) for t in trials)


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


def start_for(start: dict, problem) -> dict:
    """A built-in start's parameters as a search trains them on ``problem``'s table: a
    cross-entropy loss unless it names one, MSE without label smoothing for a regression, no
    numeric embeddings where the space has none."""
    params = {"loss": "cross_entropy", **start}
    if problem.config.task == "regression":
        params.update(loss="mse", label_smoothing=0.0)
    if problem.config.space.embedding == "none":
        params["embedding"] = "none"
    return params
