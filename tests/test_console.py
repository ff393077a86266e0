"""What a person sees in the first ten minutes: what the search says, the summary, errors on a
line of their own, help texts, tables, data errors by file line, and Optuna's own tools."""

import json
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from autonn.cli import main
from autonn.errors import DataError, DataWarning
from autonn.export.loading import load
from autonn.search.storage import open_storage

FAST = ("--epochs", "2", "--no-tracking")


def cli(*args):
    return CliRunner().invoke(main, list(args))


def test_the_search_says_what_it_does_before_it_trains_and_counts_states_after():
    result = cli("search", "--dataset", "wine", "--n-trials", "6", "--seed", "1", *FAST)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Data: wine, 178 rows x 13 columns, multiclass (3 classes); trials in " \
           "mlruns/optuna.journal, MLflow runs in off" in out
    assert "Searching 6 trials: metric accuracy (maximize) on 5-fold cross-validation, " \
           "device cpu" in out
    assert out.index("Data: wine") < out.index("Searching") < out.index("Study 'wine'")
    counts = re.search(r"Study 'wine': 6 trials \(([^)]*)\)", out).group(1)
    assert "complete" in counts and sum(int(n) for n in re.findall(r"(\d+) ", counts)) == 6
    again = cli("search", "--dataset", "wine", "--n-trials", "6", "--seed", "1", *FAST)
    assert again.exit_code == 0, again.output
    assert "already holds 6 finished trials: nothing to do" in again.output
    assert "Final model of the last search: test accuracy" in again.output


def test_an_error_after_the_progress_bar_stands_on_its_own_line():
    assert cli("search", "--dataset", "iris", "--n-trials", "2", *FAST).exit_code == 0
    result = cli("search", "--dataset", "iris", "--n-trials", "3", "--epochs", "3",
                 "--no-tracking")
    assert result.exit_code == 2
    line = next(x for x in result.output.splitlines() if "exists with other settings" in x)
    assert line.startswith("Error: study 'iris' exists with other settings")


def test_help_texts_say_what_the_options_do():
    ui = cli("ui", "--help").output
    assert "Print only this study's runs-table address" in ui and "Port the UI listens" in ui
    export = cli("export", "--help").output
    assert "state_dict: one .safetensors file" in export
    assert "exported_program" in export and "mlflow" in export


def test_space_shows_a_table_of_the_dimensions_the_family_uses():
    text = cli("space", "--dataset", "wine").output
    assert text.splitlines()[1].split() == ["dimension", "kind", "values"]
    assert "conv_blocks" not in text and "channels" not in text  # cnn's, not mlp's
    assert "attention_dim" not in text and "{" not in text
    digits = json.loads(cli("space", "--dataset", "digits", "--json").output)["space"]
    assert "kernel_size" not in digits and "n_layers" in digits  # the default family is mlp


def test_datasets_has_a_header_and_class_counts():
    lines = cli("datasets").output.splitlines()
    assert lines[0].split() == ["dataset", "rows", "features", "task", "classes"]
    assert lines[1].split() == ["iris", "150", "4", "multiclass", "3"]
    assert any(line.split()[0] == "diabetes" and line.split()[-1] == "-" for line in lines)


def test_a_typo_on_line_59_is_reported_on_line_59(tmp_path):
    rows = [f"{i},{i % 2}" for i in range(80)]
    rows[57] = "5x,1"  # data row 57: the file's line 59 (the header is line 1)
    (tmp_path / "t.csv").write_text("a,y\n" + "\n".join(rows) + "\n")
    result = cli("search", "--data", str(tmp_path / "t.csv"), "--target", "y", *FAST)
    assert result.exit_code == 2 and "line 59 holds '5x'" in result.output


def test_unseen_categories_and_bad_dates_are_counted_and_refused_when_strict(tmp_path):
    from test_tables import messy_frame

    messy_frame().to_csv(tmp_path / "churn.csv", index=False)
    assert cli("search", "--data", str(tmp_path / "churn.csv"), "--target", "churn",
               "--n-trials", "2", "--study", "churn", *FAST).exit_code == 0
    done = cli("export", "--study", "churn", "--format", "state_dict", "--no-tracking")
    assert done.exit_code == 0, done.output
    rows = messy_frame(n=20, seed=3).drop(columns=["churn"])
    rows.loc[rows.index[:2], "city"] = "Atlantis"
    rows.loc[rows.index[2], "signup"] = "not a date"
    rows.to_csv(tmp_path / "new.csv", index=False)
    model = load("churn.safetensors")
    with pytest.warns(DataWarning, match=r"3 of 20 rows hold categories the model never saw or "
                                         r"dates that do not parse \('city': 2, 'signup': 1\)"):
        model.predict(rows)
    with pytest.raises(DataError, match="3 of 20 rows"):
        model.predict(rows, strict=True)
    result = cli("predict", "--model", "churn.safetensors", "--input", str(tmp_path / "new.csv"))
    assert result.exit_code == 0 and "Warning: " in result.output and "3 of 20 rows" in result.output
    strict = cli("predict", "--model", "churn.safetensors", "--input",
                 str(tmp_path / "new.csv"), "--strict")
    assert strict.exit_code == 2 and "3 of 20 rows" in strict.output


def test_optunas_own_tools_read_the_study_well(tmp_path):
    assert cli("search", "--dataset", "iris", "--n-trials", "2", *FAST).exit_code == 0
    study = optuna.load_study(study_name="iris", storage=open_storage(None))
    assert study.metric_names == ["val_accuracy"]
    for key, value in study.user_attrs.items():
        assert len(json.dumps(value)) < 80, key
    assert {"task", "metric", "direction", "dataset", "seed", "test_score"} <= set(study.user_attrs)
    # Optuna's own command prints a row per study, user attributes included: one screen wide
    journal = str(tmp_path / "mlruns" / "optuna.journal")
    listed = subprocess.run([str(Path(sys.executable).with_name("optuna")), "studies",
                             "--storage", journal, "--storage-class", "JournalFileBackend"],
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if "iris" in line]
    assert rows and max(map(len, rows)) < 320, rows


def test_the_readme_says_how_to_avoid_the_cuda_build_before_the_run_command():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert readme.index("download.pytorch.org/whl/cpu") < readme.index("<!-- run-command -->")
    # into the environment the run command then uses: created and activated on the same line
    line = next(x for x in readme.splitlines() if "download.pytorch.org/whl/cpu" in x)
    assert line.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install torch")


def test_export_names_an_mlflow_directory_like_a_suffix(tmp_path):
    assert cli("search", "--dataset", "iris", "--n-trials", "2", *FAST).exit_code == 0
    done = cli("export", "--study", "iris", "--format", "mlflow", "--no-tracking", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["path"] == "iris.mlflow"
    assert (Path("iris.mlflow") / "MLmodel").is_file() and not Path("iris").exists()


def test_export_names_the_ensemble_it_ships_and_onnx_gives_the_models_own_score():
    import onnxruntime

    from autonn.export import state_dict

    assert cli("search", "--dataset", "iris", "--n-trials", "4", "--seed", "0", *FAST).exit_code == 0
    info = state_dict.read_bundle(Path("mlruns/models/iris.safetensors")).info
    done = cli("export", "--study", "iris", "--format", "onnx", "--no-tracking", "--json")
    assert done.exit_code == 0, done.output
    shipped = json.loads(done.output)
    assert shipped["trials"] == info["trials"] and shipped["value"] == info["selection_score"]
    meta = onnxruntime.InferenceSession("iris.onnx").get_modelmeta().custom_metadata_map
    assert float(meta["validation_score"]) == info["selection_score"]
    assert json.loads(meta["trials"]) == info["trials"]
    said = cli("export", "--study", "iris", "--format", "onnx", "--no-tracking").output
    if len(info["trials"]) > 1:
        listed = ", ".join(f"{n} x{w}" for n, w in info["trials"].items())
        assert f"Exported the final model (an ensemble of trials {listed}) of study 'iris'" in said
    else:
        assert f"Exported trial {info['trial']} of study 'iris'" in said
