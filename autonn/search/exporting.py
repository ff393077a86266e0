"""A study's best trial (or any completed trial) as a file other tools load.

The trial is rebuilt from the study's stored config and trained again with its own seed, which
gives the search's own network on the same machine; ``retrain`` instead trains its architecture on
the training and validation rows together for the epochs the search found best. The pipeline
(column encoding, network, label mapping) is written atomically in the chosen format, recorded as
one of autonn's own exports and its sha256 logged to the study's MLflow parent run.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from autonn.data.datasets import example_rows, load_data
from autonn.data.split import Splits, split
from autonn.errors import AutonnError, ExportError, StudyError
from autonn.export.formats import FORMATS, get_format
from autonn.export.integrity import atomic_path, record_export
from autonn.search.final import make_bundle, replay, retrain_winner, test_score
from autonn.search.problem import Problem, make_problem
from autonn.search.ranking import leading_trial, pick_pareto
from autonn.search.study import config_of, load_study
from autonn.tracking.runs import log_export


@dataclass(frozen=True)
class Exported:
    """What ``export_model`` wrote."""

    path: Path
    format: str
    sha256: str
    study: str
    trial: int
    metric: str
    value: float  # the trial's validation score in the search
    test_score: float | None  # the exported network's score on the test split
    retrained: bool
    mlflow_run_id: str | None = None  # the parent run the digest was logged to


def export_model(fmt: str, out: str | Path | None = None, *, study: str | None = None,
                 trial: int | None = None, retrain: bool = False, storage: Any = None,
                 tracking_uri: str | None = None, pareto_rank: int | None = None,
                 max_params: int | None = None) -> Exported:
    """Export ``study``'s best trial (or trial number ``trial``; or the Pareto member of
    ``pareto_rank``, or the best one within ``max_params`` parameters) as ``fmt`` to ``out``.

    ``tracking_uri`` names the MLflow store whose parent run receives the file's sha256; None
    logs nothing.
    """
    writer = get_format(fmt)
    found = load_study(study, storage)
    chosen = _completed_trial(found, trial)
    if pareto_rank is not None or max_params is not None:
        chosen = pick_pareto(found, pareto_rank, max_params)
    out = Path(out) if out is not None else Path(f"{found.study_name}{writer.suffix}")
    _check_target(out, fmt)
    problem, splits = _rebuild(found)
    winner = replay(problem, chosen)
    if retrain:
        problem, winner = retrain_winner(problem, splits, winner)
    score = test_score(problem, winner)
    bundle = make_bundle(problem, winner, {
        "study": found.study_name, "trial": chosen.number, "metric": problem.metric_name,
        "value": chosen.values[0], "test_score": score, "retrained": retrain})
    with atomic_path(out) as staged:
        writer.write(bundle, staged, example_rows(problem.dataset, 5))
    digest = record_export(out, fmt)
    run_id = None
    if tracking_uri:
        try:
            run_id = log_export(tracking_uri, found.study_name, fmt, out, digest)
        except AutonnError as exc:
            warnings.warn(f"exported, but the sha256 was not logged to MLflow: {exc}",
                          RuntimeWarning, stacklevel=2)
    return Exported(out, fmt, digest, found.study_name, chosen.number, problem.metric_name,
                    float(chosen.values[0]), score, retrain, run_id)


def _completed_trial(study: optuna.Study, number: int | None) -> optuna.trial.FrozenTrial:
    trials = study.get_trials(deepcopy=False)
    if number is None:
        complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        if not complete:
            states = {}
            for t in trials:
                states[t.state.name] = states.get(t.state.name, 0) + 1
            summary = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "no trials"
            raise StudyError(f"study '{study.study_name}' has no completed trial to export "
                             f"({summary}); run more trials with `autonn search`.")
        return leading_trial(study)
    match = [t for t in trials if t.number == number]
    if not match or match[0].state != optuna.trial.TrialState.COMPLETE:
        state = match[0].state.name if match else "no such trial"
        raise StudyError(f"study '{study.study_name}' trial {number} cannot be exported ({state});"
                         " pick a COMPLETE trial (see `autonn trials`).")
    return match[0]


def _check_target(out: Path, fmt: str) -> None:
    if FORMATS[fmt].is_directory:
        if out.is_file():
            raise ExportError(f"--out {out} is a file; a {fmt} export is a directory, give a "
                              "new path.")
        if out.is_dir() and any(out.iterdir()) and not (out / "MLmodel").is_file():
            raise ExportError(f"--out {out} is a directory that is not an MLflow model; autonn "
                              "will not replace it. Give a new path.")
    elif out.is_dir():
        raise ExportError(f"--out {out} is a directory; give a file path such as "
                          f"{out / ('model' + FORMATS[fmt].suffix)}.")


def _rebuild(study: optuna.Study) -> tuple[Problem, Splits]:
    """The study's data, split and prepared exactly as the search had it."""
    config = config_of(study)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the search already reported dropped columns
        dataset = load_data(config, f"study '{study.study_name}'")
        splits = split(dataset, config.training.val_fraction, config.training.test_fraction,
                       config.seed)
    return make_problem(config, dataset, f"study '{study.study_name}'", splits), splits
