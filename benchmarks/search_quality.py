"""Search quality: autonn at a fixed wall-clock budget against scikit-learn baselines.

On each dataset, in this one process and on the same rows: autonn searches for ``--budget``
seconds (family auto, default space, validation split for the objective), then the best model is
scored on the held-out test split; scikit-learn's MLPClassifier/MLPRegressor (defaults, after a
StandardScaler) and HistGradientBoosting (defaults) are fitted on the training + validation rows
and scored on the same test rows. A second table runs the cnn and mlp families alone on digits at
the same budget.

    python benchmarks/search_quality.py --budget 120 --write benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import optuna
from common import emit
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from autonn import make_config
from autonn.data.datasets import load_dataset
from autonn.data.split import split
from autonn.metrics import DEFAULT_METRIC, metric_for
from autonn.search.final import retrain_winner, test_score
from autonn.search.problem import make_problem
from autonn.search.run import run_search
from autonn.tasks import REGRESSION

DATASETS = ("digits", "breast_cancer", "wine", "diabetes")


def autonn_score(name: str, budget: float, family: str, seed: int) -> tuple[float, float, int]:
    """Test scores of the best model a ``budget``-second search finds (as trained in the search,
    and retrained on train + validation rows as ``autonn export --retrain`` does), trials run."""
    config = make_config(dataset=name, study=f"{name}-{family}", n_trials=100_000, timeout=budget,
                         seed=seed, space={"family": family})
    dataset = load_dataset(name)
    splits = split(dataset, config.training.val_fraction, config.training.test_fraction, seed)
    problem = make_problem(config, dataset, name, splits)
    study, winner = run_search(problem, storage=optuna.storages.InMemoryStorage())
    return winner.test_score, test_score(*retrain_winner(problem, splits, winner)), len(study.trials)


def baseline_scores(name: str, seed: int) -> dict[str, float]:
    """MLP (defaults, scaled inputs) and HistGradientBoosting (defaults) on the same test rows."""
    dataset = load_dataset(name)
    s = split(dataset, 0.2, 0.2, seed)
    X, y = np.concatenate([s.X_train, s.X_val]), np.concatenate([s.y_train, s.y_val])
    regression = dataset.task == REGRESSION
    metric = metric_for(DEFAULT_METRIC[dataset.task], dataset.task)
    models = {
        "sklearn MLP": make_pipeline(StandardScaler(), (MLPRegressor if regression else
                                                        MLPClassifier)(random_state=seed)),
        "HistGradientBoosting": (HistGradientBoostingRegressor if regression else
                                 HistGradientBoostingClassifier)(random_state=seed),
    }
    scores = {}
    for label, model in models.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLP's convergence warning at default max_iter
            model.fit(X, y)
        if regression:  # autonn's metrics take (N, targets) columns
            y_true, out = s.y_test.reshape(-1, 1), model.predict(s.X_test).reshape(-1, 1)
        else:
            y_true, out = s.y_test, model.predict_proba(s.X_test)
        scores[label] = metric.fn(torch_tensor(y_true), torch_tensor(out))
    return scores


def torch_tensor(a):
    import torch
    return torch.as_tensor(np.asarray(a, dtype=np.float32 if a.dtype.kind == "f" else np.int64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=120.0, help="seconds of search per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--write", help="append the tables to this Markdown file")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    lines = [f"### Search quality: test score at a {args.budget:.0f} s budget (seed {args.seed})",
             "", "| dataset | metric | autonn, retrained on train+val | autonn, as searched | trials "
             "| sklearn MLP | HistGradientBoosting | autonn (retrained) at least as good as both |",
             "|---|---|---|---|---|---|---|---|"]
    for name in args.datasets.split(","):
        task = load_dataset(name).task
        metric = metric_for(DEFAULT_METRIC[task], task)
        searched, score, trials = autonn_score(name, args.budget, "auto", args.seed)
        base = baseline_scores(name, args.seed)
        sign = 1 if metric.direction == "maximize" else -1
        beats = all(sign * score >= sign * b for b in base.values())
        lines.append(f"| {name} | {DEFAULT_METRIC[task]} | {score:.4f} | {searched:.4f} | {trials} "
                     f"| {base['sklearn MLP']:.4f} | {base['HistGradientBoosting']:.4f} | "
                     f"{'yes' if beats else 'NO'} |")
        print(lines[-1], flush=True)
    lines += ["", f"### Families on digits at a {args.budget:.0f} s budget (seed {args.seed})", "",
              "| family | test accuracy, retrained | as searched | trials |", "|---|---|---|---|"]
    for family in ("mlp", "cnn"):
        searched, score, trials = autonn_score("digits", args.budget, family, args.seed)
        lines.append(f"| {family} | {score:.4f} | {searched:.4f} | {trials} |")
        print(lines[-1], flush=True)
    command = (f"`python benchmarks/search_quality.py --budget {args.budget:g} --seed {args.seed}`"
               " on 2 CPU cores")
    emit("\n".join(lines + ["", f"Reproduce: {command}."]), args.write)


if __name__ == "__main__":
    main()
