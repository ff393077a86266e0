"""The first search in a new folder: its MLflow store copied from the migrated empty one
(autonn.tracking.new_store) against MLflow migrating it, as whole fresh processes, alternated,
on a quiet machine and beside ``--busy N`` CPU-burning processes.

"Migrated by MLflow" points XDG_CACHE_HOME at a file, where no cache can be made: the fallback a
machine without a writable cache takes. The template itself is made before the timed runs.

    python benchmarks/new_store.py --repeats 5 --busy 0,2 --write benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import burning, emit

COMMAND = [sys.executable, "-m", "autonn", "search", "--dataset", "iris", "--n-trials", "2",
           "--epochs", "2", "--quiet"]


def timed(seeded: bool) -> float:
    """Wall seconds of ``COMMAND`` in a fresh folder, its store seeded or migrated by MLflow."""
    with tempfile.TemporaryDirectory(prefix="autonn-store-") as work:
        env = dict(os.environ)
        if not seeded:
            (Path(work) / "no-cache").write_text("")
            env["XDG_CACHE_HOME"] = str(Path(work) / "no-cache")
        start = time.perf_counter()
        subprocess.run(COMMAND, cwd=work, env=env, check=True, capture_output=True)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--busy", default="0,2", help="burner counts, comma-separated")
    parser.add_argument("--write")
    args = parser.parse_args()
    timed(True)  # makes the template once, as the first search on a machine does
    rows = ["| load | migrated by MLflow: median s (runs) | copied: median s (runs) | saved s |",
            "|---|---|---|---|"]
    for busy in (int(b) for b in args.busy.split(",")):
        times = {True: [], False: []}
        with burning(busy):
            for _ in range(args.repeats):
                for seeded in (False, True):
                    times[seeded].append(timed(seeded))
        old, new = statistics.median(times[False]), statistics.median(times[True])
        show = lambda ts: " ".join(f"{t:.1f}" for t in ts)
        rows.append(f"| {'quiet' if not busy else f'{busy} burners'} | {old:.2f} ({show(times[False])}) "
                    f"| {new:.2f} ({show(times[True])}) | {old - new:.2f} |")
    emit("\n".join(rows), args.write)


if __name__ == "__main__":
    main()
