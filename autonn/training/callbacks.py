"""Epoch-end callbacks for ``train.fit``: early stopping, Optuna pruning, the search's time
budget, a candidate's share of it and a heartbeat."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from autonn.training.loop import History


class EarlyStopping:
    """Stop when the validation score has not improved for ``patience`` epochs, or once it is
    ``perfect`` (the metric's ceiling, as accuracy 1.0): no later epoch can beat it, so the best
    epoch and its weights are final (on a small table's folds, a fit ``patience`` epochs
    shorter that keeps the same network)."""

    PERFECT = "perfect_score"

    def __init__(self, patience: int, perfect: float | None = None) -> None:
        self.patience, self.perfect = patience, perfect

    def on_epoch_end(self, epoch: int, history: History) -> str | None:
        if history.best_value == self.perfect:
            return self.PERFECT
        return "early_stopping" if epoch - history.best_epoch >= self.patience else None


class Pruning:
    """Report each epoch's score to an Optuna trial and stop when its pruner says so.

    Duck-typed on ``trial.report`` and ``trial.should_prune``: nothing here imports Optuna.
    """

    REASON = "pruned"

    def __init__(self, trial: Any) -> None:
        self.trial = trial
        self.pruned_epoch: int | None = None

    def on_epoch_end(self, epoch: int, history: History) -> str | None:
        self.trial.report(history.val_metric[-1], epoch)
        if self.trial.should_prune():
            self.pruned_epoch = epoch
            return self.REASON
        return None


class Deadline:
    """Stop when the search's time budget is spent; a fold whose last epoch (of ``epochs``) ends
    after the deadline has finished. Also judge whether the rest of the trial can end before
    it: at least ``later`` epochs are still to come after this fold (the later folds' least), at
    this fold's measured seconds per epoch (later folds with a time cap take at most
    ``later_at_most`` seconds). Where they cannot, this fold is the trial's last
    (``last_fold``): it goes on to its own end, and the trial counts the folds it finished
    (``search.lifecycle``). The rate is measured once two epochs after the first have run (the
    first pays one-off costs)."""

    REASON = "deadline"

    def __init__(self, at: float | None, epochs: int | None = None, later: int = 0,
                 later_at_most: float | None = None) -> None:
        self.at = at  # a time.time() value (the same on every process of the search), or None
        self.epochs, self.later = epochs, later
        self.later_at_most = later_at_most  # seconds the later folds take at most (time caps)
        self.warm: float | None = None  # when the first epoch ended (it pays one-off costs)
        self.last_fold = False  # the later folds cannot end before the deadline

    def passed(self) -> bool:
        return self.at is not None and time.time() >= self.at

    def on_epoch_end(self, epoch: int, history: History) -> str | None:
        if self.at is None:
            return None
        now = time.time()
        last = self.epochs is not None and epoch + 1 >= self.epochs
        if epoch == 0:
            self.warm = now
        if self.later > 0 and epoch >= 2 and not self.last_fold:  # rate: epochs after the 1st
            later = self.later * (now - self.warm) / epoch
            if self.later_at_most is not None:
                later = min(later, self.later_at_most)
            self.last_fold = now + later > self.at
        return self.REASON if now >= self.at and not last else None


class TimeCap:
    """Stop a fold at its best epoch so far once one more epoch, at this fold's measured seconds
    per epoch, would end more than ``seconds`` after its first epoch ended (the candidate's share
    of the time left). The clock starts with the fold's own first epoch, not when the callback
    was made: a population member waits for the packs trained before it. The fold has
    finished, as with early stopping; its epoch count is recorded so that a replay trains the
    same network. The learning-rate schedule keeps its horizon (the epochs the candidate
    was sized to, ``search.sizing``)."""

    REASON = "time_cap"

    def __init__(self, seconds: float, clock: Callable[[], float] = time.time,
                 shared: bool = False) -> None:
        self.seconds, self.clock = seconds, clock
        # a share of a deadline's time left, which a population's packs trained one after
        # another split between them (not a fixed allowance: each candidate keeps all of it)
        self.shared = shared
        self.first: float | None = None  # when the first epoch ended

    def on_epoch_end(self, epoch: int, history: History) -> str | None:
        now = self.clock()
        if self.first is None:
            self.first = now
            return None
        per_epoch = (now - self.first) / epoch  # the epochs after the first
        return self.REASON if now + per_epoch > self.first + self.seconds else None


class Heartbeat:
    """Record on the trial, at most every ``every`` seconds, that its process is alive."""

    def __init__(self, trial: Any, every: float = 10.0) -> None:
        self.trial, self.every, self.last = trial, every, time.time()

    def on_epoch_end(self, epoch: int, history: History) -> str | None:
        self.beat()
        return None

    def beat(self) -> None:
        """Record the heartbeat if ``every`` seconds have passed since the last."""
        now = time.time()
        if now - self.last >= self.every:
            self.trial.set_user_attr("heartbeat", now)
            self.last = now
