"""Using models: ``export`` (a study's trial as a file) and ``predict`` (a file on new rows)."""

from __future__ import annotations

import dataclasses
import warnings

import click

from autonn.cli.options import (
    emit,
    fmt,
    friendly_errors,
    json_option,
    stack,
    storage_option,
    study_option,
    tracking_option,
)
from autonn.data.files import read_table
from autonn.errors import DataWarning
from autonn.export.formats import FORMATS
from autonn.masking import printable

FORMAT_HELP = "; ".join(f"{name}: {f.help}" for name, f in FORMATS.items())


@click.command()
@study_option
@click.option("--run", "run_id", help="An MLflow run id instead of --study: a study's parent run "
                                      "(exports its best trial) or one trial's run.")
@click.option("--format", "fmt_name", type=click.Choice(list(FORMATS)), required=True,
              help=FORMAT_HELP)
@click.option("--out", type=click.Path(), help="Where to write. Default: <study>.<format suffix>.")
@click.option("--force", is_flag=True, help="Replace --out even if it is not an export signed "
                                            "with your key.")
@click.option("--retrain", is_flag=True, help="Train the architecture on train + validation rows "
                                              "before exporting (default: the trial's own weights).")
@click.option("--pareto-rank", type=click.IntRange(min=1),
              help="Export this member of the Pareto front (1: best metric; see trials --pareto).")
@click.option("--max-params", type=click.IntRange(min=1),
              help="Export the best-metric trial with at most this many parameters.")
@stack(storage_option, tracking_option)
@click.option("--no-tracking", is_flag=True, help="Do not log the file's sha256 to MLflow.")
@json_option
@friendly_errors
def export(study: str | None, run_id: str | None, fmt_name: str, out: str | None, force: bool,
           retrain: bool, pareto_rank: int | None, max_params: int | None, storage: str | None,
           tracking_uri: str | None, no_tracking: bool, as_json: bool) -> None:
    """Export a study's best model, preprocessing and labels included, as one file or directory."""
    from autonn.search.exporting import (
        export_model,  # torch, optuna: kept out of --help
    )
    from autonn.tracking.runs import (  # mlflow: as above
        default_tracking_uri,
        trial_of_run,
    )

    if study and run_id:
        raise click.UsageError("give --study or --run, not both.")
    uri = tracking_uri or default_tracking_uri()
    trial = None
    if run_id:
        study, trial = trial_of_run(uri, run_id)
    done = export_model(fmt_name, out, study=study, trial=trial, retrain=retrain, storage=storage,
                        tracking_uri=None if no_tracking else uri, pareto_rank=pareto_rank,
                        max_params=max_params, force=force)
    data = {k: str(v) if k == "path" else v for k, v in dataclasses.asdict(done).items()}
    data["trials"] = {str(k): v for k, v in done.trials.items()}
    emit(data, as_json, lambda d: (
        f"Exported {_what(done)} of study '{d['study']}'"
        f"{_retrained(done)} as {d['format']}: "
        f"{d['path']}\n  validation {d['metric']} {fmt(d['value'])}, test {d['metric']} "
        f"{fmt(d['test_score'])}\n  sha256 {d['sha256']}"
        + (f" (sent to the study's MLflow run at {d['tracking']} in the background)"
           if d["tracking"] else "")))


def _retrained(done) -> str:
    """`` (retrained on train + validation)``, naming any trial the budget left as searched."""
    if not done.retrained:
        return ""
    skipped = done.not_retrained
    but = f", but for trial{'s' if len(skipped) > 1 else ''} {', '.join(map(str, skipped))}" \
        if skipped else ""
    return f" (retrained on train + validation{but})"


def _what(done) -> str:
    """``trial 3``, or ``the final model (an ensemble of trials 3 x2, 1 x1)``."""
    if len(done.trials) == 1:
        return f"trial {done.trial}"
    return "the final model (an ensemble of trials " + ", ".join(
        f"{n} x{w}" for n, w in done.trials.items()) + ")"


@click.command()
@click.option("--model", "model_path", required=True, type=click.Path(),
              help="An autonn export: .safetensors, .onnx, .pt or an MLflow model directory.")
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False),
              help="Rows to predict: CSV, TSV or Parquet with the training table's columns.")
@click.option("--output", type=click.Path(dir_okay=False),
              help="Write predictions here (.csv or .parquet). Default: CSV on stdout.")
@click.option("--proba", is_flag=True, help="Class probabilities instead of labels.")
@click.option("--trust-model", is_flag=True, help="Load a model not signed with your key (autonn "
                                                  "did not export it on this machine); TorchScript,"
                                                  " .pt2 and foreign MLflow models can run code.")
@click.option("--force", is_flag=True, help="Replace --output even if autonn did not write it.")
@click.option("--verbose", is_flag=True, help="Say on stderr who signed the model, and its study, "
                                             "trial and export time.")
@click.option("--expect-study", help="Refuse a model exported from any other study.")
@click.option("--strict", is_flag=True, help="Refuse rows whose categories the model never saw "
                                             "or whose dates do not parse (default: a warning "
                                             "that counts them).")
@friendly_errors
def predict(model_path: str, input_path: str, output: str | None, proba: bool,
            trust_model: bool, force: bool, verbose: bool, expect_study: str | None,
            strict: bool) -> None:
    """Predict with an exported model: labels, values, or --proba probabilities."""
    from autonn.export.loading import load  # torch: kept out of --help
    from autonn.export.predictor import spreadsheet_frame, write_predictions  # with load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # said below, in the command's own words
        model = load(model_path, trust_model=trust_model, expect_study=expect_study)
    note = printable(model.provenance_note or "")
    if verbose or model.provenance != "verified":
        click.secho(f"Model {printable(model_path)}: {note}", err=True,
                    fg=None if model.provenance == "verified" else "yellow")
    rows = read_table(input_path, option="--input")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        frame = model.predict_frame(rows, proba=proba, source=input_path, strict=strict)
    for warning in caught:
        click.secho(f"Warning: {printable(str(warning.message))}", fg="yellow", err=True)
    if output is None:
        click.echo(spreadsheet_frame(frame).to_csv(index=False), nl=False)
    else:
        write_predictions(frame, output, force)
        click.echo(f"Wrote {len(frame)} predictions to {output}", err=True)
