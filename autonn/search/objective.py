"""The Optuna objective: sample a trial's parameters, train them on each fold with pruning and
early stopping, report everything to the tracker, and return the mean validation score (plus any
other objectives)."""

from __future__ import annotations

import statistics
import traceback
from collections.abc import Callable
from typing import Any

import optuna
import torch

from autonn.errors import TrialStopped
from autonn.measures import count_parameters, measure
from autonn.search.deadline import STOPPED
from autonn.search.problem import Fit, Problem, Winner
from autonn.space import suggest
from autonn.tracking.tracker import Tracker
from autonn.training.callbacks import Deadline, EarlyStopping, Heartbeat, Pruning
from autonn.training.device import release_memory
from autonn.training.loop import predict, train_params


def make_objective(problem: Problem, tracker: Tracker, keep: Callable[[Winner], None]
                   ) -> Callable[[optuna.Trial], float | tuple[float, ...]]:
    """The objective of ``problem``'s study; ``keep`` receives every completed trial's networks
    and out-of-training predictions."""

    def objective(trial: optuna.Trial) -> float | tuple[float, ...]:
        params = suggest(trial, problem.config.space)
        seed = begin_trial(problem, trial, params, tracker)
        pruning = Pruning(trial)
        fits = _train_folds(problem, trial, params, seed, tracker, pruning)
        return conclude(problem, trial, tracker, keep, params, fits, pruning)

    return objective


def begin_trial(problem: Problem, trial: optuna.Trial, params: dict[str, Any],
                tracker: Tracker) -> int:
    """Record the trial's seed and open its tracking run; returns the seed."""
    seed = problem.config.seed + trial.number
    trial.set_user_attr("seed", seed)
    run_id = tracker.start_trial(trial.number, params, {
        "study": trial.study.study_name, "seed": seed, "device": str(problem.data.device)})
    if run_id:
        trial.set_user_attr("mlflow_run_id", run_id)
    return seed


def conclude(problem: Problem, trial: optuna.Trial, tracker: Tracker,
             keep: Callable[[Winner], None], params: dict[str, Any], fits: list[Fit],
             pruning: Pruning) -> float | tuple[float, ...]:
    """A trained trial's value(s), facts and curves recorded; its networks kept.

    Raises:
        optuna.TrialPruned: the pruner stopped its first fold.
    """
    cfg, metric = problem.config, problem.metric_name
    value = statistics.fmean(f.history.best_value for f in fits)
    facts = _facts(fits)
    extra = {name: measure(name, fits[0].model, problem.data.x_val)
             for name in cfg.objectives[1:]}
    facts.update({k: v for k, v in extra.items() if k != "params"})
    for key, v in facts.items():
        trial.set_user_attr(key, v)  # fold_values too: a list, which MLflow takes as metrics
    history = fits[0].history  # the first fold's curves
    curves = {"train_loss": history.train_loss, f"epoch_val_{metric}": history.val_metric}
    if pruning.pruned_epoch is not None:
        trial.set_user_attr("pruned_epoch", pruning.pruned_epoch)
        tracker.end_trial(trial.number, "PRUNED", curves=curves, metrics=facts,
                          tags={"pruned_epoch": pruning.pruned_epoch})
        raise optuna.TrialPruned(f"pruned at epoch {pruning.pruned_epoch}")
    folds = {f"val_{metric}_fold{i}": v for i, v in enumerate(facts.pop("fold_values", []))}
    # val_<metric>: the trial's objective, so the MLflow runs table sorts trials by it
    tracker.end_trial(trial.number, "COMPLETE", curves=curves,
                      metrics={f"val_{metric}": value, **facts, **folds})
    keep(Winner(trial.number, value, params, fits, out_of_training(problem, fits)))
    return (value, *extra.values()) if extra else value


def _train_folds(problem: Problem, trial: optuna.Trial, params: dict[str, Any], seed: int,
                 tracker: Tracker, pruning: Pruning) -> list[Fit]:
    """Train ``params`` on every fold; the pruner watches the first fold, and a pruned trial
    trains no further fold.

    Raises:
        TrialStopped: the search's deadline came before the last fold finished (the trial is
            recorded as stopped; no fold starts after the deadline).
    """
    cfg, fits, deadline = problem.config, [], Deadline(problem.deadline, params["epochs"])
    for index, data in enumerate(problem.folds):
        if deadline.passed():
            raise stop_trial(problem, trial, tracker, fits)
        stoppers = [EarlyStopping(cfg.training.patience_for(params["epochs"])), Heartbeat(trial),
                    deadline]
        if index == 0 and len(cfg.objectives) == 1:  # Optuna prunes single-objective studies
            stoppers.append(pruning)
        try:
            model, head, history = train_params(
                params, data, problem.metric, seed=seed, grad_clip=cfg.training.grad_clip,
                callbacks=stoppers, init_state=problem.init_state)
        except BaseException as exc:
            report_failure(trial, tracker, exc)
            raise
        finally:
            release_memory(data.device)
        fits.append(Fit(model, head, history, data))
        if history.stop_reason == Deadline.REASON:
            raise stop_trial(problem, trial, tracker, fits)
        if pruning.pruned_epoch is not None:
            break
    return fits


def stop_trial(problem: Problem, trial: optuna.Trial, tracker: Tracker, fits: list[Fit]
               ) -> TrialStopped:
    """Record a trial the search's deadline cut short (``fits``: its folds so far, the last
    one cut unless every fold finished) as stopped; returns the error that ends it."""
    done = [f for f in fits if f.history.stop_reason != Deadline.REASON]
    cut = fits[len(done):]
    where = (f"fold {len(done) + 1} of {len(problem.folds)}" if len(problem.folds) > 1
             else "training")
    after = f" after {len(cut[0].history.val_metric)} epoch(s)" if cut else " before it began"
    reason = (f"stopped by the search's deadline (--timeout) in {where}{after}: not a finished "
              "trial, so it is left out of the ranking, --n-trials and the final model")
    trial.set_user_attr(STOPPED, reason)
    trial.set_user_attr("fail_reason", reason)
    trial.set_user_attr("completed_folds", [f.history.best_value for f in done])
    history = fits[0].history if fits else None
    curves = {} if history is None else {
        "train_loss": history.train_loss, f"epoch_val_{problem.metric_name}": history.val_metric}
    tracker.end_trial(trial.number, "STOPPED", curves=curves, tags={"stopped": "deadline"})
    return TrialStopped(reason)


def out_of_training(problem: Problem, fits: list[Fit]) -> torch.Tensor:
    """Each fold's predictions of its own validation rows, in the order of ``selection_y``:
    (N, K) probabilities or (N, T) values, on the CPU."""
    parts = [predict(f.model, f.head, f.data, f.data.x_val).float().cpu() for f in fits]
    out = torch.empty((sum(len(p) for p in parts), parts[0].shape[1]))
    for rows, part in zip(problem.fold_rows, parts):
        out[torch.as_tensor(rows)] = part
    return out


def _facts(fits: list[Fit]) -> dict[str, Any]:
    """What a trial records about its training: size, time, epochs, each fold's score."""
    facts = {"n_params": count_parameters(fits[0].model),
             "train_seconds": round(sum(f.history.seconds for f in fits), 4),
             "epochs_run": len(fits[0].history.val_metric),
             "refit_epochs": round(statistics.fmean(f.history.best_epoch + 1 for f in fits))}
    if len(fits) > 1:
        facts["fold_values"] = [f.history.best_value for f in fits]
    return facts


def report_failure(trial: optuna.Trial, tracker: Tracker, exc: BaseException) -> None:
    """A failed or interrupted trial: its reason on the trial, its run ended FAIL or KILLED."""
    reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
    trial.set_user_attr("fail_reason", reason)
    interrupted = isinstance(exc, KeyboardInterrupt)
    tracker.end_trial(trial.number, "KILLED" if interrupted else "FAIL",
                      tags={"fail_reason": "interrupted" if interrupted else reason},
                      traceback=None if interrupted else "".join(
                          traceback.format_exception(exc)))
