"""Running a study to an exact trial count, from any number of processes or machines.

Each worker claims its next trial under a lock shared by every worker of the study (a file lock
beside a journal or SQLite file, a PostgreSQL advisory lock): it counts the study's finished and
running trials and asks for a new one only while the total is short. So N workers finish exactly
the requested count, and a rerun of the same command finishes what an interruption left.

Every running trial records its owner (host:pid) and a heartbeat. A trial left RUNNING by a
process that died (a dead pid on this host, or a heartbeat older than ``HEARTBEAT_GRACE`` seconds
from another host) is marked FAIL by the next claim, handed to ``on_orphan`` (which ends its MLflow
run), and retried as a new trial with the same parameters, up to ``retries`` times.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from autonn.errors import StudyError, TrialStopped
from autonn.search.storage import DEFAULT_ROOT, JOURNAL_NAME, file_lock

HEARTBEAT_GRACE = 300.0  # seconds without a heartbeat before another host's trial counts as dead
# Trials that hold a place in the requested count while claiming: finished ones and those running.
HOLDING_A_PLACE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
_THREAD_LOCK = threading.Lock()


@contextlib.contextmanager
def claim_lock(storage: Any, study_name: str) -> Iterator[None]:
    """A lock every worker of ``study_name`` on ``storage`` (as given to ``open_storage``) shares."""
    if isinstance(storage, str) and storage.startswith("postgresql"):
        with _advisory_lock(storage, study_name):
            yield
        return
    if storage is None or isinstance(storage, str):
        path = Path(storage.removeprefix("sqlite:///")) if storage else DEFAULT_ROOT / JOURNAL_NAME
        with file_lock(path.with_name(path.name + ".claim")):
            yield
        return
    with _THREAD_LOCK:  # an in-memory storage lives in this process alone
        yield


_ENGINES: dict[str, Any] = {}


@contextlib.contextmanager
def _advisory_lock(url: str, study_name: str) -> Iterator[None]:
    import sqlalchemy

    engine = _ENGINES.get(url) or _ENGINES.setdefault(url, sqlalchemy.create_engine(url))
    key = zlib.crc32(f"autonn:{study_name}".encode())
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        try:
            yield
        finally:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})


def owner() -> str:
    """This process, as running trials record it."""
    return f"{socket.gethostname()}:{os.getpid()}"


Outcome = Any  # a value (or tuple of values), or the exception a trial ended with
BatchRunner = Callable[[list[optuna.Trial]], list[Outcome]]


def optimize_to_count(study: optuna.Study, objective: Callable[[optuna.Trial], float], n_trials: int,
                      *, storage: Any, deadline: float | None = None, catch: tuple = (),
                      callbacks: Sequence[Callable] = (), retries: int = 1,
                      max_failures: int | None = None,
                      on_orphan: Callable[[optuna.trial.FrozenTrial], None] = lambda t: None,
                      population: int = 1, run_batch: BatchRunner | None = None,
                      processes: int = 1, since: float | None = None) -> None:
    """Run trials until the study holds ``n_trials`` finished or running ones, or until
    ``deadline`` (a ``time.time()`` value shared by every process of the search): no trial is
    claimed after it.

    With ``run_batch`` and ``population`` > 1, up to ``population`` trials are claimed at once
    and ``run_batch`` trains them together, returning each one's outcome; with ``processes``
    sharing the study, a claim takes at most its share of the trials left, so that every process
    gets some. A trial the deadline stopped (``TrialStopped``) is not a failure of this process.
    No trial starts that cannot finish: once the time left is less than the quickest trial the
    search (begun at ``since``) has completed, no more are claimed.

    Raises:
        StudyError: ``max_failures`` trials in a row failed in this process.
    """
    failures = []
    while not _passed(deadline):
        with claim_lock(storage, study.study_name):
            if _passed(deadline):  # waiting for the lock can take a while with many workers
                return
            trials = study.get_trials(deepcopy=False)  # one read of the storage per claim
            if _too_late(deadline, trials, since):
                return
            orphans = [t for t in trials if t.state == TrialState.RUNNING and _orphaned(t)]
            _fail_orphans(study, orphans, on_orphan, retries)
            room = n_trials - (sum(t.state in HOLDING_A_PLACE for t in trials) - len(orphans))
            if room <= 0:
                return
            size = min(population, -(-room // processes)) if run_batch else 1  # ceil(room / n)
            batch = [_claim(study) for _ in range(min(room, size))]
        for frozen, outcome in _run_batch(study, batch, objective, run_batch, catch):
            failed = frozen.state == TrialState.FAIL and not isinstance(outcome, TrialStopped)
            failures = failures + [frozen] if failed else []
            if max_failures and len(failures) >= max_failures:
                reasons = "; ".join(f"trial {t.number}: "
                                    f"{t.user_attrs.get('fail_reason', 'unknown')}"
                                    for t in failures[-3:])
                raise StudyError(f"study '{study.study_name}' stopped after {len(failures)} "
                                 f"failed trials in a row ({reasons}). Finished trials are kept; "
                                 "fix the cause (see each run's traceback.txt) and run again to "
                                 "resume.")
            for callback in callbacks:
                callback(study, frozen)


def _passed(deadline: float | None) -> bool:
    return deadline is not None and time.time() >= deadline


def _too_late(deadline: float | None, trials: list[optuna.trial.FrozenTrial],
              since: float | None) -> bool:
    """Whether the time left before ``deadline`` is less than the quickest trial completed
    since ``since``: a trial started now could not finish."""
    if deadline is None or since is None:
        return False
    quickest = min((t.duration.total_seconds() for t in trials
                    if t.state == TrialState.COMPLETE and t.duration is not None
                    and t.datetime_start.timestamp() >= since), default=0.0)
    return deadline - time.time() < quickest


def _claim(study: optuna.Study) -> optuna.Trial:
    trial = study.ask()
    trial.set_user_attr("owner", owner())
    trial.set_user_attr("heartbeat", time.time())
    return trial


def _run_batch(study: optuna.Study, trials: list[optuna.Trial], objective: Callable,
               run_batch: BatchRunner | None, catch: tuple
               ) -> list[tuple[optuna.trial.FrozenTrial, Outcome]]:
    """Run the claimed trials (together when there are several) and tell the study each
    outcome; an interruption fails every one of them before it propagates."""
    if run_batch is None or len(trials) == 1:
        outcomes = [_outcome(study, objective, trials[0], catch)]
    else:
        try:
            outcomes = run_batch(trials)
        except BaseException:
            for t in trials:
                study.tell(t, state=TrialState.FAIL)
            raise
    return [(_tell(study, t, o, catch), o) for t, o in zip(trials, outcomes)]


def _outcome(study: optuna.Study, objective: Callable, trial: optuna.Trial, catch: tuple
             ) -> Outcome:
    try:
        return objective(trial)
    except (optuna.TrialPruned, *catch) as exc:
        return exc
    except BaseException:
        study.tell(trial, state=TrialState.FAIL)
        raise


def _tell(study: optuna.Study, trial: optuna.Trial, outcome: Outcome, catch: tuple
          ) -> optuna.trial.FrozenTrial:
    if isinstance(outcome, optuna.TrialPruned):
        return study.tell(trial, state=TrialState.PRUNED)
    if isinstance(outcome, BaseException):
        frozen = study.tell(trial, state=TrialState.FAIL)
        if not isinstance(outcome, catch):
            raise outcome
        return frozen
    return study.tell(trial, outcome)


def _fail_orphans(study: optuna.Study, orphans: list, on_orphan: Callable, retries: int) -> None:
    for t in orphans:
        storage = study._storage  # the public API cannot fail another process's trial
        storage.set_trial_user_attr(t._trial_id, "fail_reason", f"worker {t.user_attrs['owner']} died")
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        on_orphan(t)
        tries = t.user_attrs.get("retries", 0)
        if tries < retries:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number, "retries": tries + 1})


def _orphaned(t: optuna.trial.FrozenTrial) -> bool:
    if not str(t.user_attrs.get("owner", "")).rpartition(":")[2].isdigit():
        return False
    beat = float(t.user_attrs.get("heartbeat", time.time()))
    return not owner_alive(t.user_attrs["owner"], heartbeat=beat)


def owner_alive(name: str, heartbeat: float | None = None) -> bool:
    """Whether the process ``name`` (host:pid, see ``owner``) still runs: on this host, its pid;
    on another, a heartbeat within ``HEARTBEAT_GRACE`` seconds (without one: assumed alive)."""
    host, _, pid = str(name).rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        return _alive(int(pid))
    return heartbeat is None or time.time() - heartbeat <= HEARTBEAT_GRACE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
