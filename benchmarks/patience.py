"""Early-stopping patience: what a shorter, adaptive rule would save and what it would cost.

The three first built-in starts (scikit-learn's default MLP; 3 x 256 swish with and without PLR
embeddings, 256 epochs, cosine schedule) train on every fold of each table with today's rule (a
fifth of the epoch cap, at least 8) and keep each fold's validation curve. Training is seeded
and a rule that stops sooner only cuts the same curve shorter, so each other rule is replayed on
those curves: the epochs it would have trained (the time, all but exactly) and the best
validation score it would have kept, the mean over folds.

    adaptive(a, b)   patience = a + b x (best epoch so far), at least 8, at most today's
                     (AutoGluon's AdaptiveES shape: offset 10, rate 0.3 by default)

    python benchmarks/patience.py --datasets iris,wine,cars --write benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import statistics
import warnings
from collections.abc import Callable

import torch
from common import emit, start_for
from tables import load

from autonn.config import make_config
from autonn.metrics import is_better
from autonn.search.problem import make_problem
from autonn.search.warmstart import BUILTIN
from autonn.training.callbacks import EarlyStopping
from autonn.training.loop import train_params

Rule = Callable[[int, int], int]  # (epoch cap, best epoch so far) -> patience
RULES: dict[str, Rule] = {
    "today: max(8, cap/5)": lambda cap, best: max(8, cap // 5),
    "adaptive(10, 0.3)": lambda cap, best: max(8, min(cap // 5, int(10 + 0.3 * best))),
    "adaptive(16, 0.5)": lambda cap, best: max(8, min(cap // 5, int(16 + 0.5 * best))),
}
STARTS = 3


def curves(name: str) -> list[dict]:
    """Each start's validation curve on each fold of ``name`` (the search's folds, seed 0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problem = make_problem(make_config(study="patience", seed=0), load(name), name)
    out = []
    for start in range(STARTS):
        params = start_for(BUILTIN[start], problem)
        patience = problem.config.training.patience_for(params["epochs"])
        for fold, data in enumerate(problem.folds):
            history = train_params(params, data, problem.metric, seed=fold,
                                   callbacks=[EarlyStopping(patience)])[2]
            out.append({"start": start, "cap": params["epochs"], "curve": history.val_metric,
                        "direction": problem.metric.direction, "metric": problem.metric_name})
    return out


def replay(curve: list[float], direction: str, cap: int, rule: Rule) -> tuple[int, float]:
    """Epochs trained and best score kept had ``rule`` stopped training on ``curve``."""
    best_epoch, best = -1, float("nan")
    for epoch, value in enumerate(curve):
        if best_epoch < 0 or is_better(value, best, direction):
            best_epoch, best = epoch, value
        if epoch - best_epoch >= rule(cap, best_epoch):
            return epoch + 1, best
    return len(curve), best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="iris,wine,breast_cancer,diabetes,penguins,"
                                                "titanic,cars,affairs,cells,digits,ames")
    parser.add_argument("--write", help="append the table to this Markdown file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = list(RULES)
    rows = ["| dataset | metric | " + " | ".join(f"{n}: epochs, score per start" for n in names)
            + " |", "|---|---|" + "---|" * len(names)]
    totals = dict.fromkeys(names, 0)
    for name in args.datasets.split(","):
        runs = curves(name)
        cells = []
        for rule in names:
            kept = [replay(r["curve"], r["direction"], r["cap"], RULES[rule]) for r in runs]
            totals[rule] += sum(epochs for epochs, _ in kept)
            scores = [statistics.fmean(v for (_, v), r in zip(kept, runs) if r["start"] == s)
                      for s in range(STARTS)]
            cells.append(f"{sum(e for e, _ in kept)}, " + " / ".join(f"{v:.4g}" for v in scores))
        rows.append(f"| {name} | {runs[0]['metric']} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    rows.append("| all | epochs against today's | " + " | ".join(
        f"{totals[n] / totals[names[0]]:.2f}" for n in names) + " |")
    emit("\n".join(rows), args.write)


if __name__ == "__main__":
    main()
