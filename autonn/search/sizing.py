"""Epochs from the time a candidate can afford.

Under a --timeout, a candidate's folds get a time allowance (its share of the time left).
Before its first fold trains, a few timed steps predict its epoch's seconds
(``training.timing``); when the allowance buys fewer epochs than it sampled, it trains that
many instead, and its learning-rate schedule and patience span them: a whole short schedule,
not the start of a long one cut by the clock. The time cap stays as the safety net for a
prediction that was short.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import optuna

from autonn.params import Params

if TYPE_CHECKING:  # torch: the study commands read trained_params without it
    from autonn.search.problem import Problem
    from autonn.tracking.tracker import Tracker

AFFORDED = "afforded_epochs"  # user attr: the epochs a candidate's time afforded, below its cap
MARGIN = 1.1  # predicted epochs run this much longer in training (the permutation, the loop)
# Fewer epochs than the least patience (training.patience_for) that its time affords a
# candidate: it is not trained once the study has a finished trial to ship. Late in a budget a
# candidate's share of the time left bought 1 to 4 of its epochs; on grants such networks scored
# 0.54-0.82 where trained ones scored 0.85-0.89, took a fifth of a 60 s search and entered its
# ensemble (benchmarks/RESULTS.md).
MIN_EPOCHS = 8
# The share keeps one candidate from taking the time that buys the next ones. Once the time
# left to the trials' deadline is under TAIL_WINDOW of the budget, a candidate whose share
# affords it too few epochs may take TAIL of that time instead: a late candidate trains, where
# candidates were sampled and dropped untrained until the deadline (26-39 of grants' 63-78 at
# 300 s, in its last 10-12 s; benchmarks/RESULTS.md). TAIL leaves the fold's end before the
# deadline.
TAIL_WINDOW, TAIL = 0.1, 0.8


def afford(problem: Problem, trial: optuna.Trial, params: Params,
           per_fold: float | None) -> Params:
    """``params`` with the epochs one fold can afford in ``per_fold`` seconds, recorded on
    ``trial`` when below its sampled cap; as sampled without a --timeout (or an allowance).

    Without a budget the sampled epochs stand, so a seed fixes the study's results unless the
    time cap (``training.candidate_seconds``) stops a fold; and the probe's few hundredths of a
    second would be a third of a tiny table's trial (``check_estimator`` fits 1000 of them)."""
    if per_fold is None or problem.deadline is None:
        return params
    if (seconds := _epoch_seconds(problem, params)) is None:
        return params
    return _record(trial, params, _affordable(params, per_fold, seconds))


def sized(problem: Problem, trial: optuna.Trial, params: Params, per_fold: float | None,
          tracker: Tracker) -> tuple[Params, float | None] | optuna.TrialPruned:
    """``params`` with the epochs its time affords (as ``afford``), and the seconds each of its
    folds may take: its share of the time left (``per_fold``), or late in the budget the rest
    of it (``tail``). When even that affords too few (``unaffordable``): ``trial`` recorded as
    pruned untrained, and the error that ends it."""
    if per_fold is None or problem.deadline is None or (
            seconds := _epoch_seconds(problem, params)) is None:
        return params, per_fold
    afforded = _affordable(params, per_fold, seconds)
    rest = tail(problem)
    if unaffordable(trial, params, afforded) and rest > per_fold:  # a late candidate
        afforded, per_fold = _affordable(params, rest, seconds), rest
    _record(trial, params, afforded)
    if (why := unaffordable(trial, params, afforded)) is None:
        return afforded, per_fold
    trial.set_user_attr("pruned", why)
    tracker.end_trial(trial.number, "PRUNED", tags={"pruned": why})
    return optuna.TrialPruned(why)


def tail(problem: Problem) -> float:
    """Seconds each fold of a candidate may take when the time left to the trials' deadline is
    under ``TAIL_WINDOW`` of the budget: ``TAIL`` of that time, over its folds (0 before)."""
    left = max(problem.deadline - time.time(), 0.0)
    if left > TAIL_WINDOW * float(problem.config.timeout or 0):
        return 0.0
    return left * TAIL / len(problem.folds)


def _epoch_seconds(problem: Problem, params: Params) -> float | None:
    """One epoch's predicted seconds on the first fold, with the margin; None when the probe
    fails (the fold's training meets the same error and records it)."""
    from autonn.training.timing import epoch_seconds  # torch: trained_params stays light

    try:
        return epoch_seconds(params, problem.folds[0], problem.metric,
                             problem.config.training.grad_clip) * MARGIN
    except Exception:  # noqa: BLE001 - the fold's training meets the same error and records it
        return None


def _affordable(params: Params, per_fold: float, seconds: float) -> Params:
    """``params`` with the epochs ``per_fold`` seconds buy at ``seconds`` each (themselves when
    those buy every sampled epoch)."""
    afforded = max(1, int(per_fold / max(seconds, 1e-9)))
    return params if afforded >= int(params["epochs"]) else {**params, "epochs": afforded}


def _record(trial: optuna.Trial, sampled: Params, afforded: Params) -> Params:
    """``afforded``, its epochs recorded on ``trial`` when its time bought fewer than
    ``sampled``."""
    if afforded is not sampled:
        trial.set_user_attr(AFFORDED, afforded["epochs"])
    return afforded


def unaffordable(trial: optuna.Trial, sampled: Params, afforded: Params) -> str | None:
    """Why ``trial`` is not trained (its time affords it fewer than ``MIN_EPOCHS`` of its
    ``sampled`` epochs, or than half of them when that is fewer, and the study has a finished
    trial to ship), or None."""
    want, can = int(sampled["epochs"]), int(afforded["epochs"])
    least = min(MIN_EPOCHS, -(-want // 2))  # a short schedule's half is most of a short one
    if can >= least or not trial.study.get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        return None
    return f"not trained: the time left affords {can} of its {want} epochs, fewer than {least}"


def trained_params(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The parameters ``trial`` trained with: as sampled, with the epochs its time afforded."""
    afforded = trial.user_attrs.get(AFFORDED)
    return dict(trial.params) if afforded is None else {**trial.params, "epochs": afforded}
