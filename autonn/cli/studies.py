"""Reading what is there: ``studies``, ``trials``, ``best``, ``space`` and ``datasets``."""

from __future__ import annotations

from typing import Any

import click

from autonn.cli.options import (
    config_argument,
    dataset_option,
    emit,
    fmt,
    friendly_errors,
    json_option,
    stack,
    storage_option,
    study_option,
)
from autonn.errors import AutonnError


@click.command()
@stack(storage_option, json_option)
@friendly_errors
def studies(storage: str | None, as_json: bool) -> None:
    """The studies in the store, with trial counts and best values."""
    from autonn.search.report import study_rows  # optuna: kept out of --help
    from autonn.search.storage import open_storage  # optuna: kept out of --help

    rows = study_rows(open_storage(storage))
    emit(rows, as_json, lambda rs: "\n".join(
        [f"{'study':<24} {'metric':<12} {'trials':>6} {'complete':>8} {'partial':>7} "
         f"{'pruned':>6} {'stopped':>7} {'fail':>4}  best"]
        + [f"{r['study']:<24} {r['metric'] or '-':<12} {r['trials']:>6} {r['complete']:>8} "
           f"{r['partial']:>7} {r['pruned']:>6} {r['stopped']:>7} {r['fail']:>4}  "
           f"{fmt(r['best_value'])}"
           for r in rs]) if rs
        else "No studies yet: run `autonn search --dataset iris`.")


@click.command()
@stack(study_option, storage_option)
@click.option("--top", type=click.IntRange(min=1), help="Only the K best trials.")
@click.option("--pareto", is_flag=True, help="Only the Pareto front of a multi-objective study.")
@json_option
@friendly_errors
def trials(study: str | None, storage: str | None, top: int | None, pareto: bool,
           as_json: bool) -> None:
    """Ranked trials: value, state, duration and architecture."""
    from autonn.search.report import (  # optuna: kept out of --help
        pareto_rows,
        ranked_trials,
    )
    from autonn.search.storage import load_study  # optuna: kept out of --help

    found = load_study(study, storage)
    if pareto:
        rows = pareto_rows(found)[:top] if top else pareto_rows(found)
        emit(rows, as_json, _pareto_table)
        return
    emit(ranked_trials(found, top), as_json, _trials_table)


def _pareto_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "No completed trial yet."
    names = [k for k in rows[0] if k not in ("rank", "trial", "architecture", "mlflow_run_id")]
    lines = [f"{'rank':>4} {'trial':>5} " + " ".join(f"{n:>12}" for n in names) + "  architecture"]
    lines += [f"{r['rank']:>4} {r['trial']:>5} " + " ".join(f"{fmt(r[n]):>12}" for n in names)
              + f"  {r['architecture']}" for r in rows]
    return "\n".join(lines)


def _trials_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'rank':>4} {'trial':>5} {'state':<8} {'value':>9} {'seconds':>8}  architecture"]
    lines += [f"{fmt(r['rank']):>4} {r['trial']:>5} {r['state']:<8} {fmt(r['value']):>9} "
              f"{fmt(r['duration_s']):>8}  {r['architecture']}" for r in rows]
    return "\n".join(lines)


@click.command()
@stack(study_option, storage_option, json_option)
@friendly_errors
def best(study: str | None, storage: str | None, as_json: bool) -> None:
    """The best trial's value, parameters and MLflow run id."""
    from autonn.search.ranking import best_trial  # optuna: kept out of --help
    from autonn.search.sizing import trained_params  # optuna: kept out of --help
    from autonn.search.storage import load_study  # optuna: kept out of --help

    found = load_study(study, storage)
    trial = best_trial(found)
    data = {"study": found.study_name, "trial": trial.number, "value": trial.values[0],
            "metric": found.user_attrs.get("metric"), "direction": found.directions[0].name.lower(),
            "params": trained_params(trial), "test_score": found.user_attrs.get("test_score"),
            "mlflow_run_id": trial.user_attrs.get("mlflow_run_id")}
    emit(data, as_json, lambda d: "\n".join(f"{k}: {v}" for k, v in d.items()))


@click.command()
@stack(config_argument, dataset_option, json_option)
@friendly_errors
def space(config_file: str | None, dataset: str | None, as_json: bool) -> None:
    """The search space a config or dataset produces: the dimensions its families use."""
    from autonn.config import load_config, make_config  # pydantic: kept out of --help
    from autonn.data.datasets import IMAGE_SHAPES, facts_of  # numpy: kept out of --help
    from autonn.space import describe, resolve_losses, searched  # with the config above

    config = load_config(config_file, dataset=dataset) if config_file else make_config(dataset=dataset)
    task, shape = config.task, config.input_shape
    if task == "auto" or (not shape and config.dataset):
        if not config.dataset:
            raise AutonnError("space: give a dataset (--dataset NAME) or a task in the config.")
        facts = facts_of(config.dataset)
        task = facts.task if task == "auto" else task
        shape = shape or IMAGE_SHAPES.get(config.dataset)
    space = resolve_losses(config.space, task, config_file or "command line")
    dims = {k: v for k, v in describe(space).items() if k in searched(space, shape)}
    emit({"task": task, "space": dims}, as_json, lambda d: _space_table(task, d["space"]))


def _space_table(task: str, dims: dict[str, Any]) -> str:
    lines = [f"task: {task}", f"{'dimension':<22} {'kind':<7} values"]
    for name, d in dims.items():
        if d["type"] == "choice":
            values = ", ".join(map(str, d["choices"]))
        elif d["type"] == "fixed":
            values = str(d["value"])
        else:
            values = f"{d['low']} .. {d['high']}" + (" (log)" if d["log"] else "")
        lines.append(f"{name:<22} {d['type']:<7} {values}")
    return "\n".join(lines)


@click.command()
@json_option
def datasets(as_json: bool) -> None:
    """Bundled datasets with their shape and task."""
    from autonn.data.datasets import FACTS  # numpy: kept out of --help

    rows = [{"name": name, "rows": f.rows, "features": f.features, "task": f.task,
             "classes": f.classes} for name, f in FACTS.items()]
    emit(rows, as_json, lambda rs: "\n".join(
        [f"{'dataset':<22} {'rows':>6} {'features':>8}  {'task':<11} classes"]
        + [f"{r['name']:<22} {r['rows']:>6} {r['features']:>8}  {r['task']:<11} "
           f"{r['classes'] or '-'}" for r in rs]))
