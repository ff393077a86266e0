"""Model files that are not intact autonn exports are refused, and never run code."""

import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from conftest import iris_exports

from autonn import load
from autonn.cli import main
from autonn.errors import ModelFileError
from autonn.export.staging import staged
from autonn.search.exporting import export_model


class WritesMarker:
    """Unpickling this object would create the file ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    paths = iris_exports(root, ("state_dict", "onnx", "torchscript"))
    rows = pd.DataFrame([[5.1, 3.5, 1.4, 0.2]], columns=[
        "sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"])
    return paths, rows


def test_a_pickle_in_place_of_the_state_dict_never_runs(exports, tmp_path):
    paths, _ = exports
    marker = tmp_path / "marker"
    fake = tmp_path / "iris.safetensors"
    fake.write_bytes(pickle.dumps(WritesMarker(marker)))
    with pytest.raises(ModelFileError, match="pickle"):
        load(fake)
    result = CliRunner().invoke(main, ["predict", "--model", str(fake), "--input", "x.csv"])
    assert result.exit_code == 2 and "never loads pickles" in result.output
    torch.save(WritesMarker(marker), tmp_path / "model.pt")  # a pickle inside a zip
    with pytest.raises(ModelFileError, match="never loads pickles"):
        load(tmp_path / "model.pt")
    assert not marker.exists()


def test_changed_weights_or_graphs_are_refused(exports, tmp_path):
    import onnx
    from onnx import numpy_helper

    paths, _ = exports
    data = bytearray(paths["state_dict"].read_bytes())
    data[-3] ^= 0xFF  # a byte of the last tensor
    (tmp_path / "m.safetensors").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="changed after autonn exported it"):
        load(tmp_path / "m.safetensors")
    model = onnx.load(str(paths["onnx"]))
    weight = model.graph.initializer[0]
    weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * 2, weight.name))
    onnx.save(model, str(tmp_path / "m.onnx"))
    with pytest.raises(ModelFileError, match="changed after autonn exported it"):
        load(tmp_path / "m.onnx")


def test_torchscript_loads_only_from_autonns_own_exports_or_when_trusted(exports, tmp_path):
    paths, rows = exports
    assert load(paths["torchscript"]).predict(rows)[0] in ("setosa", "versicolor", "virginica")
    copy = tmp_path / "copy.pt"
    copy.write_bytes(paths["torchscript"].read_bytes() + b"\0")  # no longer the exported bytes
    with pytest.raises(ModelFileError, match="--trust-model"):
        load(copy)
    result = CliRunner().invoke(main, ["predict", "--model", str(copy), "--input", "x.csv"])
    assert result.exit_code == 2 and "--trust-model" in result.output
    foreign = tmp_path / "foreign.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(4, 3)), str(foreign))
    with pytest.raises(ModelFileError, match="did not export this file"):
        load(foreign)
    with pytest.raises(ModelFileError, match="without an autonn manifest"):
        load(foreign, trust_model=True)


def test_a_foreign_mlflow_model_needs_trust(tmp_path):
    import mlflow

    class Doubler(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input * 2

    mlflow.pyfunc.save_model(str(tmp_path / "foreign"), python_model=Doubler())
    with pytest.raises(ModelFileError, match="can run pickled code"):
        load(tmp_path / "foreign")
    trusted = load(tmp_path / "foreign", trust_model=True)
    assert trusted.predict(pd.DataFrame({"a": [1.0, 2.0]})).ravel().tolist() == [2.0, 4.0]


def test_other_files_are_refused_by_name(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelFileError, match="not a model format autonn reads"):
        load(tmp_path / "notes.txt")
    with pytest.raises(ModelFileError, match="no such model file"):
        load(tmp_path / "missing.onnx")
    (tmp_path / "broken.onnx").write_bytes(b"\x08\x07garbage")
    with pytest.raises(ModelFileError, match="not a valid ONNX model"):
        load(tmp_path / "broken.onnx")


def test_a_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with staged(target) as private:
            private.write_bytes(b"half")
            raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["model.onnx"]


def test_a_killed_writer_leaves_no_file_at_the_target(tmp_path):
    script = (f"from autonn.export.staging import staged\nimport time\n"
              f"with staged({str(tmp_path / 'model.onnx')!r}) as p:\n"
              "    p.write_bytes(b'half'); print('writing', flush=True); time.sleep(60)\n")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert process.stdout.readline().strip() == b"writing"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert not (tmp_path / "model.onnx").exists()


def test_outputs_the_caller_would_overwrite_by_mistake_are_refused(exports, tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "notes.txt").write_text("keep me")
    os.chdir(exports[0]["onnx"].parent)
    with pytest.raises(Exception, match="not an MLflow model; autonn will not replace it"):
        export_model("mlflow", tmp_path / "work", study="iris")
    with pytest.raises(Exception, match="is a directory"):
        export_model("onnx", tmp_path / "work", study="iris")
    assert (tmp_path / "work" / "notes.txt").read_text() == "keep me"


OLD_EXPORTS = Path(__file__).parent / "fixtures" / "v0.1"


@pytest.mark.parametrize("name", ["iris-v0.1.safetensors", "iris-v0.1.onnx", "iris-v0.1.pt",
                                  "iris-v0.1-mlflow"])
def test_models_exported_before_the_package_moved_still_load_when_trusted(name):
    rows = pd.read_csv(OLD_EXPORTS / "rows.csv")
    expected = np.loadtxt(OLD_EXPORTS / "proba.csv", delimiter=",")
    with pytest.raises(ModelFileError, match="no autonn signature.*--trust-model"):
        load(OLD_EXPORTS / name)  # written before exports were signed
    with pytest.warns(UserWarning, match="loaded because you trust it: unsigned"):
        model = load(OLD_EXPORTS / name, trust_model=True)
    assert model.provenance == "unsigned"
    np.testing.assert_allclose(model.predict_proba(rows), expected, atol=1e-5)


def test_an_old_mlflow_export_serves_through_mlflow_pyfunc():
    import mlflow

    rows = pd.read_csv(OLD_EXPORTS / "rows.csv")
    served = mlflow.pyfunc.load_model(str(OLD_EXPORTS / "iris-v0.1-mlflow"))
    proba = served.predict(rows, params={"proba": True}).to_numpy()
    np.testing.assert_allclose(proba, np.loadtxt(OLD_EXPORTS / "proba.csv", delimiter=","),
                               atol=1e-5)


def test_torchscript_export_and_load_say_nothing_about_torch_jit(exports, tmp_path):
    import warnings

    from autonn.export import torchscript

    paths, rows = exports
    bundle = load(paths["state_dict"]).bundle
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torchscript.write(bundle, tmp_path / "quiet.pt")
        load(tmp_path / "quiet.pt").predict(rows)
    assert not [w for w in caught if "jit" in str(w.message)], [str(w.message) for w in caught]
