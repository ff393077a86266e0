"""Trials per minute with 1 and 2 worker processes on this machine, for one fixed small study.

Each run is a fresh study on its own journal file (tracking off, pruning off, so every trial
trains its full budget), timed from the call to the end, worker start-up included.

    python benchmarks/workers.py [--dataset digits] [--trials 24] [--write benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from common import emit  # benchmarks/ is on the path when run as a script

from autonn.config import make_config
from autonn.search.problem import prepare
from autonn.search.run import run_search


def trials_per_minute(dataset: str, trials: int, workers: int, root: Path) -> float:
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
    config = make_config({"dataset": dataset, "n_trials": trials, "seed": 0, "pruner": "none",
                          "study": f"w{workers}", "device": "cpu",
                          "space": {"epochs": 10, "optimizer": ["adam", "adamw"]}})
    start = time.perf_counter()
    run_search(prepare(config), storage=str(root / f"w{workers}.journal"), workers=workers)
    return trials / (time.perf_counter() - start) * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--write")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rates = {w: trials_per_minute(args.dataset, args.trials, w, Path(tmp)) for w in (1, 2)}
    table = "\n".join([
        f"### Workers: {args.dataset}, {args.trials} trials of 10 epochs, {os.cpu_count()} cores, "
        "worker start-up included", "",
        "| workers | trials per minute | speed-up |", "|---|---|---|",
        *[f"| {w} | {r:.1f} | {r / rates[1]:.2f}x |" for w, r in rates.items()]])
    emit(table, args.write)


if __name__ == "__main__":
    main()
