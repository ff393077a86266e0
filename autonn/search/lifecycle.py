"""One trial lifecycle, for one network or a population of K: begin each trial (seed, tracking
run), train it fold by fold through a training engine, then conclude it (complete, pruned), stop
it (the search's deadline) or fail it, as Optuna and the tracker should record it.

    engine(trainees, data, metric, grad_clip=..., init_state=...)   trains one fold's trainees:
        ``training.loop.fit_each`` (one network at a time, the core's fit) or
        ``training.population.fit.fit_population`` (K networks as one batched network)

Every trial keeps everything a trial has, however it trained: its seed, MLflow run, pruning on
its first fold, the race over its later folds (``search.racing``), early stopping, heartbeat, the
deadline, its failure report and its place in the exact trial count (``search.claims``).
"""

from __future__ import annotations

import statistics
import time
import traceback
from collections.abc import Callable
from typing import Any

import optuna
import torch

from autonn.errors import TrialStopped
from autonn.measures import count_parameters, measure
from autonn.params import Params
from autonn.search.claims import Outcome
from autonn.search.deadline import PARTIAL, STOPPED
from autonn.search.problem import Fit, Problem, Winner
from autonn.search.racing import FOLD_VALUES, check_pruner, early_stopping, pruned_fold, race, races
from autonn.search.sizing import AFFORDED, sized
from autonn.tracking.tracker import Tracker
from autonn.training.callbacks import Deadline, Heartbeat, Pruning, TimeCap
from autonn.training.device import release_memory
from autonn.training.loop import Trainee, predict

Engine = Callable[..., None]  # (trainees, data, metric, *, grad_clip, init_state): trains a fold
FOLD_EPOCHS = "fold_epochs"  # user attr: each fold's epochs, when a time cap stopped one


def run_trials(problem: Problem, trials: list[optuna.Trial], params: list[Params],
               tracker: Tracker, keep: Callable[[Winner], None], engine: Engine,
               share: float = 1.0) -> list[Outcome]:
    """Train ``trials`` (with their sampled ``params``) on every fold through ``engine``; each
    one's outcome: its value(s), or the exception it ends with (pruned, stopped, failed).

    A lone trial's epochs are first sized to its time allowance (too few: pruned untrained;
    ``search.sizing``), ``share`` of a candidate's under a deadline (a population's claim
    shares one between its runs). It leaves the folds once it fails, is pruned (the pruner
    watches its first fold) or falls out of the race (``search.racing``); no fold starts after
    the deadline, nor after a fold that judged the later ones could not end before it. An
    interruption fails every trial, then propagates."""
    seeds, errors = _begin(problem, trials, params, tracker)
    prunings, raced = [Pruning(t) for t in trials], [None] * len(trials)  # raced: why, or None
    fits: list[list[Fit]] = [[] for _ in trials]
    alive = [i for i in range(len(trials)) if errors[i] is None]
    per_fold = _fold_allowance(problem, share)
    for index, data in enumerate(problem.folds):
        if not alive or Deadline(problem.deadline).passed():
            break
        try:  # an interruption while sizing or training fails every live trial
            if index == 0 and len(trials) == 1:  # a population's members share a pack's epochs
                sizing = sized(problem, trials[0], params[0], per_fold, tracker)
                if isinstance(sizing, optuna.TrialPruned):  # too few epochs: untrained
                    return [sizing]
                params, per_fold = [sizing[0]], sizing[1]
            trainees = [Trainee(params[i], seeds[i], _stoppers(
                problem, trials[i], params[i], prunings[i] if index == 0 else None, index,
                per_fold)) for i in alive]
            engine(trainees, data, problem.metric, grad_clip=problem.config.training.grad_clip,
                   init_state=problem.init_state)
        except BaseException as exc:  # an interruption, or the engine itself broke
            for i in alive:
                report_failure(trials[i], tracker, exc)
            raise
        finally:
            release_memory(data.device)
        last = {i for i, t in zip(alive, trainees)  # the deadline judged: no fold after this
                if any(isinstance(c, Deadline) and c.last_fold for c in t.callbacks)}
        for i, t in zip(alive, trainees):
            errors[i] = t.error
            if t.error is None:
                fits[i].append(Fit(t.network, t.head, t.history, data))
        alive = [i for i in alive if errors[i] is None and prunings[i].pruned_epoch is None
                 and fits[i][-1].history.stop_reason != Deadline.REASON]
        raced = [_race(problem, trials[i], fits[i], i in last) if i in alive else r
                 for i, r in enumerate(raced)]
        alive = [i for i in alive if raced[i] is None and i not in last]
    return [_conclude(problem, trials[i], tracker, keep, params[i], fits[i],
                      _pruned(prunings[i], raced[i]), errors[i]) for i in range(len(trials))]


def _race(problem: Problem, trial: optuna.Trial, fits: list[Fit], last: bool) -> str | None:
    """Why the trial leaves the race after its folds so far, or None (it goes on, this fold was
    its ``last`` or the study's, or the study does not race: one split, several objectives)."""
    if not races(problem):
        return None
    next_fold = not last and len(fits) < len(problem.folds)
    return race(trial, [f.history.best_value for f in fits], next_fold)


def _pruned(pruning: Pruning, raced: str | None) -> str | None:
    """Why the trial was pruned: by the pruner on its first fold, or by the race; None if not."""
    if pruning.pruned_epoch is not None:
        return f"pruned at epoch {pruning.pruned_epoch}"
    return raced


def _begin(problem: Problem, trials: list[optuna.Trial], params: list[Params],
           tracker: Tracker) -> tuple[list[int], list[BaseException | None]]:
    """Each trial begun (its seed), or the error that kept it from beginning (a tracking
    store that refused its run): that trial fails, the others go on."""
    check_pruner(problem, trials[0].study)  # before any run opens
    seeds, errors = [], []
    for trial, p in zip(trials, params):
        try:
            seeds.append(begin_trial(problem, trial, p, tracker))
            errors.append(None)
        except Exception as exc:  # noqa: BLE001 - the trial records it as its failure
            seeds.append(problem.config.seed + trial.number)
            errors.append(exc)
    return seeds, errors


def _fold_allowance(problem: Problem, share: float = 1.0) -> float | None:
    """Seconds each fold of a candidate starting now may take, over its folds: with a deadline,
    ``share`` of its share of the time left (``training.candidate_share``); without one, its
    fixed allowance (``training.candidate_seconds``); None when the one that applies is off.

    The share keeps one candidate from eating the budget (a first built-in start took 255 of
    300 s on a 4000-row table), so the time left keeps buying new candidates; the allowance
    keeps ``--n-trials N`` without a budget from meaning hours on a large table."""
    training = problem.config.training
    if problem.deadline is None:
        seconds = training.candidate_seconds
    elif training.candidate_share is None:
        seconds = None
    else:
        seconds = max(problem.deadline - time.time(), 0.0) * training.candidate_share * share
    return None if seconds is None else seconds / len(problem.folds)


def _stoppers(problem: Problem, trial: optuna.Trial, params: Params,
              pruning: Pruning | None, fold: int, per_fold: float | None) -> list:
    """What may stop a trial's fold early: no improvement or a perfect score
    (``early_stopping``), the deadline, its share of the time (``per_fold`` seconds), and on its
    first fold the pruner (``pruning``); a heartbeat rides along. The deadline's callback also
    judges whether the later folds, each counted at patience + 1 epochs, can end before it
    (else this fold is the trial's last)."""
    stopping = early_stopping(problem, params, fold)
    folds_after = len(problem.folds) - fold - 1
    later = folds_after * min(int(params["epochs"]), stopping.patience + 1)
    capped = None if per_fold is None else folds_after * per_fold  # the later folds at most
    stoppers = [stopping, Heartbeat(trial),
                Deadline(problem.deadline, params["epochs"], later, capped)]
    if per_fold is not None:
        stoppers.append(TimeCap(per_fold, shared=problem.deadline is not None))
    if pruning is not None and pruned_fold(problem, fold):
        stoppers.append(pruning)
    return stoppers


def _conclude(problem: Problem, trial: optuna.Trial, tracker: Tracker, keep: Callable,
              params: Params, fits: list[Fit], pruned: str | None,
              error: BaseException | None) -> Outcome:
    """The trial's outcome, recorded: failed, stopped by the deadline before it finished a fold,
    pruned, or complete (on the folds it finished, when the deadline left it fewer than all).
    An error on the way (a second objective that cannot be measured, a tracking store gone) is
    this trial's failure, not its claim's."""
    try:
        if error is not None:
            report_failure(trial, tracker, error)
            return error
        done = [f for f in fits if f.history.stop_reason != Deadline.REASON]
        if pruned is None and not done:
            return stop_trial(problem, trial, tracker, fits)
        return conclude(problem, trial, tracker, keep, params, done if pruned is None else fits,
                        pruned)
    except optuna.TrialPruned as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - the trial records it as its failure
        trial.set_user_attr("fail_reason", f"{type(exc).__name__}: {exc}".rstrip(": "))
        return exc


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
             pruned: str | None) -> float | tuple[float, ...]:
    """A trained trial's value(s), facts and curves recorded; its networks kept unless it was
    ``pruned`` (why: the pruner on its first fold, or the race over folds). A trial the deadline
    left with fewer ``fits`` than folds is ranked on those, marked ``PARTIAL``, and kept without
    out-of-fold predictions (they would not cover every row): the final model draws on it only
    when no trial finished every fold.

    Raises:
        optuna.TrialPruned: the trial was pruned.
    """
    cfg, metric = problem.config, problem.metric_name
    value = statistics.fmean(f.history.best_value for f in fits)
    facts = _facts(fits, len(problem.folds) > 1)
    if params["epochs"] != trial.params.get("epochs"):  # its time afforded fewer than sampled
        facts[AFFORDED] = params["epochs"]
    extra = {name: measure(name, fits[0].model, problem.data.x_val)
             for name in cfg.objectives[1:]}
    facts.update({k: v for k, v in extra.items() if k != "params"})
    for key, v in facts.items():
        trial.set_user_attr(key, v)  # fold_values, fold_epochs: lists (MLflow: numbers, below)
    curves = _curves(problem, fits)
    folds = {f"val_{metric}_fold{i}": v for i, v in enumerate(facts.pop(FOLD_VALUES, []))}
    folds.update({f"epochs_fold{i}": v for i, v in enumerate(facts.pop(FOLD_EPOCHS, []))})
    if pruned is not None:
        trial.set_user_attr("pruned", pruned)
        tracker.end_trial(trial.number, "PRUNED", curves=curves, metrics={**facts, **folds},
                          tags={"pruned": pruned})
        raise optuna.TrialPruned(pruned)
    whole = len(fits) == len(problem.folds)
    if not whole:
        trial.set_user_attr(PARTIAL, len(fits))
    # val_<metric>: the trial's objective, so the MLflow runs table sorts trials by it
    tracker.end_trial(trial.number, "COMPLETE", curves=curves,
                      metrics={f"val_{metric}": value, **facts, **folds},
                      tags=None if whole else {"partial": f"{len(fits)} of {len(problem.folds)} "
                                                          "folds (the deadline came)"})
    keep(Winner(trial.number, value, params, fits,
                out_of_training(problem, fits) if whole else None))
    return (value, *extra.values()) if extra else value


def stop_trial(problem: Problem, trial: optuna.Trial, tracker: Tracker, fits: list[Fit]
               ) -> TrialStopped:
    """Record a trial the search's deadline cut short in its first fold (``fits``: that fold,
    or none) as stopped; returns the error that ends it."""
    where = f"fold 1 of {len(problem.folds)}" if len(problem.folds) > 1 else "training"
    after = f" after {len(fits[0].history.val_metric)} epoch(s)" if fits else " before it began"
    reason = (f"stopped by the search's deadline (--timeout) in {where}{after}: not a finished "
              "trial, so it is left out of the ranking, --n-trials and the final model")
    trial.set_user_attr(STOPPED, reason)
    trial.set_user_attr("fail_reason", reason)
    tracker.end_trial(trial.number, "STOPPED", curves=_curves(problem, fits),
                      tags={"stopped": "deadline"})
    return TrialStopped(reason)


def report_failure(trial: optuna.Trial, tracker: Tracker, exc: BaseException) -> None:
    """A failed or interrupted trial: its reason on the trial, its run ended FAIL or KILLED."""
    reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
    trial.set_user_attr("fail_reason", reason)
    interrupted = isinstance(exc, KeyboardInterrupt)
    tracker.end_trial(trial.number, "KILLED" if interrupted else "FAIL",
                      tags={"fail_reason": "interrupted" if interrupted else reason},
                      traceback=None if interrupted else "".join(
                          traceback.format_exception(exc)))


def out_of_training(problem: Problem, fits: list[Fit]) -> torch.Tensor:
    """Each fold's predictions of its own validation rows, in the order of ``selection_y``:
    (N, K) probabilities or (N, T) values, on the CPU."""
    parts = [predict(f.model, f.head, f.data, f.data.x_val).float().cpu() for f in fits]
    out = torch.empty((sum(len(p) for p in parts), parts[0].shape[1]))
    for rows, part in zip(problem.fold_rows, parts):
        out[torch.as_tensor(rows)] = part
    return out


def _curves(problem: Problem, fits: list[Fit]) -> dict[str, list[float]]:
    """The first fold's curves, as the tracker shows them (none before a fold trained)."""
    if not fits:
        return {}
    history = fits[0].history
    return {"train_loss": history.train_loss,
            f"epoch_val_{problem.metric_name}": history.val_metric}


def _facts(fits: list[Fit], cross_validated: bool) -> dict[str, Any]:
    """What a trial records about its training: size, time, epochs, each fold's score."""
    facts = {"n_params": count_parameters(fits[0].model),
             "train_seconds": round(sum(f.history.seconds for f in fits), 4),
             "epochs_run": len(fits[0].history.val_metric),
             "refit_epochs": round(statistics.fmean(f.history.best_epoch + 1 for f in fits))}
    finished = [f.history.best_value for f in fits if f.history.stop_reason != Pruning.REASON]
    if cross_validated and finished:  # a raced-out trial's too: the folds it finished
        facts[FOLD_VALUES] = finished
    if any(f.history.stop_reason == TimeCap.REASON for f in fits):  # for a faithful replay
        facts[FOLD_EPOCHS] = [len(f.history.val_metric) for f in fits]
    return facts
