"""The ``autonn`` command line: parses options and calls the library.

Options are defined once and stacked as decorators; heavy imports stay inside commands so that
``autonn --help`` answers at once. Exit codes: 0 done, 2 bad input, 130/143 interrupted.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from autonn.errors import AutonnError

EXIT_BAD_INPUT = 2
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _friendly_errors(fn: Callable) -> Callable:
    """An AutonnError becomes one red line and exit code 2 (a traceback with --debug)."""

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


def _stack(*decorators: Callable) -> Callable:
    def apply(fn: Callable) -> Callable:
        for decorator in reversed(decorators):
            fn = decorator(fn)
        return fn
    return apply


storage_option = click.option(
    "--storage", envvar="AUTONN_STORAGE", default=None, show_envvar=True,
    help="Optuna storage: an RDB URL (sqlite:///, postgresql://) or a journal file. "
         "Default: ./mlruns/optuna.journal.")
study_option = click.option("--study", envvar="AUTONN_STUDY", default=None, show_envvar=True,
                            help="Study name. Default: the dataset's name (or the only study).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print stable JSON for scripts.")
dataset_option = click.option("--dataset", envvar="AUTONN_DATASET", show_envvar=True,
                              help="A bundled dataset (see `autonn datasets`).")
config_argument = click.argument("config_file", required=False,
                                 type=click.Path(dir_okay=False, exists=False))
tracking_option = click.option(
    "--tracking-uri", envvar=["AUTONN_TRACKING_URI", "MLFLOW_TRACKING_URI"], show_envvar=True,
    help="MLflow tracking URI (an http:// server, a database URL). "
         "Default: sqlite under ./mlruns.")


def _emit(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str) if as_json else text(data))


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="autonn")
def main(debug: bool) -> None:
    """autonn: search neural architectures with Optuna, track every trial in MLflow."""


@main.command()
@_stack(config_argument, dataset_option)
@click.option("--data", type=click.Path(dir_okay=False),
              help="Your own table: a CSV, TSV or Parquet file (with --target).")
@click.option("--target", help="The column of --data to predict.")
@click.option("--test", "test_data", type=click.Path(dir_okay=False),
              help="A held-out file of the same columns, scored only by the best model.")
@click.option("--group-column", help="Rows sharing this column's value stay in one split.")
@click.option("--task", type=click.Choice(["auto", "binary", "multiclass", "regression"]),
              help="The task; auto infers it from the target.")
@study_option
@click.option("--n-trials", type=click.IntRange(min=1),
              help="Finished trials the study should hold in all (a rerun completes what is left).")
@click.option("--timeout", type=click.FloatRange(min=0), help="Start no trial after this many seconds.")
@click.option("--epochs", type=click.IntRange(min=1), help="Fix the epoch budget of every trial.")
@click.option("--objectives", help="Comma-separated: val_metric first, then any of params, latency "
                                   "(ms per 256 rows), flops. Several: a multi-objective study "
                                   "(NSGA-II unless --sampler).")
@click.option("--warm-start", multiple=True, help="A study (or MLflow run id) whose best trials run "
                                                  "first, rescaled to this data. Repeatable.")
@click.option("--builtin-starts/--no-builtin-starts", default=None,
              help="Run a few architectures that do well on tables first (default: on).")
@click.option("--init-from", type=click.Path(), help="An exported autonn model: its architecture "
                                                    "is fixed and its weights start each trial.")
@click.option("--family", type=click.Choice(["mlp", "resmlp", "cnn", "auto"]),
              help="Architecture family: mlp, resmlp (residual), cnn (image/signal rows), or auto "
                   "(searched among those the data allows).")
@click.option("--metric", help="Validation metric to optimise (accuracy, f1, roc_auc, rmse, r2, ...).")
@click.option("--sampler", envvar="AUTONN_SAMPLER", show_envvar=True,
              type=click.Choice(["tpe", "random", "gp", "cmaes", "qmc", "nsga2"]), help="Optuna sampler.")
@click.option("--pruner", envvar="AUTONN_PRUNER", show_envvar=True,
              type=click.Choice(["median", "hyperband", "halving", "none"]), help="Optuna pruner.")
@click.option("--device", envvar="AUTONN_DEVICE", show_envvar=True,
              help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps.")
@click.option("--seed", type=int, envvar="AUTONN_SEED", show_envvar=True,
              help="Study seed; each trial's seed is seed + trial number.")
@click.option("--workers", type=click.IntRange(min=1), default=1, envvar="AUTONN_WORKERS",
              show_envvar=True, help="Worker processes on this machine (CPU threads are split "
                                     "between them; with --device cuda, GPUs are taken in turn).")
@_stack(storage_option, tracking_option)
@click.option("--experiment", envvar="AUTONN_EXPERIMENT", show_envvar=True,
              help="MLflow experiment name. Default: the study's name.")
@click.option("--no-tracking", is_flag=True, help="Do not write to MLflow.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary; errors only.")
@_friendly_errors
def search(config_file: str | None, storage: str | None, tracking_uri: str | None,
           experiment: str | None, no_tracking: bool, quiet: bool, epochs: int | None,
           workers: int, **options: Any) -> None:
    """Run a search, or continue it: the same command again finishes an interrupted study."""
    from autonn.runner import run_from_cli

    options["warm_start"] = list(options["warm_start"]) or None
    if options.get("objectives"):
        options["objectives"] = [o.strip() for o in options["objectives"].split(",") if o.strip()]
    code = run_from_cli(config_file, options, epochs=epochs, storage=storage,
                        tracking_uri=tracking_uri, experiment=experiment, tracking=not no_tracking,
                        quiet=quiet, workers=workers)
    sys.exit(code)


@main.command()
@_stack(storage_option, json_option)
@_friendly_errors
def studies(storage: str | None, as_json: bool) -> None:
    """The studies in the store, with trial counts and best values."""
    from autonn.report import study_rows
    from autonn.storage import open_storage

    rows = study_rows(open_storage(storage))
    _emit(rows, as_json, lambda rs: "\n".join(
        [f"{'study':<24} {'metric':<12} {'trials':>6} {'complete':>8} {'pruned':>6} {'fail':>4}  best"]
        + [f"{r['study']:<24} {r['metric'] or '-':<12} {r['trials']:>6} {r['complete']:>8} "
           f"{r['pruned']:>6} {r['fail']:>4}  {_fmt(r['best_value'])}" for r in rs]) if rs
        else "No studies yet: run `autonn search --dataset iris`.")


@main.command()
@_stack(study_option, storage_option)
@click.option("--top", type=click.IntRange(min=1), help="Only the K best trials.")
@click.option("--pareto", is_flag=True, help="Only the Pareto front of a multi-objective study.")
@json_option
@_friendly_errors
def trials(study: str | None, storage: str | None, top: int | None, pareto: bool,
           as_json: bool) -> None:
    """Ranked trials: value, state, duration and architecture."""
    from autonn.objectives import pareto_rows
    from autonn.report import ranked_trials
    from autonn.search import load_study

    found = load_study(study, storage)
    if pareto:
        rows = pareto_rows(found)[:top] if top else pareto_rows(found)
        _emit(rows, as_json, _pareto_table)
        return
    _emit(ranked_trials(found, top), as_json, _trials_table)


def _pareto_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "No completed trial yet."
    names = [k for k in rows[0] if k not in ("rank", "trial", "architecture", "mlflow_run_id")]
    lines = [f"{'rank':>4} {'trial':>5} " + " ".join(f"{n:>12}" for n in names) + "  architecture"]
    lines += [f"{r['rank']:>4} {r['trial']:>5} " + " ".join(f"{_fmt(r[n]):>12}" for n in names)
              + f"  {r['architecture']}" for r in rows]
    return "\n".join(lines)


def _trials_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'rank':>4} {'trial':>5} {'state':<8} {'value':>9} {'seconds':>8}  architecture"]
    lines += [f"{_fmt(r['rank']):>4} {r['trial']:>5} {r['state']:<8} {_fmt(r['value']):>9} "
              f"{_fmt(r['duration_s']):>8}  {r['architecture']}" for r in rows]
    return "\n".join(lines)


@main.command()
@_stack(study_option, storage_option, json_option)
@_friendly_errors
def best(study: str | None, storage: str | None, as_json: bool) -> None:
    """The best trial's value, parameters and MLflow run id."""
    from autonn.search import best_trial, load_study

    found = load_study(study, storage)
    trial = best_trial(found)
    data = {"study": found.study_name, "trial": trial.number, "value": trial.values[0],
            "metric": found.user_attrs.get("metric"), "direction": found.directions[0].name.lower(),
            "params": trial.params, "test_score": found.user_attrs.get("test_score"),
            "mlflow_run_id": trial.user_attrs.get("mlflow_run_id")}
    _emit(data, as_json, lambda d: "\n".join(f"{k}: {v}" for k, v in d.items()))


@main.command()
@_stack(config_argument, dataset_option, json_option)
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
    _emit({"task": task, "space": dims}, as_json, lambda d: f"task: {task}\n" + "\n".join(
        f"  {k:<22} {v}" for k, v in d["space"].items()))


@main.command()
@json_option
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


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback exposes the UI to the network.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@_stack(tracking_option, study_option)
@_friendly_errors
def ui(host: str, port: int, tracking_uri: str | None, study: str | None) -> None:
    """The MLflow UI on this project's store, with the address of each study's runs table."""
    from autonn.ui import serve

    if host not in LOOPBACK:
        click.secho(f"Warning: binding to {host} exposes the MLflow UI beyond this machine.",
                    fg="yellow", err=True)
    sys.exit(serve(host, port, tracking_uri, study, echo=click.echo))



EXPORT_FORMATS = ("state_dict", "onnx", "torchscript", "mlflow")  # autonn.formats.FORMATS


@main.command()
@study_option
@click.option("--run", "run_id", help="An MLflow run id instead of --study: a study's parent run "
                                      "(exports its best trial) or one trial's run.")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), required=True,
              help="state_dict (.safetensors + JSON, runs no code), onnx, torchscript, or an "
                   "mlflow model directory.")
@click.option("--out", type=click.Path(), help="Where to write. Default: <study>.<format suffix>.")
@click.option("--retrain", is_flag=True, help="Train the architecture on train + validation rows "
                                              "before exporting (default: the trial's own weights).")
@click.option("--pareto-rank", type=click.IntRange(min=1),
              help="Export this member of the Pareto front (1: best metric; see trials --pareto).")
@click.option("--max-params", type=click.IntRange(min=1),
              help="Export the best-metric trial with at most this many parameters.")
@_stack(storage_option, tracking_option)
@click.option("--no-tracking", is_flag=True, help="Do not log the file's sha256 to MLflow.")
@json_option
@_friendly_errors
def export(study: str | None, run_id: str | None, fmt: str, out: str | None, retrain: bool,
           pareto_rank: int | None, max_params: int | None, storage: str | None,
           tracking_uri: str | None, no_tracking: bool, as_json: bool) -> None:
    """Export a study's best model, preprocessing and labels included, as one file or directory."""
    import dataclasses

    from autonn.export import export_model
    from autonn.tracking import default_tracking_uri, trial_of_run

    if study and run_id:
        raise click.UsageError("give --study or --run, not both.")
    uri = tracking_uri or default_tracking_uri()
    trial = None
    if run_id:
        study, trial = trial_of_run(uri, run_id)
    done = export_model(fmt, out, study=study, trial=trial, retrain=retrain, storage=storage,
                        tracking_uri=None if no_tracking else uri, pareto_rank=pareto_rank,
                        max_params=max_params)
    data = {k: str(v) if k == "path" else v for k, v in dataclasses.asdict(done).items()}
    _emit(data, as_json, lambda d: (
        f"Exported trial {d['trial']} of study '{d['study']}'"
        f"{' (retrained on train + validation)' if d['retrained'] else ''} as {d['format']}: "
        f"{d['path']}\n  validation {d['metric']} {_fmt(d['value'])}, test {d['metric']} "
        f"{_fmt(d['test_score'])}\n  sha256 {d['sha256']}"
        + (f" (logged to MLflow run {d['mlflow_run_id']})" if d["mlflow_run_id"] else "")))


@main.command()
@click.option("--model", "model_path", required=True, type=click.Path(),
              help="An autonn export: .safetensors, .onnx, .pt or an MLflow model directory.")
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False),
              help="Rows to predict: CSV, TSV or Parquet with the training table's columns.")
@click.option("--output", type=click.Path(dir_okay=False),
              help="Write predictions here (.csv or .parquet). Default: CSV on stdout.")
@click.option("--proba", is_flag=True, help="Class probabilities instead of labels.")
@click.option("--trust-model", is_flag=True, help="Load a TorchScript or MLflow model autonn did "
                                                  "not export on this machine (it can run code).")
@_friendly_errors
def predict(model_path: str, input_path: str, output: str | None, proba: bool,
            trust_model: bool) -> None:
    """Predict with an exported model: labels, values, or --proba probabilities."""
    from autonn.predictor import load, write_predictions
    from autonn.tables import read_table

    model = load(model_path, trust_model=trust_model)
    rows = read_table(input_path, option="--input")
    frame = model.predict_frame(rows, proba=proba, source=input_path)
    if output is None:
        click.echo(frame.to_csv(index=False), nl=False)
    else:
        write_predictions(frame, output)
        click.echo(f"Wrote {len(frame)} predictions to {output}", err=True)
