"""A study's wall time with MLflow tracking on and off, side by side in one process.

The same seeded study (same trials, same work) runs with autonn's NullTracker and with its
MlflowTracker on a fresh embedded SQLite store; runs alternate so both see the same machine state.

    python benchmarks/tracking_overhead.py [--dataset digits] [--trials 20] [--repeats 2] [--write FILE]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import emit  # benchmarks/ is on the path when run as a script

from autonn.config import make_config
from autonn.search.problem import prepare
from autonn.search.run import run_search
from autonn.tracking.mlflow_tracker import MlflowTracker
from autonn.tracking.runs import default_tracking_uri
from autonn.tracking.tracker import NullTracker


def timed_study(dataset: str, trials: int, tracked: bool, root: Path, tag: str) -> tuple[float, float]:
    """(seconds for the trials, seconds for the whole study including setup and the final artifacts)."""
    problem = prepare(make_config({"dataset": dataset, "n_trials": trials, "seed": 0,
                                   "pruner": "none", "study": tag, "space": {"epochs": 15}}))
    start = time.perf_counter()
    tracker = MlflowTracker(default_tracking_uri(root), tag) if tracked else NullTracker()
    marks: list[float] = []
    run_search(problem, storage=str(root / f"{tag}.journal"), tracker=tracker,
               callbacks=[lambda study, trial: marks.append(time.perf_counter())])
    end = time.perf_counter()
    return marks[-1] - start, end - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--write")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        MlflowTracker(default_tracking_uri(root), "warm-up")  # create the database schema once
        best = {True: (float("inf"),) * 2, False: (float("inf"),) * 2}
        for i in range(args.repeats):
            for tracked in (False, True):
                t = timed_study(args.dataset, args.trials, tracked, root, f"s{i}-{tracked}")
                best[tracked] = tuple(min(a, b) for a, b in zip(best[tracked], t))
    off, on = best[False], best[True]
    table = "\n".join([
        f"### Tracking overhead: {args.dataset}, {args.trials} trials of 15 epochs, best of {args.repeats}", "",
        "| phase | tracking off (s) | MLflow tracking on (s) | overhead |", "|---|---|---|---|",
        f"| trials (start to last trial) | {off[0]:.2f} | {on[0]:.2f} | {on[0] / off[0] - 1:+.1%} |",
        f"| whole study (plots, registered model) | {off[1]:.2f} | {on[1]:.2f} | {on[1] / off[1] - 1:+.1%} |"])
    emit(table, args.write)


if __name__ == "__main__":
    main()
