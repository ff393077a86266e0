"""How close is a final model's refit to its prediction? The reserve a one-split search hands
back to its trials (``search.reserve``) and the refits it skips (``search.final``) rest on
``final.refit_seconds``. This runs ``autonn search --workers auto`` as a user does on a table
big enough to be one split (grants: 8190 x 1502), trains the study's best trials again on one
thread (as a worker did), and sets the refit's prediction from those epochs, as before and on
the refit's own threads (``timing.thread_speedup``), against the refit measured:

    python benchmarks/refit_prediction.py --table grants --budget 120 --members 6
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import optuna
import torch
from tables import REAL

from autonn.config import make_config
from autonn.search.final import _refit, refit_seconds, replay
from autonn.search.problem import prepare
from autonn.search.storage import open_storage
from autonn.training.threads import torch_threads


def best_trials(work: Path, name: str, target: str, budget: float, members: int) -> list:
    """The ``members`` best completed trials of one ``autonn search`` process in ``work``."""
    subprocess.run([sys.executable, "-m", "autonn", "search", "--data", f"{name}.csv",
                    "--target", target, "--study", name, "--timeout", str(budget),
                    "--n-trials", "100000", "--workers", "auto", "--quiet", "--no-tracking"],
                   cwd=work, check=True, capture_output=True)
    study = optuna.load_study(study_name=name, storage=open_storage(root=work / "mlruns"))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return sorted(done, key=lambda t: -t.value if study.direction.name == "MAXIMIZE"
                  else t.value)[:members]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default="grants")
    parser.add_argument("--budget", type=float, default=120)
    parser.add_argument("--members", type=int, default=6)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    frame, target = REAL[args.table][0]()
    with tempfile.TemporaryDirectory(prefix="autonn-refit-") as work:
        frame.to_csv(Path(work) / f"{args.table}.csv", index=False)
        trials = best_trials(Path(work), args.table, target, args.budget, args.members)
        problem = prepare(make_config(data=str(Path(work) / f"{args.table}.csv"), target=target,
                                      timeout=args.budget))
    with torch_threads(1):  # the trials' epochs, as a single-thread worker measured them
        chosen = [(replay(problem, t), 1) for t in trials]
        before = refit_seconds(problem, chosen)
    threads = torch.get_num_threads()
    start = time.perf_counter()
    now = refit_seconds(problem, chosen)
    timing = time.perf_counter() - start
    start = time.perf_counter()
    _refit(problem, chosen)
    measured = time.perf_counter() - start
    speeds = [w.speed[threads] for w, _ in chosen]
    print(f"| {args.table} | {len(chosen)} | {threads} | {before:.1f} | {now:.1f} "
          f"({min(speeds):.2f}-{max(speeds):.2f}; timed in {timing:.1f} s) | {measured:.1f} |")


if __name__ == "__main__":
    main()
