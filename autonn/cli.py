"""The ``autonn`` command line: parses options and calls the library. Heavy imports stay inside
commands so that ``autonn --help`` answers at once."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from autonn.errors import AutonnError

EXIT_BAD_INPUT = 2


def _friendly_errors(fn: Callable) -> Callable:
    """Turn an AutonnError into one red line and exit code 2 (a traceback with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AutonnError as exc:
            if click.get_current_context().find_root().params.get("debug"):
                raise
            click.secho(f"Error: {exc}", fg="red", err=True)
            sys.exit(EXIT_BAD_INPUT)

    return wrapper


def _storage_option(fn: Callable) -> Callable:
    return click.option("--storage", envvar="AUTONN_STORAGE", default=None,
                        help="Optuna storage: an RDB URL (sqlite:///, postgresql://) or a journal "
                             "file. Default: ./mlruns/optuna.journal.")(fn)


def _study_option(fn: Callable) -> Callable:
    return click.option("--study", "study", envvar="AUTONN_STUDY", default=None,
                        help="Study name. Default: the dataset's name.")(fn)


def _emit(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str) if as_json else text(data))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="autonn")
def main(debug: bool) -> None:
    """autonn: search neural architectures with Optuna, track every trial in MLflow."""


@main.command()
@click.argument("config_file", required=False, type=click.Path(dir_okay=False))
@click.option("--dataset", envvar="AUTONN_DATASET", help="A bundled dataset (see `autonn datasets`).")
@click.option("--n-trials", type=click.IntRange(min=1), help="Finished trials the study should hold.")
@click.option("--timeout", type=click.FloatRange(min=0), help="Stop starting trials after this many seconds.")
@click.option("--seed", type=int, envvar="AUTONN_SEED", help="Study seed; trial seeds are seed + trial number.")
@click.option("--device", envvar="AUTONN_DEVICE", help="auto, cpu, cuda, cuda:N or mps.")
@_study_option
@_storage_option
@_friendly_errors
def search(config_file: str | None, storage: str | None, **options: Any) -> None:
    """Run (or continue) a search and print the best trial."""
    from autonn.config import load_config, make_config
    from autonn.search import prepare, run_search

    overrides = {k: v for k, v in options.items() if v is not None}
    config = load_config(config_file, **overrides) if config_file else make_config(**overrides)
    problem = prepare(config, source=config_file or "command line")
    study, winner = run_search(problem, storage=storage)
    _print_best(study, problem.metric_name, winner.test_score if winner else None)


def _print_best(study: Any, metric: str, test_score: float | None) -> None:
    from autonn.search import best_trial

    best = best_trial(study)
    click.echo(f"Study '{study.study_name}': {len(study.trials)} trials; best is trial "
               f"{best.number} with validation {metric} {best.value:.4f}"
               + (f" (test {metric} {test_score:.4f})" if test_score is not None else ""))
    for key, value in best.params.items():
        click.echo(f"  {key:<14} {value}")


@main.command()
@_study_option
@_storage_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@_friendly_errors
def best(study: str | None, storage: str | None, as_json: bool) -> None:
    """The best trial's value and parameters."""
    from autonn.search import best_trial, load_study

    found = load_study(study, storage)
    trial = best_trial(found)
    data = {"study": found.study_name, "trial": trial.number, "value": trial.value,
            "metric": found.user_attrs.get("metric"), "direction": found.direction.name.lower(),
            "params": trial.params, "test_score": found.user_attrs.get("test_score")}
    _emit(data, as_json, lambda d: "\n".join(f"{k}: {v}" for k, v in d.items()))


@main.command()
@click.argument("config_file", required=False, type=click.Path(dir_okay=False))
@click.option("--dataset", envvar="AUTONN_DATASET", help="A bundled dataset (see `autonn datasets`).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@_friendly_errors
def space(config_file: str | None, dataset: str | None, as_json: bool) -> None:
    """The search space a config or dataset produces."""
    from autonn.config import load_config, make_config, resolve_losses
    from autonn.data import load_dataset
    from autonn.space import describe

    config = load_config(config_file, dataset=dataset) if config_file else make_config(dataset=dataset)
    task = config.task
    if task == "auto":
        if not config.dataset:
            raise AutonnError("space: give a dataset (--dataset NAME) or a task in the config.")
        task = load_dataset(config.dataset).task
    dims = describe(resolve_losses(config.space, task, config_file or "command line"))
    data = {"task": task, "space": dims}
    _emit(data, as_json, lambda d: f"task: {task}\n" + "\n".join(
        f"  {k:<22} {v}" for k, v in d["space"].items()))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def datasets(as_json: bool) -> None:
    """Bundled datasets with their shape and task."""
    from autonn.data import BUNDLED, load_dataset

    rows = []
    for name in BUNDLED:
        ds = load_dataset(name)
        rows.append({"name": name, "rows": ds.X.shape[0], "features": ds.X.shape[1],
                     "task": ds.task, "classes": len(ds.classes)})
    _emit(rows, as_json, lambda rs: "\n".join(
        f"{r['name']:<22} {r['rows']:>6} x {r['features']:<4} {r['task']}" for r in rs))
