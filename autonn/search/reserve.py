"""The refit's reserve, handed back to the trials where the final model needs less of it.

A one-split search keeps a share of its budget (``deadline.REFIT_SHARE``) to refit its final
model on every non-test row, sized before any trial has run. When the trials reach their
deadline, the trials the final model would ship are known, and so is their refit's cost
(``final.refit_due``); a share of the part of the reserve it leaves unused goes back to the
trials (``deadline.extended_deadline``), which run on in this process; at that later deadline
the same is weighed again (``run.run_search`` asks until nothing more goes back).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import optuna

from autonn.search.claims import HOLDING_A_PLACE
from autonn.search.deadline import extended_deadline, move_deadline
from autonn.search.final import refit_due, refits
from autonn.search.problem import Problem, Winner
from autonn.search.ranking import leading_whole_trial


def reclaim(study: optuna.Study, problem: Problem, storage: Any, winners: list[Winner],
            until: float | None, on_stage: Callable[[optuna.Study, str], None]) -> bool:
    """Whether the trials go on: they did not end by their count, the final model built from
    ``winners`` (the study's leader among them: no replay to time) is refitted, and its refit
    leaves part of the reserve unused before ``until``. If so, ``problem.deadline`` moves to
    the later one, and so does the study's record of it where this search set it."""
    cfg, now = problem.config, time.time()
    if (problem.deadline is None or not winners or not refits(len(problem.folds), cfg.refit)
            or _counted_out(study, cfg.n_trials) or not _leader_at_hand(study, winners)):
        return False
    need = refit_due(problem, winners, cfg.ensemble, cfg.refit)
    later = extended_deadline(until, need, now)
    if later is None or later <= problem.deadline:  # the trials ended early: none sooner
        return False
    on_stage(study, f"The final model's refit needs about {need:.0f} s of the {until - now:.0f} s "
                    f"kept for it: the trials go on for {later - now:.0f} s more ...")
    problem.deadline = later
    move_deadline(study, later, storage)
    return True


def _leader_at_hand(study: optuna.Study, winners: list[Winner]) -> bool:
    """Whether the study's leading trial is among ``winners`` (else the final model trains it
    again first, ``run._Kept.candidates``, in time the refit's estimate does not hold)."""
    try:
        leader = leading_whole_trial(study).number
    except ValueError:
        return False
    return any(w.trial_number == leader for w in winners)


def _counted_out(study: optuna.Study, n_trials: int) -> bool:
    """Whether the study holds its ``n_trials`` (the trials ended by their count)."""
    return sum(t.state in HOLDING_A_PLACE for t in study.get_trials(deepcopy=False)) >= n_trials
