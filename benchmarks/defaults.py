"""Defaults that finish: what a user waits for when they take autonn's defaults, timed as whole
fresh processes, on a quiet machine and beside ``--busy N`` CPU-burning processes.

    the README's first command     autonn search --dataset digits --timeout 60
    --n-trials without a budget    autonn search --dataset digits --n-trials 30
    check_estimator                scikit-learn's checks on AutoNNClassifier() / AutoNNRegressor()

    python benchmarks/defaults.py --busy 0,2 --write benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time

from common import burning, emit

CHECK = ("import warnings; warnings.simplefilter('ignore'); "
         "from sklearn.utils.estimator_checks import check_estimator; "
         "from autonn import {0}; check_estimator({0}())")
JOBS = {
    "README: `autonn search --dataset digits --timeout 60`":
        [sys.executable, "-m", "autonn", "search", "--dataset", "digits", "--timeout", "60"],
    "`autonn search --dataset digits --n-trials 30` (no budget)":
        [sys.executable, "-m", "autonn", "search", "--dataset", "digits", "--n-trials", "30"],
    "`check_estimator(AutoNNClassifier())`":
        [sys.executable, "-c", CHECK.format("AutoNNClassifier")],
    "`check_estimator(AutoNNRegressor())`":
        [sys.executable, "-c", CHECK.format("AutoNNRegressor")],
}


def timed(command: list[str]) -> dict:
    """``command`` run in a fresh folder: its wall seconds, exit code, and for a search its
    trial counts and test score as its summary prints them."""
    with tempfile.TemporaryDirectory(prefix="autonn-defaults-") as work:
        start = time.perf_counter()
        done = subprocess.run(command, cwd=work, capture_output=True, text=True)
        wall = time.perf_counter() - start
    said = re.search(r"Study '\S+': (\d+) trials \(([^)]*)\)", done.stdout)
    test = re.search(r"Final model: .*; test \S+ ([\d.]+)", done.stdout)
    return {"wall": wall, "rc": done.returncode, "trials": said.group(1) if said else "-",
            "states": said.group(2) if said else "-", "test": test.group(1) if test else "-",
            "tail": done.stderr[-500:] if done.returncode else ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", default="0,2", help="CPU-burning processes beside each run")
    parser.add_argument("--jobs", default=",".join(str(i) for i in range(len(JOBS))),
                        help="which of the jobs, by index")
    parser.add_argument("--write", help="append the table to this Markdown file")
    args = parser.parse_args()
    rows = []
    for busy in (int(b) for b in args.busy.split(",")):
        for index in (int(j) for j in args.jobs.split(",")):
            label, command = list(JOBS.items())[index]
            with burning(busy):
                run = timed(command)
            print(label, busy, run, flush=True)
            rows.append(f"| {label} | {busy} | {run['wall']:.1f} | {run['rc']} | "
                        f"{run['trials']} ({run['states']}) | {run['test']} |")
    emit("\n".join(["| what | busy processes beside it | wall s | exit | trials (states) | "
                    "test score |", "|---|---|---|---|---|---|", *rows]), args.write)


if __name__ == "__main__":
    main()
