"""What every benchmark script shares."""

from __future__ import annotations


def emit(table: str, write: str | None) -> None:
    """Print a Markdown results table; append it to ``write`` when given."""
    print(table)
    if write:
        with open(write, "a") as fh:
            fh.write("\n" + table + "\n")
