"""CLI start-up: how long `autonn --help` and one-line input errors take, against mlflow and optuna.

Each command runs as a fresh process (as a user types it), ``--repeats`` times; the table gives the
median and the best wall time. ``--also LABEL=DIR`` also runs autonn from another checkout
(``python -m autonn`` with DIR first on the path), so an older layout is measured in the same run:

    git worktree add /tmp/autonn-before 4f62306
    python benchmarks/cli_startup.py --also "before (4f62306)=/tmp/autonn-before" --write benchmarks/RESULTS.md

``--after-search`` times instead the commands a user waits for after a search (export of every
format, predict, trials, best, studies), as ``study_commands.py`` does.
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

AUTONN_CASES = {
    "autonn --help": ["--help"],
    "autonn search --help": ["search", "--help"],
    "autonn export --help": ["export", "--help"],
    "autonn search --dataset nosuch": ["search", "--dataset", "nosuch"],
    "autonn search --data t.csv --target nope (missing column)": [
        "search", "--data", "t.csv", "--target", "nope"],
    "autonn search bad.yaml (config typo)": ["search", "bad.yaml"],
}
PEERS = {"mlflow --help": ["mlflow", "--help"], "optuna --help": ["optuna", "--help"]}


def timed(cmd: list[str], cwd: str, env: dict[str, str], repeats: int) -> tuple[float, float, int]:
    """Median and best seconds of ``cmd``, and its exit code."""
    times, code = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        code = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True).returncode
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--also", action="append", default=[], metavar="LABEL=DIR",
                        help="also run autonn from the checkout DIR (repeatable)")
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--write", help="append the table to this Markdown file")
    parser.add_argument("--after-search", action="store_true",
                        help="time the commands that read a study (study_commands.py)")
    args = parser.parse_args()
    if args.after_search:
        import study_commands

        sys.argv = [sys.argv[0], "--repeats", str(args.repeats)] + (
            ["--write", args.write] if args.write else [])
        study_commands.main()
        return
    work = tempfile.mkdtemp(prefix="autonn-startup-")
    Path(work, "t.csv").write_text("a,b,y\n1,2,0\n3,4,1\n5,6,0\n")
    Path(work, "bad.yaml").write_text("dataset: iris\nspace:\n  activaton: relu\n")
    sources = [("this checkout", None)] + [tuple(a.split("=", 1)) for a in args.also]
    rows = []
    for name, argv in AUTONN_CASES.items():
        for label, source in sources:
            env = dict(os.environ, **({"PYTHONPATH": str(Path(source).resolve())} if source else {}))
            median, best, code = timed([sys.executable, "-m", "autonn", *argv], work, env,
                                       args.repeats)
            rows.append(f"| {name} | {label} | {median:.2f} | {best:.2f} | {code} |")
    if args.peers:
        for name, argv in PEERS.items():
            exe = shutil.which(argv[0]) or argv[0]
            median, best, code = timed([exe, *argv[1:]], work, dict(os.environ), args.repeats)
            rows.append(f"| {name} | peer | {median:.2f} | {best:.2f} | {code} |")
    shutil.rmtree(work, ignore_errors=True)
    table = "\n".join([
        f"### CLI start-up: seconds per command, fresh process, {args.repeats} runs "
        f"({os.cpu_count()} cores)", "",
        "| command | code | median (s) | best (s) | exit code |", "|---|---|---|---|---|", *rows])
    emit(table, args.write)


if __name__ == "__main__":
    main()
