"""Exports round-trip: every format predicts what the search's own best model predicts."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from conftest import working_dir
from mlflow.tracking import MlflowClient
from test_tables import messy_frame

from autonn import load, make_config
from autonn.cli import main
from autonn.cli.models import export
from autonn.errors import ConfigError, DataError, StudyError
from autonn.export.formats import FORMATS
from autonn.export.integrity import sha256
from autonn.export.onnx_raw import raw_inputs
from autonn.search.exporting import export_model
from autonn.search.problem import prepare
from autonn.search.run import run_search
from autonn.tracking.mlflow_tracker import MlflowTracker
from autonn.tracking.runs import default_tracking_uri

BATCHES = (1, 7, 64)


def _search(root, config, tracked):
    with working_dir(root):
        problem = prepare(config)
        tracker = MlflowTracker(default_tracking_uri(), config.study) if tracked else None
        study, final = run_search(problem, tracker=tracker)
    return problem, final


@pytest.fixture(scope="module")
def churn(tmp_path_factory):
    """A tracked classification study on a messy table (text, gaps, dates, ID-like columns)."""
    root = tmp_path_factory.mktemp("churn")
    messy_frame().to_csv(root / "churn.csv", index=False)
    config = make_config(data=str(root / "churn.csv"), target="churn", n_trials=3, seed=1,
                         study="churn", space={"epochs": 6})
    problem, final = _search(root, config, tracked=True)
    rows = messy_frame(n=80, seed=5).drop(columns=["churn"])  # unseen rows, gaps included
    return root, rows, lambda frame: _reference(final, problem.preprocessor.transform(frame))


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory):
    """An untracked regression study on a bundled dataset (raw numeric columns)."""
    root = tmp_path_factory.mktemp("diabetes")
    config = make_config(dataset="diabetes", n_trials=3, seed=0, study="diabetes",
                         space={"epochs": 6})
    problem, final = _search(root, config, tracked=False)
    rows = pd.DataFrame(problem.dataset.X[-64:].astype(np.float64),
                        columns=list(problem.dataset.feature_names))
    return root, rows, lambda frame: _reference(final, frame.to_numpy(np.float32))


def _reference(final, features):
    """What the search's final model (in this process) outputs for encoded rows."""
    with torch.inference_mode():
        return final.module(torch.as_tensor(np.asarray(features, dtype=np.float32))).numpy()


def close_enough(got, expected):
    """Within 1e-5, relative for values above 1 (float32 spacing at 150 is 1.5e-5)."""
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)


def _export(root, study, fmt, **kwargs):
    # named after the format, so that loading tells formats by their content; ONNX files have
    # no magic number and are known by their .onnx suffix
    suffix = {"mlflow": "", "onnx_raw": ".onnx"}.get(fmt, "." + fmt)
    with working_dir(root):
        return export_model(fmt, root / f"{study}-{fmt}{suffix}", study=study, **kwargs)


def test_the_cli_offers_every_format_of_the_registry():
    choice = next(p for p in export.params if p.name == "fmt_name").type
    assert list(choice.choices) == list(FORMATS)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", ["churn", "diabetes"])
def test_every_format_predicts_like_the_searchs_best_model(fmt, case, request):
    root, rows, reference = request.getfixturevalue(case)
    if fmt == "onnx_raw" and case == "churn":  # its signup dates have no ONNX parser
        with pytest.raises(ConfigError, match="hold dates"):
            _export(root, case, fmt)
        return
    done = _export(root, case, fmt)
    model = load(done.path)
    for n in BATCHES:
        got = model.predict_proba(rows[:n]) if case == "churn" else model.outputs(rows[:n])
        close_enough(got, reference(rows[:n]))
    if fmt == "onnx_raw":  # onnxruntime alone, on the raw columns, gives the same
        import onnxruntime as ort

        session = ort.InferenceSession(str(done.path), providers=["CPUExecutionProvider"])
        close_enough(session.run(None, raw_inputs(rows, model.bundle.encoder))[0],
                     reference(rows))
    expected = reference(rows)
    if case == "churn":  # labels in the user's own terms, from the same probabilities
        assert set(model.predict(rows)) <= {"yes", "no"}
        assert list(model.predict(rows[:7])) == list(
            np.array(model.bundle.classes)[expected[:7].argmax(axis=1)])
    else:
        assert model.predict(rows).shape == (64,)


def test_onnx_runs_in_onnxruntime_alone_with_a_dynamic_batch(diabetes):
    import onnx
    import onnxruntime as ort

    root, rows, reference = diabetes
    done = _export(root, "diabetes", "onnx")
    onnx.checker.check_model(onnx.load(str(done.path)), full_check=True)
    session = ort.InferenceSession(str(done.path), providers=["CPUExecutionProvider"])
    (feature_input,) = session.get_inputs()
    assert feature_input.shape[0] == "batch"
    for n in BATCHES:  # raw numeric columns straight in: the scaling is inside the graph
        out = session.run(None, {feature_input.name: rows[:n].to_numpy(np.float32)})[0]
        close_enough(out, reference(rows[:n]))


def test_the_mlflow_export_runs_through_mlflow_models_predict(churn):
    root, rows, expected = churn
    done = _export(root, "churn", "mlflow")
    rows[:7].to_csv(root / "rows.csv", index=False)
    subprocess.run([sys.executable, "-m", "mlflow", "models", "predict", "-m", str(done.path),
                    "-i", str(root / "rows.csv"), "-t", "csv", "-o", str(root / "out.json"),
                    "--env-manager", "local"], check=True, capture_output=True, timeout=300)
    served = [row["churn"] for row in json.loads((root / "out.json").read_text())["predictions"]]
    assert served == list(load(done.path).predict(rows[:7]))


def test_the_command_line_exports_logs_the_digest_and_predicts(churn):
    root, rows, _ = churn
    os.chdir(root)
    result = CliRunner().invoke(main, ["export", "--study", "churn", "--format", "state_dict",
                                       "--out", "model.safetensors", "--json"])
    assert result.exit_code == 0, result.output
    done = json.loads(result.output)
    assert done["sha256"] == sha256(root / "model.safetensors")
    assert done["tracking"] == default_tracking_uri()
    client = MlflowClient(default_tracking_uri())
    experiment = client.get_experiment_by_name("churn").experiment_id
    for _ in range(120):  # sent by a detached process (tracking.outbox)
        tags = client.search_runs([experiment], "tags.`autonn.role` = 'study'")[0].data.tags
        if tags.get("autonn.export.state_dict.sha256") == done["sha256"]:
            break
        time.sleep(0.5)
    assert tags["autonn.export.state_dict.sha256"] == done["sha256"]
    rows.head(9).to_csv("rows.csv", index=False)
    result = CliRunner().invoke(main, ["predict", "--model", "model.safetensors", "--input",
                                       "rows.csv", "--output", "labels.csv"])
    assert result.exit_code == 0, result.output
    labels = pd.read_csv("labels.csv")
    assert list(labels.columns) == ["churn"] and len(labels) == 9
    result = CliRunner().invoke(main, ["predict", "--model", "model.safetensors", "--input",
                                       "rows.csv", "--proba"])
    proba = pd.read_csv(__import__("io").StringIO(result.output))
    assert list(proba.columns) == ["proba_no", "proba_yes"]
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-6)


def test_a_trial_run_id_exports_that_trial(churn):
    root, _, _ = churn
    os.chdir(root)
    client = MlflowClient(default_tracking_uri())
    experiment = client.get_experiment_by_name("churn")
    trial_run = [r for r in client.search_runs([experiment.experiment_id])
                 if r.data.tags.get("autonn.trial") == "1"][0]
    result = CliRunner().invoke(main, ["export", "--run", trial_run.info.run_id, "--format",
                                       "onnx", "--out", "trial1.onnx", "--json"])
    if trial_run.info.status != "FINISHED":  # trial 1 was pruned or failed: refused, by name
        assert result.exit_code == 2 and "trial 1 cannot be exported" in result.output
    else:
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["trial"] == 1 and load("trial1.onnx").bundle.info["trial"] == 1


def test_a_chosen_trial_exports_as_searched_or_refitted(diabetes):
    root, rows, _ = diabetes
    best = load(_export(root, "diabetes", "state_dict").path).bundle.info["trial"]
    with working_dir(root):
        searched = export_model("state_dict", "searched.safetensors", study="diabetes", trial=best)
        refitted = export_model("state_dict", "refitted.safetensors", study="diabetes", trial=best,
                                retrain=True)
    assert not searched.retrained and refitted.retrained
    assert load(root / "refitted.safetensors").bundle.info["refit"] is True
    assert refitted.test_score is not None and searched.test_score is not None
    assert not np.allclose(load(root / "refitted.safetensors").outputs(rows),
                           load(root / "searched.safetensors").outputs(rows), atol=1e-3)


def test_a_study_without_a_completed_trial_exports_nothing(tmp_path):
    import optuna

    from autonn.search.study import create_study

    problem = prepare(make_config(dataset="iris", study="empty"))
    study = create_study(problem, "sqlite:///s.db")
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    before = set(os.listdir(tmp_path))
    with pytest.raises(StudyError, match=r"study 'empty' has no completed trial .*1 FAIL"):
        export_model("onnx", tmp_path / "x.onnx", study="empty", storage="sqlite:///s.db")
    assert set(os.listdir(tmp_path)) == before


def test_wrong_columns_and_values_are_named(diabetes):
    root, rows, _ = diabetes
    model = load(_export(root, "diabetes", "state_dict").path)
    with pytest.raises(DataError, match=r"missing column\(s\) 'bmi'"):
        model.predict(rows.drop(columns=["bmi"]))
    with pytest.raises(DataError, match=r"unexpected column\(s\) 'colour'"):
        model.predict(rows.assign(colour="red"))
    with pytest.raises(DataError, match=r"Renamed\? 'BMI_' for 'bmi'|'BMI_'"):
        model.predict(rows.rename(columns={"bmi": "BMI_"}))
    bad = rows.astype({"bp": object})
    bad.loc[bad.index[3], "bp"] = "high"
    with pytest.raises(DataError, match=r"column 'bp' must hold numbers, but row 3 holds 'high'"):
        model.predict(bad)
    gap = rows.copy()
    gap.loc[gap.index[2], "s1"] = np.nan
    with pytest.raises(DataError, match=r"column 's1' is empty at row 2"):
        model.predict(gap)
