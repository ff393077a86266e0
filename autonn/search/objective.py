"""The Optuna objective of trials trained one at a time: sample the trial's parameters
(``autonn.space``), then run the trial lifecycle (``search.lifecycle``) with the core's fit."""

from __future__ import annotations

from collections.abc import Callable

import optuna

from autonn.search.lifecycle import run_trials
from autonn.search.problem import Problem, Winner
from autonn.space import suggest
from autonn.tracking.tracker import Tracker
from autonn.training.loop import fit_each


def make_objective(problem: Problem, tracker: Tracker, keep: Callable[[Winner], None]
                   ) -> Callable[[optuna.Trial], float | tuple[float, ...]]:
    """The objective of ``problem``'s study; ``keep`` receives every completed trial's networks
    and out-of-training predictions. A trial that does not complete raises what ended it
    (``optuna.TrialPruned``, ``TrialStopped``, its error)."""

    def objective(trial: optuna.Trial) -> float | tuple[float, ...]:
        params = suggest(trial, problem.config.space)
        outcome = run_trials(problem, [trial], [params], tracker, keep, fit_each)[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return objective
