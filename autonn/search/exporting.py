"""A study's final model (or any completed trial) as a file other tools load.

By default the model the search ended with, saved beside the study: written at once, no training.
A chosen trial is rebuilt from the study's stored config and trained again with its own seed
(the search's own network on the same machine); ``retrain`` refits it on every non-test row for
the epochs the search found best. The pipeline (column encoding, network(s), label mapping) is
written atomically in the chosen format, recorded as one of autonn's own exports and its sha256
logged to the study's MLflow parent run.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna

from autonn.errors import ExportError, StudyError
from autonn.export import safetensors_file
from autonn.export.formats import FORMATS, Format, get_format
from autonn.export.integrity import record_export, sha256
from autonn.export.loading import is_own_export
from autonn.export.onnx_metadata import validation_score
from autonn.export.signing import VERIFIED
from autonn.export.staging import staged
from autonn.masking import mask
from autonn.search.ranking import leading_whole_trial, pick_pareto
from autonn.search.storage import example_path, final_model_path, load_study
from autonn.tracking.outbox import post


@dataclass(frozen=True)
class Exported:
    """What ``export_model`` wrote."""

    path: Path
    format: str
    sha256: str
    study: str
    trial: int  # the best trial in the model
    trials: dict[int, int]  # every trial in the model, with its weight (one: a single trial)
    metric: str
    value: float  # the model's validation score (an ensemble's, on the rows it was chosen on)
    test_score: float | None  # the exported network's score on the test split
    retrained: bool
    tracking: str | None = None  # the MLflow store whose study run gets the sha256 (masked)
    not_retrained: list[int] = field(default_factory=list)  # a refit the budget had no time for


def export_model(fmt: str, out: str | Path | None = None, *, study: str | None = None,
                 trial: int | None = None, retrain: bool = False, storage: Any = None,
                 tracking_uri: str | None = None, pareto_rank: int | None = None,
                 max_params: int | None = None, force: bool = False) -> Exported:
    """Export ``study``'s final model as ``fmt`` to ``out``: the model its last search ended with
    (saved beside the study, and signed with your key), or, for a chosen trial (``trial``, the
    Pareto member of ``pareto_rank``, the best within ``max_params`` parameters), that trial
    replayed; ``retrain`` refits it on every non-test row.

    ``tracking_uri`` names the MLflow store whose parent run receives the file's sha256 and path
    (sent in the background, ``tracking.outbox``); None logs nothing. An existing ``out`` is
    replaced only if it is an export signed with your key, or with ``force``.
    """
    writer = get_format(fmt)
    found = load_study(study, storage)
    chosen = _completed_trial(found, trial)
    if pareto_rank is not None or max_params is not None:
        chosen = pick_pareto(found, pareto_rank, max_params)
    out = Path(out) if out is not None else Path(f"{found.study_name}{writer.suffix}")
    _check_target(out, fmt, force)
    saved = final_model_path(storage, found.study_name)
    searched = trial is None and pareto_rank is None and max_params is None and not retrain
    with staged(out) as private:
        if searched and saved is not None and saved.is_file():
            info = _write_saved(writer, saved, private, example_path(storage, found.study_name),
                                found)
        else:
            info = _write_replayed(writer, found, chosen, retrain, private)
        # taken from the private staging: what lands at ``out`` later may be someone else's
        digest = sha256(private)
        signed = writer.implementation().provenance(private, str(out))
    record_export(out, fmt, digest, signed.signature)
    tags = {f"autonn.export.{fmt}.sha256": digest, f"autonn.export.{fmt}.path": str(out.resolve())}
    tracked = bool(tracking_uri) and post(tracking_uri, found.study_name, tags)
    trials = {int(k): int(v) for k, v in (info.get("trials") or {info["trial"]: 1}).items()}
    return Exported(out, fmt, digest, found.study_name, int(info["trial"]), trials,
                    info["metric"], float(validation_score(info)), info["test_score"],
                    bool(info.get("refit")), mask(tracking_uri) if tracked else None,
                    [int(n) for n in info.get("refit_skipped") or []])


def _write_saved(writer: Format, saved: Path, staged: Path, example_file: Path,
                 study: optuna.Study) -> dict[str, Any]:
    """Write the search's saved final model in ``writer``'s format; returns its info. A
    state_dict export is the saved file itself, checked and copied without torch."""
    data, source = safetensors_file.read_file(saved, str(saved)), str(saved)
    if writer.name == safetensors_file.KIND:  # the search saved it in this format: a copy
        metadata, signed = safetensors_file.check(data, source)
        _own_saved_model(signed, saved)
        staged.write_bytes(data)
        return json.loads(metadata[safetensors_file.MANIFEST_KEY])["info"]
    from autonn.export import state_dict  # torch: for the formats that rebuild the network
    from autonn.search.final import now  # with the network above

    bundle, signed = state_dict.bundle_of(data, source)
    _own_saved_model(signed, saved)
    bundle = replace(bundle, info={**bundle.info, "exported_at": now()})
    example = _example(example_file, study) if writer.takes_example else None
    writer.write(bundle, staged, example)
    return bundle.info


def _own_saved_model(signed: Any, saved: Path) -> None:
    """Refuse a saved final model not signed with your key: not the one your search saved."""
    if signed.status != VERIFIED:
        raise ExportError(f"{saved}: the search's saved model is not signed with your key "
                          f"({signed.detail}), so it is not the model your search saved; run "
                          "the search again, or export a chosen trial with --trial.")


def _write_replayed(writer: Format, study: optuna.Study, chosen: optuna.trial.FrozenTrial,
                    retrain: bool, staged: Path) -> dict[str, Any]:
    """Train ``chosen`` again (refitted with ``retrain``) and write it; returns its info."""
    from autonn.data.datasets import example_rows  # pandas: with the training below
    from autonn.search.final import finish, make_bundle, replay  # torch: training

    problem = _rebuild(study)
    final = finish(problem, [replay(problem, chosen)], ensemble=0, refit=retrain)
    bundle = make_bundle(problem, final, {
        "study": study.study_name, "trial": chosen.number, "metric": problem.metric_name,
        "value": chosen.values[0], "test_score": final.test_score, "refit": retrain})
    writer.write(bundle, staged, example_rows(problem.dataset, 5) if writer.takes_example
                 else None)
    return bundle.info


def _example(path: Path, study: optuna.Study) -> Any:
    """The input example the search kept beside its final model; else the table's first rows
    (a study saved before examples were kept)."""
    from autonn.data.datasets import example_from_json, example_rows  # pandas: mlflow only

    try:
        return example_from_json(path.read_text())
    except (OSError, ValueError):
        return example_rows(_dataset(study), 5)


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
        return leading_whole_trial(study)
    match = [t for t in trials if t.number == number]
    if not match or match[0].state != optuna.trial.TrialState.COMPLETE:
        state = match[0].state.name if match else "no such trial"
        raise StudyError(f"study '{study.study_name}' trial {number} cannot be exported ({state});"
                         " pick a COMPLETE trial (see `autonn trials`).")
    return match[0]


def _check_target(out: Path, fmt: str, force: bool = False) -> None:
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
    if force or not (out.exists() or out.is_symlink()):
        return
    if out.is_dir() and not any(out.iterdir()):
        return
    if out.is_symlink() or not is_own_export(out):
        raise ExportError(f"--out {out} exists and is not an export signed with your key; autonn "
                          "will not replace it. Give a new path, or --force to replace it.")


def _dataset(study: optuna.Study) -> Any:
    from autonn.data.datasets import load_data  # pandas: only to rebuild
    from autonn.search.study import config_of  # pydantic, torch: as above

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the search already reported dropped columns
        return load_data(config_of(study), f"study '{study.study_name}'")


def _rebuild(study: optuna.Study) -> Any:
    """The study's data, split (and folded) exactly as the search had it: a ``Problem``."""
    from autonn.search.problem import make_problem  # torch: only to rebuild
    from autonn.search.study import config_of  # as above

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_problem(config_of(study), _dataset(study), f"study '{study.study_name}'")
