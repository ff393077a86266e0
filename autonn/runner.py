"""A search as the command line runs it: config and flags merged, MLflow tracking, a progress bar,
a summary of the top trials, and a clean stop on Ctrl-C or SIGTERM."""

from __future__ import annotations

import sys
import warnings
from typing import Any

from autonn.config import Config, load_config, make_config
from autonn.objectives import leading_trial
from autonn.report import ranked_trials
from autonn.search import Problem, prepare, remaining_trials, run_search, study_name
from autonn.storage import describe_storage
from autonn.tables import DataWarning
from autonn.tracking import MlflowTracker, NullTracker, default_tracking_uri

TOP_SHOWN = 5
SPACE_FLAGS = ("family",)  # command-line flags that set a space dimension


def build_config(config_file: str | None, options: dict[str, Any], epochs: int | None) -> Config:
    """The config file (if any) with the non-empty flags laid over it (``--family`` and
    ``--epochs`` over its space)."""
    overrides = {k: v for k, v in options.items() if v is not None and k not in SPACE_FLAGS}
    config = load_config(config_file, **overrides) if config_file else make_config(**overrides)
    space = {k: options[k] for k in SPACE_FLAGS if options.get(k) is not None}
    if epochs is not None:
        space["epochs"] = epochs
    if space:
        config = config.model_copy(update={"space": config.space.model_copy(update=space)})
    return config


def run_from_cli(config_file: str | None, options: dict[str, Any], *, epochs: int | None,
                 storage: str | None, tracking_uri: str | None, experiment: str | None,
                 tracking: bool, quiet: bool, workers: int = 1) -> int:
    """Run the search the flags describe; return the process exit code."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures are reported in MLflow instead
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        problem = prepare(build_config(config_file, options, epochs), source=config_file or "command line")
    for warning in caught:
        if issubclass(warning.category, DataWarning):
            print(f"Warning: {warning.message}", file=sys.stderr)
    name = study_name(problem.config)
    tracker = (MlflowTracker(tracking_uri or default_tracking_uri(), experiment or name)
               if tracking else NullTracker())
    progress = _progress(problem, storage, quiet or workers > 1)
    try:
        study, winner = run_search(problem, storage=storage, tracker=tracker, workers=workers,
                                   callbacks=[progress.callback] if progress else [])
    except KeyboardInterrupt as exc:
        if progress:
            progress.close()
        signal_number = getattr(exc, "signal_number", 2)
        print(f"Interrupted: finished trials are kept in the study '{name}'"
              f" ({describe_storage(storage)}). Run the same command again to "
              "resume.", file=sys.stderr)
        return 128 + signal_number
    if progress:
        progress.close()
    if not quiet:
        _summary(study, problem, winner, tracker)
    return 0


class _Progress:
    """A tqdm bar over the trials still to run, showing the best value so far."""

    def __init__(self, total: int, metric: str) -> None:
        from tqdm import tqdm

        self.metric = metric
        self.bar = tqdm(total=total, unit="trial", file=sys.stderr, dynamic_ncols=True,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} trials [{elapsed}<{remaining}{postfix}]")

    def callback(self, study: Any, trial: Any) -> None:
        if trial.state.name in ("COMPLETE", "PRUNED"):
            self.bar.update(1)
        try:
            self.bar.set_postfix_str(f"best {self.metric} {leading_trial(study).values[0]:.4f}")
        except ValueError:
            pass

    def close(self) -> None:
        self.bar.close()


def _progress(problem: Problem, storage: str | None, quiet: bool) -> _Progress | None:
    if quiet:
        return None
    import optuna

    from autonn.storage import open_storage

    n_trials = problem.config.n_trials
    try:  # read the study as it stands; run_search creates or checks it
        study = optuna.load_study(study_name=study_name(problem.config), storage=open_storage(storage))
    except KeyError:
        return _Progress(n_trials, problem.metric_name)
    return _Progress(remaining_trials(study, n_trials), problem.metric_name)


def _summary(study: Any, problem: Problem, winner: Any, tracker: Any) -> None:
    rows = ranked_trials(study, TOP_SHOWN)
    metric = problem.metric_name
    print(f"Study '{study.study_name}': {len(study.trials)} trials, metric {metric} "
          f"({problem.metric.direction})")
    print(f"{'rank':>4} {'trial':>5} {'state':<8} {'value':>9} {'seconds':>8}  architecture")
    for r in rows:
        value = "-" if r["value"] is None else f"{r['value']:.4f}"
        seconds = "-" if r["duration_s"] is None else f"{r['duration_s']:.2f}"
        print(f"{r['rank'] or '-':>4} {r['trial']:>5} {r['state']:<8} {value:>9} {seconds:>8}  "
              f"{r['architecture']}")
    if winner is not None and winner.test_score is not None:
        print(f"Best trial {winner.trial_number}: test {metric} {winner.test_score:.4f}")
    if getattr(tracker, "records", False):
        print(f"Browse every trial: autonn ui   (then open "
              f"http://127.0.0.1:5000/#/experiments/{tracker.experiment_id}/runs)")

