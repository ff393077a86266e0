"""Commands a user waits for after a search: export of every format, predict of 1000 rows, and
the study commands, each timed as a whole fresh process (imports, reading the store, writing the
file, everything), against ``autonn --help`` timed in the same run.

A 6-trial digits study (5 epochs, tracking on) is searched first in a scratch folder. Each command
runs ``--repeats`` times; the table gives the median, the best and the median over ``--help``:

    python benchmarks/study_commands.py --repeats 7 --write benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import emit

AUTONN = [sys.executable, "-m", "autonn"]
FORMATS = ("state_dict", "onnx", "onnx_raw", "torchscript", "exported_program", "mlflow")
SUFFIX = {"state_dict": "safetensors", "onnx": "onnx", "onnx_raw": "raw.onnx", "torchscript": "pt",
          "exported_program": "pt2", "mlflow": "mlflow"}
TARGETS = {"export state_dict": 1.0, "export": 3.0, "predict": 2.5, "trials": 1.0, "best": 1.0,
           "studies": 1.0}  # seconds over --help (issue 26)


def commands() -> dict[str, list[str]]:
    """Label -> argv after ``autonn``."""
    cases = {"--help": ["--help"]}
    for fmt in FORMATS:
        cases[f"export {fmt}"] = ["export", "--study", "ux", "--format", fmt, "--out",
                                  f"m.{SUFFIX[fmt]}", "--force"]
    for fmt in ("state_dict", "onnx"):
        cases[f"predict 1000 rows ({fmt})"] = ["predict", "--model", f"m.{SUFFIX[fmt]}",
                                               "--input", "rows.csv", "--output", "out.csv"]
    cases |= {"trials": ["trials", "--study", "ux"], "best": ["best", "--study", "ux"],
              "studies": ["studies"]}
    return cases


def timed(argv: list[str], cwd: str, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        Path(cwd, "out.csv").unlink(missing_ok=True)
        start = time.perf_counter()
        done = subprocess.run([*AUTONN, *argv], cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode:
            raise SystemExit(f"autonn {' '.join(argv)} failed: {done.stderr[-2000:]}")
    return times


def target(label: str) -> float | None:
    return next((v for k, v in TARGETS.items() if label.startswith(k)), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--write", help="append the table to this Markdown file")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="autonn-commands-")
    subprocess.run([*AUTONN, "search", "--dataset", "digits", "--study", "ux", "--n-trials", "6",
                    "--epochs", "5", "--seed", "0", "--quiet"], cwd=work, check=True)
    from sklearn.datasets import load_digits

    load_digits(as_frame=True).data.iloc[:1000].to_csv(Path(work, "rows.csv"), index=False)
    rows, help_median = [], None
    for label, argv in commands().items():
        times = timed(argv, work, args.repeats)
        median = statistics.median(times)
        help_median = median if help_median is None else help_median
        over = median - help_median
        goal = target(label)
        verdict = "" if goal is None else ("met" if over <= goal else "missed")
        rows.append(f"| autonn {label} | {median:.2f} | {min(times):.2f} | {over:+.2f} | "
                    f"{'' if goal is None else f'<= {goal:.1f}'} | {verdict} |")
    shutil.rmtree(work, ignore_errors=True)
    table = "\n".join([
        f"### Commands after a search: seconds per fresh process, median of {args.repeats} "
        f"({os.cpu_count()} cores)", "",
        "| command | median (s) | best (s) | over --help (s) | target over --help | |",
        "|---|---|---|---|---|---|", *rows])
    emit(table, args.write)


if __name__ == "__main__":
    main()
