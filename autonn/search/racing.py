"""Racing over folds: a cross-validated candidate trains on its first fold, and on each next fold
only while it can still reach the top of the study.

Until ``pool`` candidates are fully evaluated (the ensemble's pool: the final model draws on the
best of them) every candidate runs all its folds. Afterwards, after each fold, a candidate goes on
only while its mean over the folds it has finished is at least as good as the ``pool``-th best
complete trial's mean over the same folds: a paired comparison on the same validation rows, so
fold-to-fold spread does not decide it. One that falls behind is pruned with its folds so far,
and the time it would have spent goes to new candidates (successive halving over folds, with the
threshold taken from the finished trials, as in racing methods such as F-race).

The race is the study's Optuna pruner (``FoldRace``): each fold's running mean is reported to
Optuna as a step past the epochs, and ``trial.should_prune()`` decides there, while the pruner
the config names (Hyperband, median, halving) keeps acting on the first fold's epochs.

Within a fold, training stops after its patience without improvement, or at a perfect score,
except on the fold the pruner watches (``early_stopping``).
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Container, Sequence
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from autonn.config import Range, SpaceConfig
from autonn.params import Params
from autonn.training.callbacks import EarlyStopping

if TYPE_CHECKING:
    from autonn.search.problem import Problem

FOLD_VALUES = "fold_values"  # user attr: each finished fold's best validation score


def epoch_cap(space: SpaceConfig) -> int:
    """The most epochs any of the space's trials trains: a fixed value, the largest choice, or
    the range's top (built-in and warm starts are clipped into the space)."""
    value = space.fixed.get("epochs", space.epochs)
    if isinstance(value, Range):
        return int(value.high)
    return int(max(value) if isinstance(value, list) else value)


class FoldRace(optuna.pruners.BasePruner):
    """A cross-validated study's pruner: ``epochs`` (the configured pruner) on the first fold's
    epoch steps, and the race over folds on the fold steps.

    After each fold a candidate reports the mean over the folds it has finished at step
    ``first_fold_step + k`` (k = folds finished - 1), just past the steps any epoch reaches, so
    Optuna's storage, its samplers (TPE ranks a pruned trial by its last step, then its value) and
    optuna-dashboard see how far each candidate got and how it scored there.
    """

    def __init__(self, epochs: optuna.pruners.BasePruner, first_fold_step: int, folds: int,
                 pool: int) -> None:
        self.epochs, self.first_fold_step = epochs, first_fold_step
        self.folds, self.pool = folds, max(pool, 1)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        if step < self.first_fold_step:
            return self.epochs.prune(self._epoch_view(study), trial)
        return self.behind(study, step, trial.intermediate_values[step]) is not None

    def _epoch_view(self, study: optuna.Study) -> Any:
        """The study as ``epochs`` reads it (the median and halving pruners compare values at
        the trial's own epoch step, which fold steps never share)."""
        return study

    def behind(self, study: optuna.Study, step: int, mean: float) -> str | None:
        """Why a candidate whose folds so far average ``mean`` (reported at fold ``step``) stops
        there, or None when it goes on (it is in reach of the ``pool`` best, or has no next
        fold)."""
        finished = step - self.first_fold_step + 1
        if finished >= self.folds:
            return None
        bar = self.threshold(study, finished)
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        if bar is None or (mean >= bar if maximize else mean <= bar):
            return None
        return (f"raced out after fold {finished} of {self.folds}: its mean {mean:.4g} is behind "
                f"{bar:.4g}, the {_ordinal(self.pool)} best complete trial's mean on the same "
                "folds")

    def threshold(self, study: optuna.Study, finished: int) -> float | None:
        """The mean over the first ``finished`` folds that a candidate must reach to go on: the
        ``pool``-th best among the study's fully evaluated trials (a paired comparison: the
        same folds' validation rows); None while fewer than ``pool`` are. Their fold values
        (``FOLD_VALUES``) are read, as studies made before the fold steps also hold them."""
        means = [statistics.fmean(values[:finished])
                 for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                 if len(values := t.user_attrs.get(FOLD_VALUES) or ()) == self.folds]
        if len(means) < self.pool:
            return None
        means.sort(reverse=study.direction == optuna.study.StudyDirection.MAXIMIZE)
        return means[self.pool - 1]


class HyperbandRace(FoldRace, optuna.pruners.HyperbandPruner):
    """``FoldRace`` around Hyperband. Optuna's samplers learn from a trial's own bracket only
    when the study's pruner is a ``HyperbandPruner`` (``optuna.pruners._filter_study``), so this
    one is, and hands the bracket questions to the Hyperband it wraps; that Hyperband reads the
    study without fold steps (it sizes its brackets from the complete trials' last step)."""

    def _epoch_view(self, study: optuna.Study) -> Any:
        return EpochSteps(study, self.first_fold_step)

    def _get_bracket_id(self, study: optuna.Study, trial: FrozenTrial) -> int:
        return self.epochs._get_bracket_id(study, trial)

    def _create_bracket_study(self, study: optuna.Study, bracket_id: int) -> optuna.Study:
        return self.epochs._create_bracket_study(study, bracket_id)


class EpochSteps:
    """The study as Hyperband sizes its brackets from it: every trial without its fold steps.
    (The bracket studies it then makes read the storage itself; the successive halving inside
    them keeps its rungs in system attributes and never reads another trial's steps.)"""

    def __init__(self, study: optuna.Study, first_fold_step: int) -> None:
        self._study, self._first_fold_step = study, first_fold_step

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()

    def get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None
                   ) -> list[FrozenTrial]:
        return [self._epochs_of(t) for t in self._study.get_trials(deepcopy, states)]

    def _epochs_of(self, trial: FrozenTrial) -> FrozenTrial:
        if trial.last_step is None or trial.last_step < self._first_fold_step:
            return trial
        trial = copy.copy(trial)  # the storage's own record stays as it is
        trial.intermediate_values = {step: value for step, value
                                     in trial.intermediate_values.items()
                                     if step < self._first_fold_step}
        return trial


def check_pruner(problem: Problem, study: optuna.Study) -> None:
    """Refuse, before any trial trains, a racing study whose pruner is not a ``FoldRace``: any
    other would take fold steps for epochs."""
    if races(problem) and not isinstance(study.pruner, FoldRace):
        raise TypeError("a cross-validated study races its folds through its pruner: create it "
                        "with autonn.search.study.create_study, or give it racing.study_pruner")


def race(trial: optuna.Trial, values: Sequence[float], next_fold: bool) -> str | None:
    """Report the mean of a candidate's finished folds (``values``) to Optuna at its fold step
    and, when a ``next_fold`` would follow, ask the study's ``FoldRace`` whether it should; why
    the candidate stops here, or None."""
    race_ = trial.study.pruner
    step = race_.first_fold_step + len(values) - 1
    mean = statistics.fmean(values)
    trial.report(mean, step)
    if not next_fold or not trial.should_prune():
        return None
    return race_.behind(trial.study, step, mean)  # the bar only rises: the reason still holds


def early_stopping(problem: Problem, params: Params, fold: int) -> EarlyStopping:
    """A fold's early stopping: after its patience without improvement, or at a perfect score,
    except on the fold the pruner watches, which runs its whole patience so that Optuna sees
    the curves it always saw (Hyperband sizes its brackets from the first finished curves)."""
    patience = problem.config.training.patience_for(params["epochs"])
    return EarlyStopping(patience, None if pruned_fold(problem, fold) else problem.metric.perfect)


def races(problem: Problem) -> bool:
    """Whether the study races its candidates over folds: it has several, and one objective."""
    return len(problem.folds) > 1 and len(problem.config.objectives) == 1


def study_pruner(problem: Problem, pruner: optuna.pruners.BasePruner
                 ) -> optuna.pruners.BasePruner:
    """The study's pruner: ``pruner`` on the first fold's epochs, inside the race over folds
    (``FoldRace``) when the study races."""
    if not races(problem):
        return pruner
    kind = HyperbandRace if isinstance(pruner, optuna.pruners.HyperbandPruner) else FoldRace
    return kind(pruner, epoch_cap(problem.config.space), len(problem.folds),
                problem.config.ensemble)


def pruned_fold(problem: Problem, fold: int) -> bool:
    """Whether the pruner watches ``fold``: the first, in a single-objective study (Optuna prunes
    those only)."""
    return fold == 0 and len(problem.config.objectives) == 1


def _ordinal(n: int) -> str:
    n = max(n, 1)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
