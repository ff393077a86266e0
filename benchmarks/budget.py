"""Does the budget hold, and what does it buy? ``autonn search --timeout B`` run as a user runs
it (a whole fresh process, tracking on, the table as a CSV file or a bundled name), on a quiet
machine and beside ``--busy N`` CPU-burning processes; against scikit-learn's default MLP and
HistGradientBoosting fitted on the same training + validation rows in this script, all scored on
the same test rows (autonn's own seeded 20% split).

Per table: wall time against the budget, trials started, completed (full evaluations), pruned
(by the pruner, or raced out over folds), time-capped (a fold stopped at the candidate's share
of the time) and stopped by the deadline, and test scores:

    python benchmarks/budget.py --tables digits,titanic --budget 60 --busy 2 --write benchmarks/RESULTS.md

``--out FILE`` also appends each run as a ``search_quality.py`` row (JSON lines), so that
``search_quality.py --report FILE`` ranks the command a user runs against the stored peers
(RealMLP-TD, TabM-D: seed 0's rows, on the same split).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import optuna
import torch
from common import append_row, burning, emit, pruned_for
from tables import BUNDLED, REAL, load

from autonn.data.split import split
from autonn.metrics import DEFAULT_METRIC, metric_for
from autonn.search.storage import open_storage
from autonn.tasks import REGRESSION


def autonn_process(name: str, budget: float, work: Path, workers: str = "1") -> dict:
    """One ``autonn search`` process on table ``name``: its wall time and what its study holds."""
    if name in BUNDLED:
        source = ["--dataset", name]
    else:
        frame, target = REAL[name][0]()
        frame.to_csv(work / f"{name}.csv", index=False)
        source = ["--data", f"{name}.csv", "--target", target]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "autonn", "search", *source, "--study", name,
                           "--timeout", str(budget), "--n-trials", "100000", "--quiet",
                           "--workers", workers],
                          cwd=work, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{name}: {done.stderr[-2000:]}")
    study = optuna.load_study(study_name=name, storage=open_storage(root=work / "mlruns"))
    states = [t.state for t in study.trials if t.state != optuna.trial.TrialState.WAITING]
    stopped = sum("stopped" in t.user_attrs for t in study.trials)
    capped = sum("fold_epochs" in t.user_attrs for t in study.trials)
    complete = states.count(optuna.trial.TrialState.COMPLETE)
    return {"wall": wall, "started": len(states), "complete": complete,
            "pruned": states.count(optuna.trial.TrialState.PRUNED),
            "raced": pruned_for(study.trials, "raced out"),
            "untrained": pruned_for(study.trials, "not trained"), "capped": capped, "stopped": stopped,
            "score": study.user_attrs.get("test_score")}


def peers(name: str) -> dict[str, float]:
    """scikit-learn's default MLP and HistGradientBoosting on the same rows (seed 0)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    dataset = load(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = split(dataset, 0.2, 0.2, 0, near_constant_rows=0)
    X, y = np.concatenate([s.X_train, s.X_val]), np.concatenate([s.y_train, s.y_val])
    regression = dataset.task == REGRESSION
    metric = metric_for(DEFAULT_METRIC[dataset.task], dataset.task)
    models = ({"sklearn MLP": make_pipeline(StandardScaler(), MLPRegressor(random_state=0)),
               "HistGradientBoosting": HistGradientBoostingRegressor(random_state=0)}
              if regression else
              {"sklearn MLP": make_pipeline(StandardScaler(), MLPClassifier(random_state=0)),
               "HistGradientBoosting": HistGradientBoostingClassifier(random_state=0)})
    out = {}
    for label, model in models.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
            pred = model.predict(s.X_test) if regression else model.predict_proba(s.X_test)
        y_true = s.y_test.reshape(-1, 1) if regression else s.y_test
        pred = np.asarray(pred, dtype=np.float32).reshape(len(y_true), -1)
        out[label] = metric.fn(torch.as_tensor(y_true), torch.as_tensor(pred))
    out["metric"], out["test_rows"] = DEFAULT_METRIC[dataset.task], len(s.y_test)
    return out


def _score(value: float | None) -> str:
    """A test score for the table; "-" when the search shipped no final model (no trial
    finished in a budget too short for one)."""
    return "-" if value is None else f"{value:.4f}"


def quality_row(name: str, args: argparse.Namespace, run: dict, peer: dict) -> dict:
    """One run as ``search_quality.py`` records autonn's (seed 0: the command's default)."""
    return {"dataset": name, "method": "autonn", "budget": args.budget, "seed": 0,
            "busy": args.busy, "workers": args.workers, "score": run["score"],
            "metric": peer["metric"], "seconds": run["wall"], "trials": run["started"],
            **{k: run[k] for k in ("complete", "pruned", "raced", "untrained", "stopped")},
            "test_rows": peer["test_rows"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default="digits,breast_cancer,diabetes,titanic,cells,ames")
    parser.add_argument("--budget", type=float, default=60)
    parser.add_argument("--busy", type=int, default=0, help="CPU-burning processes beside it")
    parser.add_argument("--write", help="append the table to this Markdown file")
    parser.add_argument("--workers", default="1", help="autonn's --workers")
    parser.add_argument("--out", type=Path, help="append search_quality.py rows to this file")
    args = parser.parse_args()
    rows = []
    for name in args.tables.split(","):
        peer = peers(name)
        with burning(args.busy), tempfile.TemporaryDirectory(prefix="autonn-budget-") as work:
            run = autonn_process(name, args.budget, Path(work), args.workers)
        print(name, run, peer, flush=True)
        if args.out and run["score"] is not None:  # a run that shipped no model has no rank
            append_row(args.out, quality_row(name, args, run, peer))
        over = run["wall"] / args.budget
        rows.append(f"| {name} | {run['wall']:.1f} ({over:.2f}x) | {run['started']} | "
                    f"{run['complete']} | {run['pruned']} ({run['raced']} raced out, "
                    f"{run['untrained']} untrained) | "
                    f"{run['capped']} | {run['stopped']} | "
                    f"{peer['metric']} | {_score(run['score'])} | {peer['sklearn MLP']:.4f} | "
                    f"{peer['HistGradientBoosting']:.4f} | {peer['test_rows']} |")
    load_said = f"beside {args.busy} CPU-burning processes" if args.busy else "quiet"
    workers = f" --workers {args.workers}" if args.workers != "1" else ""
    table = "\n".join([
        f"### `autonn search --timeout {args.budget:g}{workers}` as whole processes, {load_said} "
        f"({os.cpu_count()} cores, torch's default threads)", "",
        "| table | wall s (x budget) | trials started | complete | pruned | time-capped | "
        "stopped | metric | autonn test | sklearn MLP | HistGradientBoosting | test rows |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|", *rows])
    emit(table, args.write)


if __name__ == "__main__":
    main()
