"""How to build the final model: the same search, finished several ways, each scored on the test rows.

On each dataset and seed, one autonn search at a ``--budget`` (default space, one process); its
kept candidates (the best trials, with their fold networks and out-of-fold predictions) are then
finished as:

    shipped        what ``autonn search`` ships (autonn.search.final.finish, refit "auto")
    old rule       greedy selection by the metric alone, 5 rounds, refitted (before this change)
    best refit     the best trial, refitted on every non-test row
    best bag       the best trial's fold networks averaged (no refit; after a one-split search,
                   the one network as the search trained it)
    top3/5 refit   the mean of the 3 / 5 best trials, each refitted
    top3/5 bag     the mean of the 3 / 5 best trials, each as its fold networks
    validated test what ships, but only when it beats the best trial on the out-of-fold rows
                   (else the best trial alone)
    unguarded      what ships, without the guard that keeps clearly worse trials out of the
                   initial mean

Every variant sees the same candidates, so differences come from the finishing alone. The
candidates are taken by wrapping ``autonn.search.run.finish`` (the search itself is untouched).

    OMP_NUM_THREADS=1 taskset -c 1 python benchmarks/final_model.py --datasets iris,cars --seeds 0,1
"""

from __future__ import annotations

import argparse
import statistics
import warnings
from pathlib import Path

import optuna
import torch
from common import append_row, emit, read_rows
from tables import load

from autonn import make_config
from autonn.data.split import split
from autonn.metrics import METRICS, is_better
from autonn.search import final as F
from autonn.search import run as search_run
from autonn.search.ensemble import better, ensemble_selection, scorer
from autonn.search.problem import make_problem


def old_greedy(predictions, y, metric, rounds):
    """The selection before this change: greedy by the metric alone, from an empty ensemble."""
    counts, total, score = [0] * len(predictions), torch.zeros_like(predictions[0]), None
    for size in range(1, rounds + 1):
        best = None
        for i, p in enumerate(predictions):
            s = metric.fn(y, (total + p) / size)
            if best is None or is_better(s, best[1], metric.direction):
                best = (i, s)
        counts[best[0]] += 1
        total += predictions[best[0]]
        score = best[1]
    single = metric.fn(y, predictions[0])
    if not is_better(score, single, metric.direction) or sum(c > 0 for c in counts) < 2:
        return [1] + [0] * (len(predictions) - 1)
    return counts


def _mean_of(trials: dict[int, int], ranked) -> torch.Tensor:
    """The out-of-fold predictions of an ensemble of ``trials`` (number -> count)."""
    by_number = {w.trial_number: w for w in ranked}
    return sum(n * by_number[t].predictions for t, n in trials.items()) / sum(trials.values())


def _score(problem, networks) -> float:
    return F.score_test_split(problem, F.assemble(networks))


def finished_ways(name: str, budget: float, seed: int, folds: int | None) -> dict:
    """One search on ``name``; the test score of each way of finishing it."""
    captured = {}
    finish = search_run.finish

    def spy(problem, candidates, ensemble, refit):
        captured["candidates"] = list(candidates)
        return finish(problem, candidates, ensemble, refit)

    dataset = load(name)
    extra = {"training": {"cv_folds": folds}} if folds is not None else {}
    config = make_config(study=f"{name}-{seed}", n_trials=1_000_000, timeout=budget, seed=seed,
                         **extra)
    search_run.finish = spy
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            problem = make_problem(config, dataset, name, split(dataset, 0.2, 0.2, seed))
            study, final = search_run.run_search(problem,
                                                 storage=optuna.storages.InMemoryStorage())
    finally:
        search_run.finish = finish
    if not captured.get("candidates"):
        raise SystemExit(f"{name}: no trial completed within {budget} s; give a longer --budget.")
    ranked = sorted(captured["candidates"],
                    key=lambda w: (F._sort_key(problem, w.value), w.trial_number))
    old = old_greedy([w.predictions for w in ranked], problem.selection_y, problem.metric, 5)
    picks = {"old rule": ([(w, c) for w, c in zip(ranked, old) if c], True),
             "best refit": ([(ranked[0], 1)], True), "best bag": ([(ranked[0], 1)], False)}
    for k in (3, 5):
        picks[f"top{k} refit"] = ([(w, 1) for w in ranked[:k]], True)
        picks[f"top{k} bag"] = ([(w, 1) for w in ranked[:k]], False)
    score = scorer(problem.metric, problem.selection_y, problem.config.task != "regression")
    alone = score(ranked[0].predictions)
    if not better(score(_mean_of(final.trials, ranked)), alone, problem.metric.direction):
        picks["validated test"] = ([(ranked[0], 1)], final.refit)
    counts, _ = ensemble_selection([w.predictions for w in ranked], score,
                                   problem.metric.direction, config.ensemble)  # no guard
    unguarded = [(w, c) for w, c in zip(ranked, counts) if c]
    guard_changed = {w.trial_number: c for w, c in unguarded} != final.trials
    if guard_changed:
        picks["unguarded"] = (unguarded, final.refit)
    scores = {"shipped": final.test_score}
    for label, (chosen, refit) in picks.items():
        networks = F._refit(problem, chosen) if refit else F._as_trained(chosen)
        scores[label] = _score(problem, networks)
    scores.setdefault("validated test", final.test_score)  # it validated better: what shipped
    scores.setdefault("unguarded", final.test_score)  # the guard kept nobody out
    return {"dataset": name, "seed": seed, "budget": budget, "cv_folds": folds,
            "metric": problem.metric_name,
            "trials": len(study.trials), "folds": len(problem.folds),
            "shipped_trials": len(final.trials), "guard_changed": guard_changed,
            "test_rows": len(problem.splits.y_test),
            "scores": scores}


def report(rows: list[dict]) -> str:
    """A Markdown table of the variants every row has (files of earlier runs hold others)."""
    variants = [v for v in rows[0]["scores"] if all(v in r["scores"] for r in rows)]
    lines = ["### Finishing one search several ways: test score per variant", "",
             "| dataset | seed | folds | trials | " + " | ".join(variants) + " |",
             "|---" * (4 + len(variants)) + "|"]
    wins = {v: 0 for v in variants}
    for r in rows:
        sign = 1 if METRICS[r["metric"]].direction == "maximize" else -1
        best = max(sign * s for s in r["scores"].values())
        for v in variants:
            wins[v] += sign * r["scores"][v] == best
        cells = [f"**{r['scores'][v]:.4g}**" if sign * r["scores"][v] == best
                 else f"{r['scores'][v]:.4g}" for v in variants]
        lines.append(f"| {r['dataset']} | {r['seed']} | {r['folds']} | {r['trials']} | "
                     + " | ".join(cells) + " |")
    ranks = {v: [] for v in variants}
    for r in rows:
        sign = 1 if METRICS[r["metric"]].direction == "maximize" else -1
        ordered = sorted({sign * s for s in r["scores"].values()}, reverse=True)
        for v in variants:
            ranks[v].append(ordered.index(sign * r["scores"][v]) + 1)
    lines += ["", "Best (bold, ties included) per variant: " + ", ".join(
        f"{v} {wins[v]}" for v in variants) + f" of {len(rows)}.",
        "Mean rank (dense, 1 = best): " + ", ".join(
            f"{v} {statistics.fmean(ranks[v]):.2f}" for v in variants) + "."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="iris,breast_cancer,titanic,cars,diabetes,cells")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--budget", type=float, default=60)
    parser.add_argument("--cv-folds", type=int, help="force this many folds (default: autonn's)")
    parser.add_argument("--out", default="final_model.jsonl")
    parser.add_argument("--write")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    out = Path(args.out)
    rows = read_rows(out)
    if any((r["budget"], r["cv_folds"]) != (args.budget, args.cv_folds) for r in rows):
        raise SystemExit(f"{out} holds runs of another --budget or --cv-folds; give a new --out.")
    done = {(r["dataset"], r["seed"]) for r in rows}
    for seed in map(int, args.seeds.split(",")):
        for name in args.datasets.split(","):
            if (name, seed) not in done:
                append_row(out, finished_ways(name, args.budget, seed, args.cv_folds))
    emit(report(read_rows(out)), args.write)


if __name__ == "__main__":
    main()
