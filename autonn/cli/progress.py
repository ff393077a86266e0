"""What a search prints while it runs and when it ends: a progress bar and the top trials."""

from __future__ import annotations

import sys
from typing import Any

import optuna
from tqdm import tqdm

from autonn.search.deadline import PARTIAL
from autonn.search.problem import Problem
from autonn.search.ranking import (
    SHOWN_STATES,
    leading_trial,
    n_trials_done,
    remaining_trials,
    state_counts,
)
from autonn.search.report import ranked_trials
from autonn.search.storage import open_storage
from autonn.search.study import study_name


def describe_final(final: Any) -> str:
    """``trial 12, refitted ...`` or ``ensemble of trials 12 x3, 7 x2, each its 5 fold ...``."""
    if final.is_ensemble:
        what = "ensemble of trials " + ", ".join(f"{n} x{c}" for n, c in final.trials.items())
    else:
        what = f"trial {final.trial_number}"
    if final.refit and final.refit_skipped:
        skipped = ", ".join(str(n) for n in final.refit_skipped)
        return what + f", refitted on every non-test row but for {skipped} (as searched: the " \
                      "budget had no time left to refit)"
    if final.refit:
        return what + ", refitted on every non-test row"
    if final.partial:
        return what + f", its {final.folds} of {final.all_folds} folds' networks averaged (the " \
                      "deadline came before any trial finished every fold)"
    if final.folds > 1:
        each = "each " if final.is_ensemble else ""
        return what + f", {each}its {final.folds} fold networks averaged (a bag that trained on " \
                      "every non-test row)"
    return what + ", as searched"


class Progress:
    """A tqdm bar over the trials still to run, study-wide (trials other workers finish count
    too), showing the best value so far."""

    def __init__(self, total: int, before: int, metric: str, counted: bool = True) -> None:
        self.metric, self.total, self.before = metric, total, before
        # a search that runs until its --timeout has no count to fill: the trials and the time
        fmt = ("{l_bar}{bar}| {n_fmt}/{total_fmt} trials [{elapsed}<{remaining}{postfix}]"
               if counted else "{n_fmt} trials [{elapsed}{postfix}]")
        self.bar = tqdm(total=total, unit="trial", file=sys.stderr, dynamic_ncols=True,
                        bar_format=fmt)

    @classmethod
    def for_study(cls, problem: Problem, storage: Any) -> Progress:
        """A bar over what the study still needs (all of ``n_trials`` for a new study)."""
        n_trials, counted = problem.config.n_trials, not problem.config.until_timeout
        try:  # read the study as it stands; run_search creates or checks it
            study = optuna.load_study(study_name=study_name(problem.config),
                                      storage=open_storage(storage))
        except KeyError:
            return cls(n_trials, 0, problem.metric_name, counted)
        left = remaining_trials(study, n_trials)
        return cls(left, n_trials - left, problem.metric_name, counted)

    def callback(self, study: optuna.Study, trial: optuna.trial.FrozenTrial | None) -> None:
        """Count the study's finished trials, whichever process ran them."""
        done = n_trials_done(study) - self.before
        self.bar.update(max(0, min(done, self.total) - self.bar.n))
        try:
            self.bar.set_postfix_str(f"best {self.metric} {leading_trial(study).values[0]:.4f}")
        except ValueError:
            pass

    def stage(self, study: optuna.Study, text: str) -> None:
        """Bring the bar up to the study's count, then say what the search does next."""
        self.callback(study, None)
        self.bar.write(text, file=sys.stderr)

    def close(self, clear: bool = False) -> None:
        """End the bar; ``clear`` erases it, so that an error prints on a clean line."""
        if clear:
            self.bar.leave = False
        self.bar.close()


def summary(study: optuna.Study, problem: Problem, final: Any, tracker: Any, top: int,
            ran: int) -> None:
    """The study's trials by state, its top trials, the final model's test score and where to
    browse the runs; ``ran`` 0 (nothing was left to run) says so."""
    metric, states = problem.metric_name, state_counts(study)
    counts = ", ".join(f"{states[s]} {s.lower()}" for s in SHOWN_STATES if s in states)
    waiting = states.pop("WAITING", 0)
    if not ran:
        print(f"Study '{study.study_name}' already holds {problem.config.n_trials} finished "
              "trials: nothing to do (raise --n-trials to run more).")
    print(f"Study '{study.study_name}': {sum(states.values())} trials ({counts}), metric {metric} "
          f"({problem.metric.direction})" + (f"; {waiting} queued starts run first when it is "
                                             "resumed" if waiting else ""))
    if "STOPPED" in states:
        print(f"{states['STOPPED']} trial(s) stopped by the --timeout deadline before they "
              "finished a fold: they are not ranked and not in the final model.")
    if "PARTIAL" in states:
        print(f"{states['PARTIAL']} trial(s) finished only some of their folds before the "
              f"deadline: ranked on those (user attribute {PARTIAL}), in the final model only "
              "when no trial finished every fold.")
    print(f"{'rank':>4} {'trial':>5} {'state':<8} {'value':>9} {'seconds':>8}  architecture")
    for r in ranked_trials(study, top):
        value = "-" if r["value"] is None else f"{r['value']:.4f}"
        seconds = "-" if r["duration_s"] is None else f"{r['duration_s']:.2f}"
        print(f"{r['rank'] or '-':>4} {r['trial']:>5} {r['state']:<8} {value:>9} {seconds:>8}  "
              f"{r['architecture']}")
    if final is not None and final.test_score is not None:
        print(f"Final model: {describe_final(final)}; test {metric} {final.test_score:.4f}")
    elif "test_score" in study.user_attrs:
        print(f"Final model of the last search: test {metric} "
              f"{study.user_attrs['test_score']:.4f} (`autonn export` writes it)")
    elif not states.get("COMPLETE") and not states.get("PARTIAL"):
        print("No final model: no trial finished within the budget. Run again with a longer "
              "--timeout (the study resumes), or fewer --epochs for shorter trials.")
    url = tracker.runs_address("http://127.0.0.1:5000")
    if url:
        print(f"Browse every trial: autonn ui   (then open {url})")
