"""What a study says about itself: ranked trials, the Pareto front, tables and plots."""

from __future__ import annotations

import logging
from typing import Any

import optuna

from autonn.families import summary
from autonn.search.ranking import (
    SHOWN_STATES,
    leading_trial,
    objectives_of,
    pareto_front,
    ranked_by_metric,
    state_counts,
    state_of,
)
from autonn.search.sizing import trained_params


def ranked_trials(study: optuna.Study, top: int | None = None) -> list[dict[str, Any]]:
    """Trials best first (finished ones by value, then the rest by number; enqueued trials not
    yet run are left out), JSON-ready."""
    scored = ranked_by_metric(study)
    ranked = {t.number for t in scored}
    rest = [t for t in study.get_trials(deepcopy=False)
            if t.number not in ranked and t.state != optuna.trial.TrialState.WAITING]
    rows = [{"rank": i + 1 if t.number in ranked else None, "trial": t.number,
             "state": state_of(t), "value": t.values[0] if t.number in ranked else None,
             "duration_s": t.duration.total_seconds() if t.duration else None,
             "architecture": summary(t.params) if "n_layers" in t.params else "",
             "params": trained_params(t), "mlflow_run_id": t.user_attrs.get("mlflow_run_id")}
            for i, t in enumerate(scored + rest)]
    return rows[:top] if top else rows


def trials_csv(study: optuna.Study) -> str:
    """Optuna's trials table as CSV text."""
    return study.trials_dataframe().to_csv(index=False)


# The parallel-coordinate plot shows the dimensions every trial has; all of them is unreadable.
PARALLEL_PARAMS = ("n_layers", "activation", "optimizer", "lr", "batch_size", "dropout")


def figures(study: optuna.Study) -> dict[str, Any]:
    """Optimization history, parameter importances and parallel coordinates, as matplotlib figures.

    A plot that cannot be drawn for this study (too few finished trials, one distinct value)
    is left out rather than failing the search.
    """
    import matplotlib

    matplotlib.use("Agg")
    import warnings

    import matplotlib.pyplot as plt  # noqa: F401  (the Agg backend must be chosen first)
    from optuna.visualization import matplotlib as ovm

    logging.getLogger("optuna").setLevel(logging.ERROR)
    shared = sorted({k for t in study.trials for k in t.params} & set(PARALLEL_PARAMS))
    many = len(study.directions) > 1
    metric = (lambda t: t.values[0]) if many else None  # multi-objective plots show the metric
    name = study.user_attrs.get("metric", "Objective Value")
    plots = {"plots/optimization_history.png": lambda s: ovm.plot_optimization_history(
                 s, target=metric, target_name=name),
             "plots/param_importances.png": lambda s: ovm.plot_param_importances(
                 s, target=metric, target_name=name),
             "plots/parallel_coordinate.png": lambda s: ovm.plot_parallel_coordinate(
                 s, params=shared, target=metric, target_name=name)}
    if many:  # a Pareto plot draws 2 or 3 objectives: the first three
        names = objectives_of(study)[:3]
        plots["plots/pareto_front.png"] = lambda s: ovm.plot_pareto_front(
            s, targets=lambda t: tuple(t.values[:3]), target_names=names)
    out = {}
    for path, plot in plots.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[path] = plot(study).figure
        except (ValueError, RuntimeError, ZeroDivisionError):
            plt.close("all")
    return out


def study_rows(storage: Any) -> list[dict[str, Any]]:
    """One JSON-ready row per study in ``storage``: trial counts by state and the best value."""
    rows = []
    for summary_ in optuna.get_all_study_summaries(storage, include_best_trial=False):
        study = optuna.load_study(study_name=summary_.study_name, storage=storage)
        counts = state_counts(study)
        try:
            best = leading_trial(study)
        except ValueError:
            best = None
        rows.append({"study": summary_.study_name, "metric": summary_.user_attrs.get("metric"),
                     "direction": study.directions[0].name.lower(),
                     "trials": sum(counts.values()) - counts.get("WAITING", 0),
                     "objectives": objectives_of(study),
                     **{s.lower(): counts.get(s, 0) for s in SHOWN_STATES},
                     "best_value": best.values[0] if best else None,
                     "best_trial": best.number if best else None})
    return rows


def pareto_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """The Pareto front as JSON-ready rows: rank, trial, each objective's value, architecture."""
    names = objectives_of(study)
    plain = lambda v: int(v) if float(v).is_integer() else v  # noqa: E731  (counts stay whole)
    return [{"rank": i + 1, "trial": t.number, **{n: plain(v) for n, v in zip(names, t.values)},
             "architecture": summary(t.params) if "n_layers" in t.params else "",
             "mlflow_run_id": t.user_attrs.get("mlflow_run_id")}
            for i, t in enumerate(pareto_front(study))]


def pareto_csv(study: optuna.Study) -> str:
    """The Pareto front as CSV text (what the MLflow parent run stores as pareto.csv)."""
    import pandas as pd

    return pd.DataFrame(pareto_rows(study)).to_csv(index=False)
