"""One deadline for a whole search.

``--timeout`` becomes an absolute wall-clock time, fixed once by the process that starts the
search and handed to its worker processes; another machine (or terminal) that joins the same
study while that search runs reads it from the study. No trial starts after it. A trial it cuts
short before it finished a fold is not a finished trial: it is recorded as stopped (Optuna
state FAIL, user attribute ``stopped``; its MLflow run KILLED, named ``trial-0007 stopped``), so
ranking, ``--n-trials``, the ensemble and the final model all skip it. One that finished k of
its n folds completes on those k (user attribute ``partial_folds``; the cut fold is dropped):
ranked on them, and in the final model only when no trial finished every fold.
"""

from __future__ import annotations

import time
from typing import Any

import optuna

from autonn.search.claims import claim_lock, owner, owner_alive
from autonn.search.storage import keep_attr, kept_attrs

# The last search's deadline, {"at": a time.time() value}, with "owner" (host:pid) while it runs
KEY = "autonn.deadline"
STOPPED = "stopped"  # the user attribute of a trial the deadline cut: its reason
PARTIAL = "partial_folds"  # user attr: the folds a trial finished, when the deadline left it k < n


def fix_deadline(study: optuna.Study, at: float | None, storage: Any) -> float | None:
    """The search's deadline for trials: when a search still runs on this study (another
    machine or terminal joining it), the earlier of its deadline and ``at`` (a ``time.time()``
    value; None: no budget of one's own); else ``at``, recorded for others to join."""
    with claim_lock(storage, study.study_name):
        held = kept_attrs(study).get(KEY)
        if held and held.get("owner") and held["at"] > time.time() and owner_alive(held["owner"]):
            return float(held["at"]) if at is None else min(float(held["at"]), at)
        if at is not None:
            keep_attr(study, KEY, {"at": at, "owner": owner()})
        return at


def release_deadline(study: optuna.Study, at: float | None) -> None:
    """Mark this search's deadline as ended (no later search joins it; each gets its own)."""
    if at is not None and (kept_attrs(study).get(KEY) or {}).get("owner") == owner():
        keep_attr(study, KEY, {"at": at})


def last_deadline(study: optuna.Study) -> float | None:
    """The deadline of the study's latest search with a time budget (None: none had one)."""
    return (kept_attrs(study).get(KEY) or {}).get("at")


# What the work after the trials (replaying a leader, the final model, its test score, saving,
# tracking) is given out of a budget: FINISH_SECONDS, plus FINISH_SHARE of it, plus
# TRACKING_SECONDS when a tracker records (MLflow logs the study's plots and model: 2-4 s on 2
# cores). A refitting search whose leader is at hand (no replay) gives FINISH_SHARE back with
# the refit's spare (``extended_deadline``). Each finishing step also checks the clock and is
# skipped (a replay, a refit, the plots) when it cannot end in time, so the whole command holds
# its --timeout.
FINISH_SECONDS, FINISH_SHARE, TRACKING_SECONDS = 2.0, 0.03, 3.0
# A search whose final model is refitted (one split) also keeps REFIT_SHARE of its budget for
# the refit, which trains the best trials again on 4/3 of their rows. A candidate may take a
# quarter of the time left when it starts (training.candidate_share's default), so with the
# default 3:1 split this reserve refits the best even when it is the largest one the search
# could train (0.25 x 0.72 T x 4/3 x 1.1 = 0.26 T, against 0.28 T). Without it the refit never
# fitted a budget, and the networks shipped as trained on three quarters of the rows: on
# grants a refit lifted the test accuracy of a 60 s search from 0.876 to 0.890
# (benchmarks/RESULTS.md).
REFIT_SHARE = 0.25


def trials_deadline(started: float, timeout: float | None, tracking: bool,
                    refit: bool = False) -> float | None:
    """When trials must end for a search begun at ``started`` (``time.time()``) to end by
    ``started + timeout``: the budget less what finishing needs, and the refit's share when
    the final model is ``refit`` (None: no budget)."""
    if not timeout:
        return None
    reserve = FINISH_SECONDS + (FINISH_SHARE + (REFIT_SHARE if refit else 0.0)) * timeout
    reserve += TRACKING_SECONDS if tracking else 0.0
    return started + max(timeout - reserve, 0.5 * timeout)


# The refit's reserve is sized before any trial has run. Once the trials reach their deadline,
# the final model they give is known, and its refit's cost with it (predicted from the chosen
# trials' own training passes, ``final.refit_seconds``): what the reserve holds beyond that cost
# x REFIT_MARGIN is the spare. SPARE_TO_TRIALS of it goes back to the trials; the rest refits a
# trial of that extra time that joins the ensemble, even one that took TAIL (0.8) of it
# (``sizing.tail``): 0.8 x 4/3 rows x MARGIN 1.1 = 1.17 x the extra time <= 0.55 / 0.45. When
# the trials reach the later deadline the spare is weighed again, with the trials that joined,
# until less than MIN_EXTRA seconds would go back. The prediction came within 0.67-1.06x of the
# refit it predicted on grants at 60 s, quiet and beside two busy processes, once it left out
# the validation passes a refit does not run (benchmarks/RESULTS.md, stop 44); a refit that
# would still overrun ``until`` skips the trials it has no time for (``final._networks``).
REFIT_MARGIN, SPARE_TO_TRIALS, MIN_EXTRA = 1.1, 0.45, 2.0


def extended_deadline(until: float | None, refit_seconds: float, now: float) -> float | None:
    """A later deadline for the trials of a search that reached theirs at ``now``: a share of
    what the final model's refit (``refit_seconds``, to end by ``until``, after which scoring,
    saving and tracking have their own seconds) leaves unused, less a margin; None when that is
    under ``MIN_EXTRA`` seconds (or there is no budget)."""
    if until is None:
        return None
    spare = until - now - refit_seconds * REFIT_MARGIN
    extra = spare * SPARE_TO_TRIALS
    return now + extra if extra >= MIN_EXTRA else None


def move_deadline(study: optuna.Study, at: float, storage: Any) -> None:
    """Record ``at`` as the deadline of this process's search on ``study`` (a search that
    joins later reads it)."""
    with claim_lock(storage, study.study_name):
        if (kept_attrs(study).get(KEY) or {}).get("owner") == owner():
            keep_attr(study, KEY, {"at": at, "owner": owner()})


def final_deadline(budget_end: float | None, tracking: bool) -> float | None:
    """When the final model (a replay, its refits) must be built by for the search to end by
    ``budget_end`` (a ``time.time()`` value; None: no budget): the end less what scoring,
    saving and tracking it take."""
    if budget_end is None:
        return None
    return budget_end - FINISH_SECONDS - (TRACKING_SECONDS if tracking else 0.0)


def is_stopped(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether the deadline cut ``trial`` short (a FAIL that is not a failure of the trial)."""
    return STOPPED in trial.user_attrs
