"""Epochs from the time a candidate can afford.

Under a --timeout, a candidate's folds get a time allowance (its share of the time left).
Before its first fold trains, a few timed steps predict its epoch's seconds
(``training.timing``); when the allowance buys fewer epochs than it sampled, it trains that
many instead, and its learning-rate schedule and patience span them: a whole short schedule,
not the start of a long one cut by the clock. The time cap stays as the safety net for a
prediction that was short.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import optuna

from autonn.params import Params

if TYPE_CHECKING:  # torch: the study commands read trained_params without it
    from autonn.search.problem import Problem

AFFORDED = "afforded_epochs"  # user attr: the epochs a candidate trained, when below its sampled cap
MARGIN = 1.1  # predicted epochs run this much longer in training (the permutation, the loop)


def afford(problem: Problem, trial: optuna.Trial, params: Params,
           per_fold: float | None) -> Params:
    """``params`` with the epochs one fold can afford in ``per_fold`` seconds, recorded on
    ``trial`` when below its sampled cap; as sampled without a --timeout (or an allowance).

    Without a budget the sampled epochs stand, so a seed fixes the study's results unless the
    time cap (``training.candidate_seconds``) stops a fold; and the probe's few hundredths of a
    second would be a third of a tiny table's trial (``check_estimator`` fits 1000 of them)."""
    if per_fold is None or problem.deadline is None:
        return params
    from autonn.training.timing import epoch_seconds  # torch: trained_params stays light

    try:
        seconds = epoch_seconds(params, problem.folds[0], problem.metric,
                                problem.config.training.grad_clip) * MARGIN
    except Exception:  # noqa: BLE001 - the fold's training meets the same error and records it
        return params
    afforded = max(1, int(per_fold / max(seconds, 1e-9)))
    if afforded >= int(params["epochs"]):
        return params
    trial.set_user_attr(AFFORDED, afforded)
    return {**params, "epochs": afforded}


def trained_params(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The parameters ``trial`` trained with: as sampled, with the epochs its time afforded."""
    afforded = trial.user_attrs.get(AFFORDED)
    return dict(trial.params) if afforded is None else {**trial.params, "epochs": afforded}
