"""Exports that serve light: minimal requirements, a typed MLflow signature, self-describing ONNX."""

import json
import subprocess
import sys
import textwrap
import venv
import warnings

import pandas as pd
import pytest
from conftest import iris_exports, working_dir
from mlflow.exceptions import MlflowException
from test_tables import messy_frame

from autonn import load, make_config
from autonn.errors import ConfigError
from autonn.export.onnx_raw import raw_inputs
from autonn.search.exporting import export_model
from autonn.search.problem import prepare
from autonn.search.run import run_search

IRIS_COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
HEAVY = ("optuna", "mlflow", "cmaes", "click", "tqdm", "scikit-learn", "pydantic", "pyyaml")


@pytest.fixture(scope="module")
def churn(tmp_path_factory):
    """An MLflow export of a messy table: text with gaps, booleans, ISO dates, ignored columns."""
    root = tmp_path_factory.mktemp("churn")
    messy_frame().to_csv(root / "churn.csv", index=False)
    with working_dir(root):
        run_search(prepare(make_config(data=str(root / "churn.csv"), target="churn", n_trials=2,
                                       seed=1, study="churn", space={"epochs": 3})))
        path = export_model("mlflow", root / "churn.mlflow", study="churn").path
    rows = pd.read_csv(root / "churn.csv").drop(columns=["churn"]).head(9)
    return root, path, rows


@pytest.fixture(scope="module")
def iris_onnx(tmp_path_factory):
    root = tmp_path_factory.mktemp("iris")
    return iris_exports(root, ("onnx",))["onnx"]


def test_the_requirements_name_only_what_serving_imports(churn):
    _, path, _ = churn
    lines = (path / "requirements.txt").read_text().split()
    names = {line.split("=")[0].split(">")[0].split("<")[0].lower() for line in lines}
    assert names == {"mlflow-skinny", "torch", "numpy", "pandas", "safetensors"}
    assert not any("+" in line for line in lines)  # no local build tag (+cpu) PyPI lacks
    assert not set(HEAVY) & names


def test_the_signature_types_each_column_and_mlflow_enforces_it(churn):
    import mlflow
    from mlflow.models import get_model_info

    _, path, rows = churn
    inputs = {c.name: c for c in get_model_info(str(path)).signature.inputs.inputs}
    types = {name: spec.to_dict()["type"] for name, spec in inputs.items()}
    assert types["age"] == types["income"] == "double"  # age: integers with gaps
    assert types["city"] == types["plan"] == types["signup"] == "string"
    assert types["member"] == "boolean"
    assert {n for n, c in inputs.items() if not c.required} == {"customer_id", "constant", "empty"}
    outputs = get_model_info(str(path)).signature.outputs.input_names()
    assert outputs == ["churn", "proba_no", "proba_yes"]

    model = mlflow.pyfunc.load_model(str(path))
    labels = model.predict(rows)["churn"]  # gaps in age and city are valid input
    assert list(labels) == list(load(path).predict(rows))
    wrong = rows.assign(income=["a lot"] * len(rows))
    with pytest.raises(MlflowException, match="income"):
        model.predict(wrong)
    with pytest.raises(MlflowException, match=r"missing inputs \['plan'\]"):
        model.predict(rows.drop(columns=["plan"]))
    proba = model.predict(rows, params={"proba": True})
    assert list(proba.columns) == ["proba_no", "proba_yes"]


def test_onnxruntime_alone_reads_labels_and_feature_names(iris_onnx):
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np, onnxruntime as ort
        session = ort.InferenceSession({str(iris_onnx)!r}, providers=["CPUExecutionProvider"])
        meta = session.get_modelmeta()
        x = np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32)
        out = session.run(None, {{session.get_inputs()[0].name: x}})[0]
        print(json.dumps({{"map": meta.custom_metadata_map, "producer": meta.producer_name,
                           "doc": meta.description, "argmax": int(out.argmax()),
                           "autonn": "autonn" in sys.modules}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=120)
    found = json.loads(done.stdout)
    meta = found["map"]
    assert not found["autonn"] and found["producer"] == "autonn" and "features" in found["doc"]
    assert json.loads(meta["class_labels"]) == ["setosa", "versicolor", "virginica"]
    assert json.loads(meta["feature_names"]) == IRIS_COLUMNS
    assert meta["task"] == "multiclass" and meta["metric"] and float(meta["test_score"]) > 0
    assert json.loads(meta["class_labels"])[found["argmax"]] == "setosa"
    assert "autonn" in meta and "autonn.sha256" in meta  # the manifest and digest stay
    assert list(load(iris_onnx).predict(pd.DataFrame([[5.1, 3.5, 1.4, 0.2]],
                                                     columns=IRIS_COLUMNS))) == ["setosa"]


@pytest.mark.slow
def test_a_fresh_virtualenv_from_requirements_txt_serves_the_model(churn, tmp_path):
    """Only requirements.txt (torch from the local CPU wheel first): its mlflow-skinny brings the
    `mlflow models predict` command, nothing else is installed."""
    root, path, rows = churn
    env = tmp_path / "env"
    venv.create(env, with_pip=True)
    # --no-compile: Python compiles what the model imports as it does; pip would compile all
    pip = [str(env / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile"]
    subprocess.run(pip + ["torch==2.13.0", "-r", str(path / "requirements.txt")], check=True,
                   capture_output=True, timeout=900)
    check = "import autonn.pyfunc, sys; print(sorted({m.split('.')[0] for m in sys.modules}))"
    imported = subprocess.run([str(env / "bin" / "python"), "-c", check], cwd=path / "code",
                              capture_output=True, text=True, check=True, timeout=300).stdout
    assert not {"optuna", "mlflow", "sklearn", "yaml", "pydantic", "click"} & set(eval(imported))
    rows.to_csv(tmp_path / "rows.csv", index=False)
    served = subprocess.run(
        [str(env / "bin" / "mlflow"), "models", "predict", "-m", str(path), "-i",
         str(tmp_path / "rows.csv"), "-t", "csv", "-o", str(tmp_path / "out.json"),
         "--env-manager", "local"], capture_output=True, text=True, timeout=600,
        env={"PATH": f"{env / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)})
    assert served.returncode == 0, served.stderr[-3000:]
    labels = [r["churn"] for r in json.loads((tmp_path / "out.json").read_text())["predictions"]]
    assert labels == list(load(path).predict(rows))


def test_values_mlflow_lets_through_meet_autonns_own_checks(churn):
    """Types are MLflow's to check; values (a date that does not parse) remain autonn's."""
    import mlflow

    _, path, rows = churn
    bad = rows.assign(signup=["2021-01-01"] * (len(rows) - 1) + ["not a date"])
    with pytest.warns(Warning, match=r"1 of 9 rows .*'signup': 1"):
        mlflow.pyfunc.load_model(str(path)).predict(bad)


def test_onnxruntime_alone_serves_raw_rows_from_the_onnx_raw_graph(tmp_path):
    """Gaps, unseen levels and text columns encoded inside the graph: onnxruntime's answers on
    raw columns equal autonn's on the same rows."""
    import numpy as np
    import onnxruntime as ort

    frame = messy_frame().drop(columns=["signup"])  # no dates: ONNX has no date parsing
    frame.to_csv(tmp_path / "churn.csv", index=False)
    run_search(prepare(make_config(data=str(tmp_path / "churn.csv"), target="churn", n_trials=2,
                                   seed=1, study="raw", space={"epochs": 3})))
    path = export_model("onnx_raw", study="raw").path
    assert path.name == "raw.raw.onnx"
    rows = pd.read_csv(tmp_path / "churn.csv").drop(columns=["churn"]).head(12)
    rows["member"] = rows["member"].astype(object)
    rows.loc[0, "city"], rows.loc[1, "age"] = "Marseille", float("nan")  # unseen level, a gap
    rows.loc[2, "city"], rows.loc[3, "city"] = None, None  # gaps: "" and "(missing)" below
    rows.loc[4, "plan"], rows.loc[5, "member"] = "enterprise", None  # no "other" level for these
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    kinds = {i.name: i.type for i in session.get_inputs()}
    assert kinds == {"age": "tensor(float)", "income": "tensor(float)",
                     "city": "tensor(string)", "plan": "tensor(string)",
                     "member": "tensor(string)"}  # customer_id, constant, empty: not used
    model = load(path)
    assert model.provenance == "verified"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # autonn counts the unseen levels in a warning
        expected = model.predict_proba(rows)
    feeds = raw_inputs(rows, model.bundle.encoder)  # gaps as autonn reads them: "(missing)"
    assert feeds["city"][3, 0] == "(missing)"
    feeds["city"][2, 0] = ""  # an empty text cell is a gap too, as in a CSV
    probabilities = session.run(None, feeds)[0]
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    meta = session.get_modelmeta()
    assert json.loads(meta.custom_metadata_map["class_labels"]) == ["no", "yes"]
    assert meta.custom_metadata_map["graph_input"] == "raw_columns"
    assert "one input per raw column" in meta.description


def test_a_table_with_dates_gets_no_raw_graph_and_is_told_what_to_do(churn):
    root, _, _ = churn
    with working_dir(root), pytest.raises(ConfigError, match=r"columns \['signup'\] hold dates.*"
                                                            "--format onnx"):
        export_model("onnx_raw", root / "churn.raw.onnx", study="churn")
    assert not (root / "churn.raw.onnx").exists()
