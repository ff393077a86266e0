"""Which trials are best. With one objective a study has one best trial; with several it has a
Pareto front (the trials no other trial beats on every objective). Everything that needs "the best
trial" asks ``leading_trial``: the best on the metric (always a Pareto member), so single- and
multi-objective studies read alike."""

from __future__ import annotations

from collections import Counter

import optuna
from optuna.trial import FrozenTrial, TrialState

from autonn.errors import StudyError
from autonn.search.deadline import PARTIAL, is_stopped

# Trials that count as done toward a study's --n-trials.
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# How trials are shown and counted: Optuna's states, with a FAIL the deadline caused as STOPPED
# and a COMPLETE it left with fewer folds than the study's as PARTIAL; WAITING trials (enqueued
# starts a timed-out search did not reach) run first on a resume.
SHOWN_STATES = ("COMPLETE", "PARTIAL", "PRUNED", "STOPPED", "FAIL", "RUNNING")


def state_of(trial: FrozenTrial) -> str:
    """The trial's state as autonn shows it: Optuna's, STOPPED for a trial the search's deadline
    cut short in its first fold, PARTIAL for one it left with only some folds finished (Optuna:
    COMPLETE, on those folds)."""
    if is_stopped(trial):
        return "STOPPED"
    partial = trial.state == TrialState.COMPLETE and PARTIAL in trial.user_attrs
    return "PARTIAL" if partial else trial.state.name


def state_counts(study: optuna.Study) -> dict[str, int]:
    """How many of the study's trials are in each state (``state_of``), WAITING included."""
    return dict(Counter(state_of(t) for t in study.get_trials(deepcopy=False)))


def objectives_of(study: optuna.Study) -> list[str]:
    """The study's objectives, as its user attributes record them."""
    value = study.user_attrs.get("objectives", "val_metric")
    return value.split(",") if isinstance(value, str) else list(value)  # a list before 0.2


def leading_trial(study: optuna.Study) -> FrozenTrial:
    """The completed trial with the best metric, a Pareto member (ValueError when none)."""
    if len(study.directions) == 1:
        return study.best_trial
    front = pareto_front(study)  # of trials tied on the metric, one no other beats
    if not front:
        raise ValueError("no completed trial")
    return front[0]


def leading_whole_trial(study: optuna.Study) -> FrozenTrial:
    """The leading trial among those that finished every fold: what a final model or an export
    trains; ``leading_trial`` itself when it did, or when no trial did (ValueError when none
    completed)."""
    lead = leading_trial(study)
    whole = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
             if PARTIAL not in t.user_attrs]
    if PARTIAL not in lead.user_attrs or not whole:
        return lead
    sign = -1 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1
    return min(whole, key=lambda t: (sign * t.values[0], t.number))


def best_trial(study: optuna.Study) -> FrozenTrial:
    """The study's best trial, or a StudyError naming the trial states it has."""
    try:
        return leading_trial(study)
    except ValueError:
        states = sorted({t.state.name for t in study.get_trials(deepcopy=False)})
        raise StudyError(f"study '{study.study_name}' has no completed trial "
                         f"(trial states: {', '.join(states) or 'none'}).") from None


def pareto_front(study: optuna.Study) -> list[FrozenTrial]:
    """The Pareto-optimal trials, best metric first (rank 1)."""
    return _ranked(study, study.best_trials)


def ranked_by_metric(study: optuna.Study) -> list[FrozenTrial]:
    """Completed trials, best metric first."""
    return _ranked(study, study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def _ranked(study: optuna.Study, trials: list) -> list[FrozenTrial]:
    sign = -1 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1
    return sorted(trials, key=lambda t: (sign * t.values[0], t.number))


def pick_pareto(study: optuna.Study, rank: int | None = None,
                max_params: int | None = None) -> FrozenTrial:
    """A Pareto member by rank (1 = best metric), or the best metric within ``max_params``.
    A single-objective study ranks all its completed trials by the metric."""
    front = pareto_front(study) if len(study.directions) > 1 else ranked_by_metric(study)
    if max_params is not None:
        fits = [t for t in front if t.user_attrs.get("n_params", float("inf")) <= max_params]
        if not fits:
            smallest = min(t.user_attrs.get("n_params", 0) for t in front) if front else None
            raise StudyError(f"study '{study.study_name}': no Pareto member has at most "
                             f"{max_params} parameters (the smallest has {smallest}).")
        front = fits
    rank = rank or 1
    if not 1 <= rank <= len(front):
        raise StudyError(f"study '{study.study_name}': Pareto rank {rank} does not exist; the "
                         f"front has {len(front)} member(s) (see `autonn trials --pareto`).")
    return front[rank - 1]


def n_trials_done(study: optuna.Study) -> int:
    """Finished trials: what ``--n-trials`` counts."""
    return sum(t.state in FINISHED for t in study.get_trials(deepcopy=False))


def remaining_trials(study: optuna.Study, n_trials: int) -> int:
    """How many trials are still to run for the study to hold ``n_trials`` finished ones."""
    return max(0, n_trials - n_trials_done(study))
