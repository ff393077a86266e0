"""Search quality: autonn at a fixed wall-clock budget against tuned-default peers.

On each dataset and seed, in one process and on the same rows (autonn's own seeded split): autonn
searches for ``--budget`` seconds (default space and final model: an ensemble of the best trials,
each its fold networks or refitted) and its final model is scored on the held-out test rows. The peers fit the same
training + validation rows, encoded by a ColumnTransformer fitted on the same rows that keeps
near-constant columns, and are scored on the same test
rows: scikit-learn's MLP (defaults, after a StandardScaler), HistGradientBoosting (defaults), and
pytabkit's RealMLP-TD and TabM-D (their tuned defaults, CPU). Every result is appended to a JSON
lines file as it arrives, so a long run can be read (``--report``) before it ends.

    python benchmarks/search_quality.py --budgets 60,300 --seeds 0,1,2 --out results.jsonl
    python benchmarks/search_quality.py --report results.jsonl --write benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import optuna
import torch
from common import append_row, burning, emit, pruned_for, read_rows
from tables import BUNDLED, REAL, load

from autonn import make_config
from autonn.data.split import split
from autonn.metrics import DEFAULT_METRIC, METRICS, metric_for
from autonn.search.deadline import PARTIAL
from autonn.search.problem import make_problem
from autonn.search.run import run_search
from autonn.tasks import REGRESSION

PEERS = ("sklearn MLP", "HistGradientBoosting", "RealMLP-TD", "TabM-D")


def autonn_run(name: str, budget: float, seed: int) -> dict:
    """autonn's final model after a ``budget``-second search: test score, trials, seconds."""
    dataset = load(name)
    config = make_config(study=f"{name}-{seed}", n_trials=1_000_000, timeout=budget, seed=seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problem = make_problem(config, dataset, name)  # split 0.2 / 0.2 by seed, as the peers
        study, final = run_search(problem, storage=optuna.storages.InMemoryStorage())
    ran = [t for t in study.trials if t.state != optuna.trial.TrialState.WAITING]
    return {"score": final.test_score, "metric": problem.metric_name,
            "seconds": time.perf_counter() - start,
            "trials": len(ran), "folds": len(problem.folds),
            "complete": sum(t.state == optuna.trial.TrialState.COMPLETE for t in ran),
            "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in ran),
            "raced": pruned_for(ran, "raced out"),
            "untrained": pruned_for(ran, "not trained"),
            "stopped": sum("stopped" in t.user_attrs for t in ran),
            # complete on every fold (a trial the deadline left with fewer is "partial")
            "full": sum(t.state == optuna.trial.TrialState.COMPLETE
                        and PARTIAL not in t.user_attrs for t in ran),
            "partial": sum(PARTIAL in t.user_attrs for t in ran),
            "ensemble": len(final.trials), "test_rows": len(problem.splits.y_test)}


def peer_runs(name: str, seed: int) -> dict[str, dict]:
    """Each peer fitted on the training + validation rows, scored on the test rows: the columns
    autonn encodes, near-constant ones included (dropping them is autonn's choice; a quick check
    had HistGradientBoosting 8 of grants' 1638 test rows lower without them)."""
    dataset = load(name)
    s = peer_split(dataset, seed)
    out = {}
    for label, model in _peers(dataset.task == REGRESSION, seed).items():
        start = time.perf_counter()
        score = fit_and_score(model, s, dataset.task)
        out[label] = {"score": score, "metric": DEFAULT_METRIC[dataset.task],
                      "seconds": time.perf_counter() - start}
    return out


def peer_split(dataset, seed: int):
    """``dataset``'s seeded split as autonn makes it, near-constant columns kept."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return split(dataset, 0.2, 0.2, seed, near_constant_rows=0)


def fit_and_score(model, s, task: str) -> float:
    """``model`` fitted on the training + validation rows of the split ``s``, scored on its
    test rows with ``task``'s default metric."""
    X, y = np.concatenate([s.X_train, s.X_val]), np.concatenate([s.y_train, s.y_val])
    regression = task == REGRESSION
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notices, lightning chatter
        model.fit(X, y)
        pred = model.predict(s.X_test) if regression else model.predict_proba(s.X_test)
    y_true = s.y_test.reshape(-1, 1) if regression else s.y_test
    pred = np.asarray(pred, dtype=np.float32).reshape(len(y_true), -1)
    metric = metric_for(DEFAULT_METRIC[task], task)
    return float(metric.fn(torch.as_tensor(y_true), torch.as_tensor(pred)))


def _peers(regression: bool, seed: int) -> dict:
    from pytabkit import (
        RealMLP_TD_Classifier,
        RealMLP_TD_Regressor,
        TabM_D_Classifier,
        TabM_D_Regressor,
    )
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cpu = {"random_state": seed, "device": "cpu", "n_threads": torch.get_num_threads(),
           "verbosity": 0}
    if regression:
        return {"sklearn MLP": make_pipeline(StandardScaler(), MLPRegressor(random_state=seed)),
                "HistGradientBoosting": HistGradientBoostingRegressor(random_state=seed),
                "RealMLP-TD": RealMLP_TD_Regressor(**cpu), "TabM-D": TabM_D_Regressor(**cpu)}
    return {"sklearn MLP": make_pipeline(StandardScaler(), MLPClassifier(random_state=seed)),
            "HistGradientBoosting": HistGradientBoostingClassifier(random_state=seed),
            "RealMLP-TD": RealMLP_TD_Classifier(**cpu), "TabM-D": TabM_D_Classifier(**cpu)}


def run(names: list[str], budgets: list[float], seeds: list[int], out: Path, busy: int = 0
        ) -> None:
    # a row counts as done under the same load only (older files: quiet)
    done = {(r["dataset"], r["method"], r["budget"], r["seed"], r.get("busy", 0))
            for r in read_rows(out)}
    for name in names:
        for seed in seeds:
            if any((name, p, None, seed, 0) not in done for p in PEERS):
                for label, result in peer_runs(name, seed).items():
                    append_row(out, {"dataset": name, "method": label, "budget": None,
                                  "seed": seed, **result})
            for budget in budgets:
                if budget > min(budgets) and seed != seeds[0]:
                    continue  # the long budget runs one seed
                if (name, "autonn", budget, seed, busy) not in done:
                    with burning(busy):  # the peers above fitted on a quiet machine
                        result = autonn_run(name, budget, seed)
                    append_row(out, {"dataset": name, "method": "autonn", "budget": budget,
                                  "seed": seed, "busy": busy, **result})


def report(path: Path) -> str:
    """The results as Markdown tables: one per budget, then mean ranks."""
    rows = read_rows(path)
    budgets = sorted({r["budget"] for r in rows if r["method"] == "autonn"})
    return "\n\n".join(_table(rows, b) for b in budgets)


def _table(rows: list[dict], budget: float) -> str:
    names = list(dict.fromkeys(r["dataset"] for r in rows))
    runs = [r for r in rows if r["method"] == "autonn" and r["budget"] == budget]
    seeds = sorted({r["seed"] for r in runs})
    head = [f"### Test scores after a {budget:.0f} s autonn budget ({len(seeds)} seed(s): "
            "mean, and min-max over seeds)", "",
            "| dataset | metric | autonn | trials (complete, raced out, untrained) | wall s | "
            + " | ".join(PEERS) + " | autonn rank | at least the best peer |",
            "|---" * (7 + len(PEERS)) + "|"]
    ranks, every = [], {}
    for name in names:
        mine = [r for r in runs if r["dataset"] == name]
        if not mine:
            continue
        metric_name = mine[0]["metric"]
        sign = 1 if METRICS[metric_name].direction == "maximize" else -1
        peers = {p: [r["score"] for r in rows if r["dataset"] == name and r["method"] == p
                     and r["seed"] in seeds] for p in PEERS}
        scores = {"autonn": statistics.fmean(r["score"] for r in mine),
                  **{p: statistics.fmean(v) for p, v in peers.items() if v}}
        order = sorted(scores, key=lambda m: -sign * scores[m])
        ranks.append(order.index("autonn") + 1)
        for method in scores:  # every method's rank, ties sharing the better one
            every.setdefault(method, []).append(
                1 + sum(sign * scores[m] > sign * scores[method] for m in scores))
        best_peer = max((scores[p] for p in peers if p in scores), key=lambda v: sign * v)
        row_value = 1 / mine[0]["test_rows"] if sign > 0 else 0.0  # one test row of accuracy
        holds = sign * scores["autonn"] >= sign * best_peer - row_value - 1e-9  # float k/n
        cells = [_cell([r["score"] for r in mine])] + [
            _cell(peers[p]) if peers[p] else "-" for p in PEERS]
        head.append(f"| {name} | {metric_name} | " + f"{cells[0]} | {_counts(mine)} | "
                    f"{statistics.fmean(r['seconds'] for r in mine):.1f} | "
                    + " | ".join(cells[1:]) + f" | {ranks[-1]} | {'yes' if holds else 'NO'} |")
    head += ["", f"Mean rank of autonn among the {len(PEERS) + 1} (1 = best): "
             f"{statistics.fmean(ranks):.2f} over {len(ranks)} datasets. With ties sharing the "
             "better rank, every method: " + ", ".join(
                 f"{m} {statistics.fmean(v):.2f}" for m, v in every.items()) + "."]
    return "\n".join(head)


def _counts(runs: list[dict]) -> str:
    """Mean trials run, and of them complete, raced out and pruned untrained (older files:
    trials alone, or without the untrained: "-")."""
    def mean(key: str) -> int | str:
        return round(statistics.fmean(r[key] for r in runs)) if all(key in r for r in runs) \
            else "-"
    if any("complete" not in r for r in runs):
        return str(mean("trials"))
    return f"{mean('trials')} ({mean('complete')}, {mean('raced')}, {mean('untrained')})"


def _cell(values: list[float]) -> str:
    mean = statistics.fmean(values)
    return f"{mean:.4f}" if len(values) == 1 else f"{mean:.4f} ({min(values):.4f}-{max(values):.4f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="60,300", help="seconds of search, comma-separated")
    parser.add_argument("--seeds", default="0,1,2", help="the longest budget runs the first")
    parser.add_argument("--datasets", default=",".join([*BUNDLED, *REAL]))
    parser.add_argument("--out", default="search_quality.jsonl", help="JSON lines of results")
    parser.add_argument("--report", help="only render this results file as tables")
    parser.add_argument("--write", help="append the tables to this Markdown file")
    parser.add_argument("--busy", type=int, default=0,
                        help="CPU-burning processes beside each autonn search (not the peers)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if not args.report:
        run(args.datasets.split(","), [float(b) for b in args.budgets.split(",")],
            [int(s) for s in args.seeds.split(",")], Path(args.out), args.busy)
    emit(report(Path(args.report or args.out)), args.write)


if __name__ == "__main__":
    main()
