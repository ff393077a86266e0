"""Running a study: warm starts first, trials to an exact count (in this process and any
workers), the best trial scored on the test split, and the tracker closed with the study's
artifacts, whatever way the search ends."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import optuna

from autonn.data.datasets import example_rows, example_to_json
from autonn.export import state_dict
from autonn.export.bundle import Bundle
from autonn.export.staging import staged
from autonn.families import architecture
from autonn.search.batching import populations
from autonn.search.claims import optimize_to_count
from autonn.search.deadline import (
    final_deadline,
    fix_deadline,
    release_deadline,
    trials_deadline,
)
from autonn.search.final import FinalModel, finish, make_bundle, refits, replay
from autonn.search.handoff import Best, collect, unpack
from autonn.search.objective import make_objective
from autonn.search.problem import Problem, Winner
from autonn.search.ranking import leading_trial, leading_whole_trial
from autonn.search.report import figures as report_figures
from autonn.search.report import pareto_csv, trials_csv
from autonn.search.reserve import reclaim
from autonn.search.signals import signals_interrupt
from autonn.search.storage import example_path, final_model_path
from autonn.search.study import create_study, study_settings
from autonn.search.warmstart import builtin_starts, enqueue, warm_starts
from autonn.search.worker_process import threads_per_worker
from autonn.search.workers import Spawned, join_workers, release, reuse_or_spawn
from autonn.tracking.tracker import NullTracker, Tracker

KEPT = 20  # completed trials whose networks stay in memory as candidates for the final model
PLOT_SECONDS = 3.0  # Optuna's plots of a study (parameter importances fit a forest) on 2 cores


Stage = Callable[[optuna.Study, str], None]  # told what the search does after its trials


def run_search(problem: Problem, storage: Any = None, tracker: Tracker | None = None,
               callbacks: Sequence[Callable] = (), workers: int = 1,
               on_stage: Stage = lambda study, text: None, started: float | None = None,
               spawned: Spawned | None = None) -> tuple[optuna.Study, FinalModel | None]:
    """Run the study to ``n_trials`` finished trials (or the timeout), then build the final model
    (``search.final``), score it on the test split, save it and log it. A search that completed
    no new trial keeps the last final model and builds none.

    With ``workers`` > 1 the trials run in that many processes (``search.workers``; those
    ``spawned`` already where they are as many), which hand their best trials' networks over as
    they end (``search.handoff``); a best trial whose networks are not at hand (an earlier
    session's, another machine's) is replayed here, with its seed. ``on_stage`` hears of each
    step after the trials that can take a while (waiting, replaying, building, logging).

    ``timeout`` bounds the whole search from ``started`` (``time.time()``, default now): trials
    end in time for the final model, its refit's share (``search.reserve``) and tracking.

    On Ctrl-C or SIGTERM the running trial ends FAIL (its run KILLED), finished trials stay in
    the storage, and the parent run is closed KILLED before the interruption propagates."""
    cfg, tracker = problem.config, tracker or NullTracker()
    started = time.time() if started is None else started
    budget_end = started + cfg.timeout if cfg.timeout else None
    study = create_study(problem, storage)
    tracker.start_study(study.study_name, study_settings(problem, storage))
    trials_before = study.get_trials(deepcopy=False)  # anything new to ship is judged by it
    if not trials_before:  # a new study runs its warm and built-in starts first
        _enqueue_starts(study, problem, storage, tracker)
    kept, status, final, bundle = _Kept(problem, tracker, on_stage), "FAILED", None, None
    until = final_deadline(budget_end, tracker.records)  # scoring, saving, tracking after it
    try:
        problem.deadline = fix_deadline(study, trials_deadline(  # before any worker starts
            started, cfg.timeout, tracker.records, refits(len(problem.folds), cfg.refit)), storage)
        _run_trials(study, problem, storage, tracker, kept, callbacks, workers, on_stage, started,
                    spawned)
        _spare_rounds(study, problem, storage, tracker, kept, callbacks, on_stage, started, until)
        if _completed_any(study, trials_before):  # else the last final model stands
            final = _final_model(study, problem, kept, on_stage, until)
            bundle = None if final is None else _save(study, problem, final, storage)
        status = "FINISHED"
    except KeyboardInterrupt:  # the parent run ends KILLED, then the interruption goes on up
        status = "KILLED"
        raise
    finally:
        with contextlib.suppress(Exception):  # the study's run is closed whatever happens here
            release_deadline(study, problem.deadline)
        changed = len(study.get_trials(deepcopy=False)) > len(trials_before)
        _close_study(study, problem, tracker, status, final, bundle, changed, on_stage,
                     budget_end)
    return study, final


def _run_trials(study: optuna.Study, problem: Problem, storage: Any, tracker: Tracker,
                kept: _Kept, callbacks: Sequence[Callable], workers: int, on_stage: Stage,
                started: float, spawned: Spawned | None = None) -> None:
    """The trials, in this process and its workers, to the count or the deadline."""
    cfg = problem.config
    with signals_interrupt(), _helpers(problem, workers, storage, tracker, started, spawned) as (
            helpers, readers):
        optimize_to_count(study, make_objective(problem, tracker, kept.keep), cfg.n_trials,
                          storage=storage, deadline=problem.deadline, catch=(Exception,),
                          callbacks=[kept.announce, *callbacks], retries=cfg.retries,
                          max_failures=cfg.max_failures, on_orphan=tracker.fail_run,
                          processes=max(1, workers), since=started,
                          **populations(problem, tracker, kept.keep))
        if any(p.is_alive() for p in helpers):
            on_stage(study, "Waiting for the other workers to finish their trials ...")
        if helpers:  # their best trials' networks: the final model need not train them again
            for winner in unpack(problem, collect(readers)):
                kept.keep(winner)
        if died := join_workers(helpers):
            warnings.warn(f"worker(s) died: {', '.join(died)}; their trials were failed and "
                          "retried by the others.", RuntimeWarning, stacklevel=2)


def _spare_rounds(study: optuna.Study, problem: Problem, storage: Any, tracker: Tracker,
                  kept: _Kept, callbacks: Sequence[Callable], on_stage: Stage, started: float,
                  until: float | None) -> None:
    """Trials in the refit's spare (``reserve.reclaim``), round by round, until none is left or
    a round starts no trial (its window fitted none; the next would be shorter still)."""
    while True:
        with _alone(problem):  # the refit's cost is timed on the threads the refit will take
            if not reclaim(study, problem, storage, kept.winners, until, on_stage):
                return
        before = len(study.get_trials(deepcopy=False))
        _run_trials(study, problem, storage, tracker, kept, callbacks, 1, on_stage, started)
        if len(study.get_trials(deepcopy=False)) == before:
            return


def _final_model(study: optuna.Study, problem: Problem, kept: _Kept, on_stage: Stage,
                 until: float | None) -> FinalModel | None:
    """The final model from the trials kept (and the leader, replayed if it fits ``until``);
    None when no trial is at hand in time."""
    cfg = problem.config
    with _alone(problem):  # a replay or a refit trains on the threads a lone search takes
        candidates = kept.candidates(study, until)
        if not candidates:
            return None
        on_stage(study, "Building the final model ...")
        final = finish(problem, candidates, cfg.ensemble, cfg.refit, until=until)
    if final.refit_skipped:
        which = ", ".join(str(n) for n in final.refit_skipped)
        on_stage(study, f"No time left in the budget to refit trial(s) {which}: the final model "
                        "ships their networks as they trained.")
    return final


def _enqueue_starts(study: optuna.Study, problem: Problem, storage: Any, tracker: Tracker
                    ) -> None:
    """A new study's first trials: earlier studies' best (warm starts), then the built-ins."""
    cfg = problem.config
    starts = warm_starts(problem, storage, tracker.find_run)
    if cfg.builtin_starts and not cfg.init_from:
        starts += builtin_starts(cfg.space)
    enqueue(study, starts[:cfg.n_trials])  # no more starts than the study runs trials


def _completed_any(study: optuna.Study, before: list[optuna.trial.FrozenTrial]) -> bool:
    """Whether this search completed a trial (else the last final model stands)."""
    old = {t.number for t in before if t.state == optuna.trial.TrialState.COMPLETE}
    return any(t.state == optuna.trial.TrialState.COMPLETE and t.number not in old
               for t in study.get_trials(deepcopy=False))


class _Kept(Best):
    """The ``KEPT`` best completed trials trained in this process or handed over by its
    workers, announced to the tracker as each of its own takes the lead."""

    def __init__(self, problem: Problem, tracker: Tracker, on_stage: Stage) -> None:
        super().__init__(problem.metric.direction, KEPT)
        self.problem, self.tracker, self.on_stage = problem, tracker, on_stage

    def announce(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        w = next((w for w in self.winners if w.trial_number == trial.number), None)
        if w is not None and _leads(study, w):
            arch = architecture(w.params, self.problem.data.x_train.shape[1], w.head.n_outputs)
            self.tracker.new_best(w.trial_number, self.problem.metric_name, w.value, w.params,
                                  arch)

    def candidates(self, study: optuna.Study, until: float | None = None) -> list[Winner]:
        """The kept trials, with the study's leader (among trials that finished every fold, if
        any did) replayed here when it ran elsewhere (another worker, an earlier session),
        unless the replay cannot end by ``until`` and some trial is kept already."""
        try:
            leader = leading_whole_trial(study)
        except ValueError:
            return []
        took = leader.duration.total_seconds() if leader.duration else 0.0
        mine = any(w.trial_number == leader.number for w in self.winners)
        if not mine and until is not None and time.time() + took > until:
            if not self.winners:
                self.on_stage(study, f"No time left in the budget to train trial "
                                     f"{leader.number} again here (it ran in another process): "
                                     "no new final model; the last one stands.")
            return self.winners
        if not mine:
            self.on_stage(study, f"Training trial {leader.number} again, the best, which ran in "
                                 "another process: the final model needs its networks, about "
                                 f"{took:.0f} s ...")
            self.keep(replay(self.problem, leader))
            self.announce(study, leader)
        return self.winners


def _save(study: optuna.Study, problem: Problem, final: FinalModel, storage: Any) -> Bundle:
    """Record the final model's test score on the study and save its bundle beside the study,
    with a few raw rows as its input example (a study in memory only keeps no file)."""
    if final.test_score is not None:
        study.set_user_attr("test_score", final.test_score)
    bundle = make_bundle(problem, final, {
        "study": study.study_name, "trial": final.trial_number, "metric": problem.metric_name,
        "value": final.value, "test_score": final.test_score, "refit": final.refit,
        "refit_skipped": final.refit_skipped,  # due, but the budget had no time for them
        "trials": {str(k): v for k, v in final.trials.items()},
        "selection_score": final.selection_score})
    path = final_model_path(storage, study.study_name)
    if path is not None:
        with staged(path) as private:
            state_dict.write(bundle, private)
        with staged(example_path(storage, study.study_name)) as private:
            private.write_text(example_to_json(example_rows(problem.dataset, 5)))
    return bundle


def _close_study(study: optuna.Study, problem: Problem, tracker: Tracker, status: str,
                 final: FinalModel | None, bundle: Bundle | None, changed: bool,
                 on_stage: Stage, until: float | None) -> None:
    """End the study's tracking run, with its tables and plots when its trials ``changed``
    (the plots only while the budget, ending ``until``, has time for them)."""
    if not tracker.records or not changed:
        tracker.end_study(status)
        return
    on_stage(study, "Writing the study to MLflow ...")
    import matplotlib.pyplot as plt

    finished = any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    in_time = until is None or time.time() + PLOT_SECONDS <= until
    figures = report_figures(study) if finished and status == "FINISHED" and in_time else {}
    metrics = {} if final is None else {f"test_{problem.metric_name}": final.test_score}
    example = example_rows(problem.dataset, 5) if bundle is not None else None
    texts = {"trials.csv": trials_csv(study)}
    if len(study.directions) > 1 and finished:
        texts["pareto.csv"] = pareto_csv(study)
    try:
        tracker.end_study(status, metrics=metrics, texts=texts, figures=figures, model=bundle,
                          example=example)
    finally:
        plt.close("all")


@contextlib.contextmanager
def _helpers(problem: Problem, workers: int, storage: Any, tracker: Tracker, since: float,
             spawned: Spawned | None) -> Iterator[tuple[list, Any]]:
    """Worker processes 1..N-1 beside this one (worker 0), with the CPU threads shared out and
    the search's deadline handed to each (``spawned`` ones where they are as many); and the
    pipes they send their best networks on. A lone process takes the threads that pay on this
    table and machine (``training.threads``)."""
    from autonn.training.threads import torch_threads  # torch: training

    spawned = reuse_or_spawn(spawned, problem.config, workers, storage, tracker.records)
    if spawned is None:
        with _alone(problem):
            yield [], None
        return
    try:
        processes, readers = release(spawned, problem.config, tracker.spawn_args(),
                                     problem.deadline, since)
        # this process is worker 0: it takes its share of the cores like every other worker
        with torch_threads(threads_per_worker(workers)):
            yield processes, readers
    except BaseException:  # from the go on, however early: the workers stop with this process
        join_workers(spawned.processes, interrupted=True)
        raise


def _alone(problem: Problem) -> contextlib.AbstractContextManager:
    """torch's threads for this process training alone on ``problem``'s table (the trials of
    a one-worker search, a final model once workers ended): ``training.threads``."""
    from autonn.training.threads import lone_threads, torch_threads  # torch: training

    rows, columns = problem.data.x_train.shape[0], problem.data.x_train[0].numel()
    return torch_threads(lone_threads(rows * columns))


def _leads(study: optuna.Study, winner: Winner) -> bool:
    """Whether ``winner`` is the study's leading trial (others may have run elsewhere)."""
    try:
        return leading_trial(study).number == winner.trial_number
    except ValueError:
        return False
