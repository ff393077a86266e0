"""What a search prints while it runs and when it ends: a progress bar and the top trials."""

from __future__ import annotations

import sys
from typing import Any

import optuna
from tqdm import tqdm

from autonn.search.problem import Problem
from autonn.search.ranking import leading_trial, remaining_trials
from autonn.search.report import ranked_trials
from autonn.search.storage import open_storage
from autonn.search.study import study_name


def describe_final(final: Any) -> str:
    """``trial 12, refitted`` or ``ensemble of trials 12 x3, 7 x2, refitted``."""
    if final.is_ensemble:
        what = "ensemble of trials " + ", ".join(f"{n} x{c}" for n, c in final.trials.items())
    else:
        what = f"trial {final.trial_number}"
    return what + (", refitted on every non-test row" if final.refit else ", as searched")


class Progress:
    """A tqdm bar over the trials still to run, showing the best value so far."""

    def __init__(self, total: int, metric: str) -> None:
        self.metric = metric
        self.bar = tqdm(total=total, unit="trial", file=sys.stderr, dynamic_ncols=True,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} trials [{elapsed}<{remaining}{postfix}]")

    @classmethod
    def for_study(cls, problem: Problem, storage: Any) -> Progress:
        """A bar over what the study still needs (all of ``n_trials`` for a new study)."""
        n_trials = problem.config.n_trials
        try:  # read the study as it stands; run_search creates or checks it
            study = optuna.load_study(study_name=study_name(problem.config),
                                      storage=open_storage(storage))
        except KeyError:
            return cls(n_trials, problem.metric_name)
        return cls(remaining_trials(study, n_trials), problem.metric_name)

    def callback(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state.name in ("COMPLETE", "PRUNED"):
            self.bar.update(1)
        try:
            self.bar.set_postfix_str(f"best {self.metric} {leading_trial(study).values[0]:.4f}")
        except ValueError:
            pass

    def close(self) -> None:
        self.bar.close()


def summary(study: optuna.Study, problem: Problem, final: Any, tracker: Any, top: int) -> None:
    """The study's top trials, the final's test score and where to browse the runs."""
    rows = ranked_trials(study, top)
    metric = problem.metric_name
    print(f"Study '{study.study_name}': {len(study.trials)} trials, metric {metric} "
          f"({problem.metric.direction})")
    print(f"{'rank':>4} {'trial':>5} {'state':<8} {'value':>9} {'seconds':>8}  architecture")
    for r in rows:
        value = "-" if r["value"] is None else f"{r['value']:.4f}"
        seconds = "-" if r["duration_s"] is None else f"{r['duration_s']:.2f}"
        print(f"{r['rank'] or '-':>4} {r['trial']:>5} {r['state']:<8} {value:>9} {seconds:>8}  "
              f"{r['architecture']}")
    if final is not None and final.test_score is not None:
        print(f"Final model: {describe_final(final)}; test {metric} {final.test_score:.4f}")
    if getattr(tracker, "records", False):
        print(f"Browse every trial: autonn ui   (then open "
              f"http://127.0.0.1:5000/#/experiments/{tracker.experiment_id}/runs)")
