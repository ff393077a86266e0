"""Running a study: warm starts first, trials to an exact count (in this process and any
workers), the best trial scored on the test split, and the tracker closed with the study's
artifacts, whatever way the search ends."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import optuna

from autonn.config import Config
from autonn.data.datasets import example_rows
from autonn.families import architecture
from autonn.metrics import is_better
from autonn.search.claims import optimize_to_count
from autonn.search.final import make_bundle, replay_best, test_score
from autonn.search.objective import make_objective
from autonn.search.problem import Problem, Winner
from autonn.search.ranking import leading_trial
from autonn.search.report import figures as report_figures
from autonn.search.report import pareto_csv, trials_csv
from autonn.search.signals import signals_interrupt
from autonn.search.study import create_study, study_settings
from autonn.search.warmstart import builtin_starts, enqueue, warm_starts
from autonn.search.workers import join_workers, start_workers, threads_per_worker
from autonn.tracking.tracker import NullTracker, Tracker


def run_search(problem: Problem, storage: Any = None, tracker: Tracker | None = None,
               callbacks: Sequence[Callable] = (), workers: int = 1
               ) -> tuple[optuna.Study, Winner | None]:
    """Run the study to ``n_trials`` finished trials (or the timeout) and score the winner on test.

    With ``workers`` > 1 the trials run in that many processes (``search.workers``); the best
    trial is then replayed here, with its seed, to score it and log its model.

    On Ctrl-C or SIGTERM the running trial ends FAIL (its run KILLED), finished trials stay in
    the storage, and the parent run is closed KILLED before the interruption propagates.
    """
    cfg, tracker = problem.config, tracker or NullTracker()
    study = create_study(problem, storage)
    tracker.start_study(study.study_name, study_settings(problem, storage))
    trials_before = len(study.get_trials(deepcopy=False))
    if not trials_before:
        starts = warm_starts(problem, storage, (tracker.spawn_args() or (None,))[0])
        if cfg.builtin_starts and not cfg.init_from:
            starts += builtin_starts(cfg.space)
        enqueue(study, starts[:cfg.n_trials])  # no start is left waiting after the study
    best, status = _Best(problem, tracker), "FAILED"
    try:
        with signals_interrupt(), _helpers(cfg, workers, storage, tracker) as helpers:
            optimize_to_count(study, make_objective(problem, tracker, best.keep), cfg.n_trials,
                              storage=storage, timeout=cfg.timeout, catch=(Exception,),
                              callbacks=[best.announce, *callbacks], retries=cfg.retries,
                              max_failures=cfg.max_failures, on_orphan=tracker.fail_run)
            _warn_if_died(join_workers(helpers))
        if len(study.get_trials(deepcopy=False)) > trials_before:
            best.rebuild_if_elsewhere(study)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        winner = best.winner(study)
        if winner is not None:
            winner.test_score = test_score(problem, winner)
            if winner.test_score is not None:
                study.set_user_attr("test_score", winner.test_score)
        _close_study(study, problem, tracker, status, winner)
    return study, winner


class _Best:
    """The best network trained in this process, announced to the tracker when it leads."""

    def __init__(self, problem: Problem, tracker: Tracker) -> None:
        self.problem, self.tracker, self.best = problem, tracker, None

    def keep(self, w: Winner) -> None:
        if self.best is None or is_better(w.value, self.best.value, self.problem.metric.direction):
            self.best = w

    def announce(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        w = self.best
        if w is not None and w.trial_number == trial.number and _leads(study, w):
            arch = architecture(w.params, self.problem.data.x_train.shape[1], w.head.n_outputs)
            self.tracker.new_best(w.trial_number, self.problem.metric_name, w.value, w.params,
                                  arch)

    def rebuild_if_elsewhere(self, study: optuna.Study) -> None:
        """The best trial ran in another worker or an earlier session: rebuild it here."""
        if self.best is not None and _leads(study, self.best):
            return
        self.best = replay_best(self.problem, study)
        if self.best is not None:
            self.announce(study, leading_trial(study))

    def winner(self, study: optuna.Study) -> Winner | None:
        return self.best if self.best is not None and _leads(study, self.best) else None


def _warn_if_died(died: list[str]) -> None:
    if died:
        warnings.warn(f"worker(s) died: {', '.join(died)}; their trials were failed and "
                      "retried by the others.", RuntimeWarning, stacklevel=3)


def _close_study(study: optuna.Study, problem: Problem, tracker: Tracker, status: str,
                 winner: Winner | None) -> None:
    if not tracker.records:
        tracker.end_study(status)
        return
    import matplotlib.pyplot as plt

    finished = any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    figures = report_figures(study) if finished and status == "FINISHED" else {}
    model = example = None
    metrics = {}
    if winner is not None:
        metrics[f"test_{problem.metric_name}"] = winner.test_score
        if status == "FINISHED":
            model = make_bundle(problem, winner, {
                "study": study.study_name, "trial": winner.trial_number,
                "metric": problem.metric_name, "value": winner.value,
                "test_score": winner.test_score, "retrained": False})
            example = example_rows(problem.dataset, 5)
    texts = {"trials.csv": trials_csv(study)}
    if len(study.directions) > 1 and finished:
        texts["pareto.csv"] = pareto_csv(study)
    try:
        tracker.end_study(status, metrics=metrics, texts=texts, figures=figures, model=model,
                          example=example)
    finally:
        plt.close("all")


@contextlib.contextmanager
def _helpers(cfg: Config, workers: int, storage: Any, tracker: Tracker) -> Iterator[list]:
    """Worker processes 1..N-1 beside this one (worker 0), with the CPU threads shared out."""
    if workers <= 1:
        yield []
        return
    import torch

    processes = start_workers(cfg, range(1, workers), workers, storage, tracker.spawn_args())
    threads = torch.get_num_threads()
    torch.set_num_threads(threads_per_worker(workers))
    try:
        yield processes
    except BaseException:
        join_workers(processes, interrupted=True)
        raise
    finally:
        torch.set_num_threads(threads)


def _leads(study: optuna.Study, winner: Winner) -> bool:
    """Whether ``winner`` is the study's leading trial (others may have run elsewhere)."""
    try:
        return leading_trial(study).number == winner.trial_number
    except ValueError:
        return False
