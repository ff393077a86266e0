"""Racing over folds: a cross-validated candidate trains on its first fold, and on each next fold
only while it can still reach the top of the study.

Until ``pool`` candidates are fully evaluated (the ensemble's pool: the final model draws on the
best of them) every candidate runs all its folds. Afterwards, after each fold, a candidate goes on
only while its mean over the folds it has finished is at least as good as the ``pool``-th best
complete trial's mean over the same folds: a paired comparison on the same validation rows, so
fold-to-fold spread does not decide it. One that falls behind is pruned with its folds so far,
and the time it would have spent goes to new candidates (successive halving over folds, with the
threshold taken from the finished trials, as in racing methods such as F-race).

Within a fold, training stops after its patience without improvement, or at a perfect score,
except on the fold the pruner watches (``early_stopping``).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING

import optuna
from optuna.trial import TrialState

from autonn.params import Params
from autonn.training.callbacks import EarlyStopping

if TYPE_CHECKING:
    from autonn.search.problem import Problem

FOLD_VALUES = "fold_values"  # user attr: each finished fold's best validation score


def threshold(study: optuna.Study, folds: int, finished: int, pool: int,
              direction: str) -> float | None:
    """The mean over the first ``finished`` folds that a candidate must reach to go on: the
    ``pool``-th best among the study's fully evaluated trials (``folds`` fold values); None
    while fewer than ``pool`` are (every candidate then goes on)."""
    means = [statistics.fmean(values[:finished])
             for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
             if len(values := t.user_attrs.get(FOLD_VALUES) or ()) == folds]
    if len(means) < max(pool, 1):
        return None
    means.sort(reverse=direction == "maximize")
    return means[max(pool, 1) - 1]


def raced_out(study: optuna.Study, values: Sequence[float], folds: int, pool: int,
              direction: str) -> str | None:
    """Why a candidate whose first folds scored ``values`` stops here, or None when it goes on
    to its next fold (it is still in reach of the ``pool`` best, or it has no next fold)."""
    if len(values) >= folds:
        return None
    bar = threshold(study, folds, len(values), pool, direction)
    mean = statistics.fmean(values)
    if bar is None or (mean >= bar if direction == "maximize" else mean <= bar):
        return None
    return (f"raced out after fold {len(values)} of {folds}: its mean {mean:.4g} is behind "
            f"{bar:.4g}, the {_ordinal(pool)} best complete trial's mean on the same folds")


def early_stopping(problem: Problem, params: Params, fold: int) -> EarlyStopping:
    """A fold's early stopping: after its patience without improvement, or at a perfect score,
    except on the fold the pruner watches, which runs its whole patience so that Optuna sees
    the curves it always saw (Hyperband sizes its brackets from the first finished curves)."""
    patience = problem.config.training.patience_for(params["epochs"])
    return EarlyStopping(patience, None if pruned_fold(problem, fold) else problem.metric.perfect)


def pruned_fold(problem: Problem, fold: int) -> bool:
    """Whether the pruner watches ``fold``: the first, in a single-objective study (Optuna prunes
    those only)."""
    return fold == 0 and len(problem.config.objectives) == 1


def _ordinal(n: int) -> str:
    n = max(n, 1)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
