"""``autonn search``: config and flags merged, the input checked before anything heavy loads,
MLflow tracking, a progress bar, a summary of the top trials, and a clean stop on Ctrl-C or
SIGTERM (exit 130/143)."""

from __future__ import annotations

import os
import platform
import sys
import time
import warnings
from typing import Any

import click

from autonn.cli.options import (
    Seconds,
    config_argument,
    dataset_option,
    friendly_errors,
    stack,
    storage_option,
    study_option,
    tracking_option,
)
from autonn.errors import ConfigError, DataWarning
from autonn.families import AUTO, FAMILIES, FAMILY_CHOICES
from autonn.measures import OBJECTIVES
from autonn.names import checked_name
from autonn.samplers import PRUNERS, SAMPLERS
from autonn.tasks import TASKS

TOP_SHOWN = 5
SPACE_FLAGS = ("family",)  # command-line flags that set a space dimension
TRAINING_FLAGS = ("cv_folds",)  # command-line flags that set a training setting


@click.command()
@stack(config_argument, dataset_option)
@click.option("--data", type=click.Path(dir_okay=False),
              help="Your own table: a CSV, TSV or Parquet file (with --target).")
@click.option("--target", help="The column of --data to predict.")
@click.option("--test", "test_data", type=click.Path(dir_okay=False),
              help="A held-out file of the same columns, scored only by the best model.")
@click.option("--group-column", help="Rows sharing this column's value stay in one split.")
@click.option("--task", type=click.Choice(["auto", *TASKS]),
              help="The task; auto infers it from the target.")
@study_option
@click.option("--n-trials", type=click.IntRange(min=1),
              help="Finished trials the study should hold in all (a rerun completes what is "
                   "left). Default: 20, or with --timeout as many as it allows.")
@click.option("--timeout", type=Seconds(),
              help="Seconds the whole search may take (trials, final model, tracking).")
@click.option("--epochs", type=click.IntRange(min=1),
              help="Fix the epoch budget of every trial (a --timeout may size one to fewer).")
@click.option("--objectives", help="Comma-separated: val_metric first, then any of "
                                   f"{', '.join(f'{n} ({o.help})' for n, o in list(OBJECTIVES.items())[1:])}. Several: a multi-objective "
                                   "study (NSGA-II unless --sampler).")
@click.option("--warm-start", multiple=True, help="A study (or MLflow run id) whose best trials run "
                                                  "first, rescaled to this data. Repeatable.")
@click.option("--builtin-starts/--no-builtin-starts", default=None,
              help="Run a few architectures that do well on tables first (default: on).")
@click.option("--init-from", type=click.Path(), help="An exported autonn model: its architecture "
                                                    "is fixed and its weights start each trial.")
@click.option("--family", type=click.Choice(FAMILY_CHOICES),
              help="Architecture family: " + "; ".join(f"{n} ({f.help})" for n, f in FAMILIES.items())
                   + f"; or {AUTO} (every family the data allows).")
@click.option("--population", type=click.IntRange(min=1),
              help="Trials trained together in batched passes (default: 64 on CUDA, one at a "
                   "time on a CPU); 1: one at a time.")
@click.option("--refit/--no-refit", default=None,
              help="Train the final model again on training + validation rows. Default: after a "
                   "one-split search; a cross-validated one ships each trial's fold networks "
                   "averaged, which together trained on every non-test row.")
@click.option("--ensemble", type=click.IntRange(min=0),
              help="Ensemble size: the mean of the N best trials (less any clearly worse than "
                   "the best), then up to N greedy additions "
                   "with replacement, each kept when it improves the out-of-fold score (by the "
                   "metric, then by log loss for classifiers). 0: the best trial alone. "
                   "Default: 5.")
@click.option("--cv-folds", type=click.IntRange(min=0),
              help="Cross-validation folds for the objective (0 or 1: one validation split). "
                   "Default: 5 below 2000 training + validation rows, or below 10000 rows of at most "
                   "2 million values (rows x encoded features).")
@click.option("--metric", help="Validation metric to optimise (accuracy, f1, roc_auc, rmse, r2, ...).")
@click.option("--sampler", envvar="AUTONN_SAMPLER", show_envvar=True,
              type=click.Choice(list(SAMPLERS)), help="Optuna sampler.")
@click.option("--pruner", envvar="AUTONN_PRUNER", show_envvar=True,
              type=click.Choice(list(PRUNERS)), help="Optuna pruner.")
@click.option("--device", envvar="AUTONN_DEVICE", show_envvar=True,
              help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps.")
@click.option("--seed", type=int, envvar="AUTONN_SEED", show_envvar=True,
              help="Study seed; each trial's seed is seed + trial number.")
@click.option("--workers", default="auto", envvar="AUTONN_WORKERS", show_envvar=True,
              show_default=True, callback=lambda ctx, param, value: _workers(value),
              help="Worker processes on this machine (CPU threads are split between them; with "
                   "--device cuda, GPUs are taken in turn). auto: 2 on a CPU of 2 or more "
                   "cores with a --timeout of 30 s or more, else 1.")
@stack(storage_option, tracking_option)
@click.option("--experiment", envvar="AUTONN_EXPERIMENT", show_envvar=True,
              help="MLflow experiment name. Default: the study's name.")
@click.option("--no-tracking", is_flag=True, help="Do not write to MLflow.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary; errors only.")
@friendly_errors
def search(config_file: str | None, storage: str | None, tracking_uri: str | None,
           experiment: str | None, no_tracking: bool, quiet: bool, epochs: int | None,
           workers: int | str, **options: Any) -> None:
    """Run a search, or continue it: the same command again finishes an interrupted study."""
    if experiment is not None:
        _check_experiment(experiment)
    options["warm_start"] = list(options["warm_start"]) or None
    if options.get("objectives"):
        options["objectives"] = [o.strip() for o in options["objectives"].split(",") if o.strip()]
    code = run_from_cli(config_file, options, epochs=epochs, storage=storage,
                        tracking_uri=tracking_uri, experiment=experiment, tracking=not no_tracking,
                        quiet=quiet, workers=workers)
    sys.exit(code)


def _workers(value: str) -> int | str:
    """``--workers``: a count of 1 or more, or auto."""
    if str(value).strip().lower() == "auto":
        return "auto"
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise click.BadParameter(f"{value!r} is not a worker count; give a whole number of 1 or "
                                 "more, or auto.", param_hint="'--workers'")
    return count


def _check_experiment(name: str) -> None:
    try:
        checked_name(name, "--experiment")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def build_config(config_file: str | None, options: dict[str, Any], epochs: int | None) -> Any:
    """The config file (if any) with the non-empty flags laid over it (``--family`` and
    ``--epochs`` over its space)."""
    from autonn.config import load_config, make_config  # pydantic: kept out of --help

    nested = SPACE_FLAGS + TRAINING_FLAGS
    overrides = {k: v for k, v in options.items() if v is not None and k not in nested}
    config = (load_config(config_file, **overrides) if config_file
              else make_config(source="command line", **overrides))
    space = {k: options[k] for k in SPACE_FLAGS if options.get(k) is not None}
    if epochs is not None:
        space["epochs"] = epochs
    training = {k: options[k] for k in TRAINING_FLAGS if options.get(k) is not None}
    return config.model_copy(update={"space": config.space.model_copy(update=space),
                                     "training": config.training.model_copy(update=training)})


def run_from_cli(config_file: str | None, options: dict[str, Any], *, epochs: int | None,
                 storage: str | None, tracking_uri: str | None, experiment: str | None,
                 tracking: bool, quiet: bool, workers: int | str = 1) -> int:
    """Run the search the flags describe; return the process exit code. ``--timeout`` counts
    from here: loading the data is part of what the user waits for."""
    started = time.time()
    config, source = build_config(config_file, options, epochs), config_file or "command line"
    from autonn.search.workers import cancel  # light: no torch

    spawned = _spawn_early(config, workers, storage, tracking)
    try:
        return _prepare_and_run(config, source, storage, tracking_uri, experiment, tracking,
                                quiet, workers, started, spawned)
    finally:
        cancel(spawned)  # never released: the command ended before its search (bad input, say)


def _spawn_early(config: Any, workers: int | str, storage: str | None, tracking: bool) -> Any:
    """The worker processes the search will most likely take, started now, before this process
    loads torch and the data, so that their start overlaps its own (None: one process). On a
    CPU, that is; the device that "auto" picks is known only once torch is loaded."""
    from autonn.search.workers import resolve_workers, spawn_workers  # light: no torch

    likely = resolve_workers(workers, _likely_device(config.device), config.timeout, storage)
    return spawn_workers(config, range(1, likely), likely, storage, tracking) if likely > 1 else None


def _likely_device(device: str) -> str:
    """The device type ``device`` most likely means, told without torch: "auto" is a GPU where
    the machine shows one (an NVIDIA driver's device file, an Apple-silicon Mac), else the CPU."""
    if device != "auto":
        return device.split(":")[0]
    if os.path.exists("/dev/nvidiactl") and os.environ.get("CUDA_VISIBLE_DEVICES") != "":
        return "cuda"
    return "mps" if sys.platform == "darwin" and platform.machine() == "arm64" else "cpu"


def _prepare_and_run(config: Any, source: str, storage: str | None, tracking_uri: str | None,
                     experiment: str | None, tracking: bool, quiet: bool, workers: int | str,
                     started: float, spawned: Any) -> int:
    from autonn.data.datasets import (
        load_data,  # numpy: kept out of --help and config errors
    )

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        dataset = load_data(config, source)  # bad input fails here, before torch and optuna load
        if not quiet:  # within a second of the command: what is about to happen, and where
            _say(f"{_describe_data(dataset)}; {_describe_store(storage, tracking_uri, tracking)}")
        problem = _problem(config, dataset, source)
    for warning in caught:
        if issubclass(warning.category, DataWarning):
            print(f"Warning: {warning.message}", file=sys.stderr)
    from autonn.search.workers import resolve_workers  # light: no torch

    workers = resolve_workers(workers, problem.data.device.type, problem.config.timeout, storage)
    if not quiet:
        _say(_describe_problem(problem, workers))
    return _run(problem, storage, tracking_uri, experiment, tracking, quiet, workers, started,
                spawned)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _describe_data(dataset: Any) -> str:
    rows, columns = dataset.X.shape
    kind = f"{len(dataset.classes)} classes" if dataset.classes else "values"
    return f"Data: {dataset.name}, {rows} rows x {columns} columns, {dataset.task} ({kind})"


def _describe_store(storage: str | None, tracking_uri: str | None, tracking: bool) -> str:
    from autonn.masking import mask  # light: no third-party import

    trials = mask(storage) if storage else "mlruns/optuna.journal"
    runs = (mask(tracking_uri) if tracking_uri else "mlruns/mlflow.db") if tracking else "off"
    return f"trials in {trials}, MLflow runs in {runs}"


def _describe_problem(problem: Any, workers: int) -> str:
    cfg, folds = problem.config, len(problem.folds)
    check = f"{folds}-fold cross-validation" if folds > 1 else "a validation split"
    budget = f" or {cfg.timeout:g} s" if cfg.timeout else ""
    what = f"for {cfg.timeout:g} s" if cfg.until_timeout else f"{cfg.n_trials} trials{budget}"
    return (f"Searching {what}: "
            f"metric {problem.metric_name} ({problem.metric.direction}) on {check}, device "
            f"{problem.data.device}" + (f", {workers} worker processes" if workers > 1 else ""))


def _problem(config: Any, dataset: Any, source: str) -> Any:
    import optuna  # optuna, torch, scikit-learn load only once the input is known to be good

    from autonn.search.problem import make_problem  # torch: kept out of --help

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures are reported in MLflow instead
    return make_problem(config, dataset, source)


def _run(problem: Any, storage: str | None, tracking_uri: str | None, experiment: str | None,
         tracking: bool, quiet: bool, workers: int, started: float, spawned: Any) -> int:
    from autonn.cli.progress import (  # optuna, tqdm: kept out of --help
        Progress,
        summary,
    )
    from autonn.search.run import run_search  # torch, optuna: kept out of --help
    from autonn.search.storage import describe_storage  # optuna: kept out of --help
    from autonn.search.study import study_name  # optuna: kept out of --help

    name = study_name(problem.config)
    tracker = _tracker(tracking, tracking_uri, experiment or name)
    progress = None if quiet else Progress.for_study(problem, storage)
    try:
        study, final = run_search(problem, storage=storage, tracker=tracker, workers=workers,
                                   callbacks=[progress.callback] if progress else [],
                                   on_stage=progress.stage if progress else lambda *_: None,
                                   started=started, spawned=spawned)
    except KeyboardInterrupt as exc:
        if progress:
            progress.close(clear=True)
        print(f"Interrupted: finished trials are kept in the study '{name}'"
              f" ({describe_storage(storage)}). Run the same command again to resume.",
              file=sys.stderr)
        return 128 + getattr(exc, "signal_number", 2)
    except Exception:
        if progress:  # the error then stands on a line of its own
            progress.close(clear=True)
        raise
    if progress:
        progress.close()
    if not quiet:
        summary(study, problem, final, tracker, TOP_SHOWN, ran=progress is None or progress.total)
    return 0


def _tracker(tracking: bool, tracking_uri: str | None, experiment: str) -> Any:
    from autonn.tracking.tracker import open_tracker  # mlflow, when tracking: kept out of --help

    return open_tracker("mlflow" if tracking else "none", tracking_uri, experiment)
