"""Commands a user waits for after a search load only what they need, in real processes on a
real study: the study commands and a state_dict export without torch or MLflow, an ONNX predict
without torch; an export's MLflow tags arrive from the outbox, even when its sender never ran."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from autonn.tracking.runs import default_tracking_uri

PROBE = ("import sys, json\nfrom autonn.cli import main\ntry:\n    main({argv!r})\n"
         "except SystemExit as e:\n    assert e.code == 0, e.code\n"
         "print(json.dumps(sorted(m for m in ('torch', 'mlflow', 'sklearn') if m in sys.modules)))")


def heavy(argv: list[str], cwd: Path) -> list[str]:
    """The heavy libraries ``autonn *argv`` imported, run in a fresh process in ``cwd``."""
    done = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    root = tmp_path_factory.mktemp("commands")
    subprocess.run([sys.executable, "-m", "autonn", "search", "--dataset", "iris", "--study",
                    "iris", "--n-trials", "2", "--epochs", "2", "--quiet"], cwd=root, check=True,
                   timeout=600)
    from autonn.data.datasets import example_rows, load_dataset

    example_rows(load_dataset("iris"), 20).to_csv(root / "rows.csv", index=False)
    return root


def tags_of(root: Path, study: str) -> dict[str, str]:
    client = MlflowClient(default_tracking_uri(root / "mlruns"))
    run = client.search_runs([client.get_experiment_by_name(study).experiment_id],
                             "tags.`autonn.role` = 'study'")[0]
    return run.data.tags


@pytest.mark.parametrize("argv", [["trials", "--study", "iris"], ["best", "--study", "iris"],
                                  ["studies"]])
def test_study_commands_load_neither_torch_nor_mlflow(searched, argv):
    assert heavy(argv, searched) == []


def test_a_state_dict_export_is_the_saved_model_checked_and_copied_without_torch(searched):
    argv = ["export", "--study", "iris", "--format", "state_dict", "--out", "fast.safetensors"]
    assert heavy(argv, searched) == []
    saved = searched / "mlruns" / "models" / "iris.safetensors"
    assert (searched / "fast.safetensors").read_bytes() == saved.read_bytes()
    # its MLflow tags arrive from the outbox, sent by a detached process
    digest = json.loads(subprocess.run(
        [sys.executable, "-m", "autonn", "export", "--study", "iris", "--format", "state_dict",
         "--out", "fast.safetensors", "--json"], cwd=searched, capture_output=True, text=True,
        check=True).stdout)["sha256"]
    for _ in range(120):
        if tags_of(searched, "iris").get("autonn.export.state_dict.sha256") == digest:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the export's sha256 never reached the study's MLflow run")
    assert tags_of(searched, "iris")["autonn.export.state_dict.path"] == str(
        (searched / "fast.safetensors").resolve())


def test_an_onnx_predict_loads_no_torch(searched):
    subprocess.run([sys.executable, "-m", "autonn", "export", "--study", "iris", "--format",
                    "onnx", "--out", "m.onnx", "--no-tracking"], cwd=searched, check=True,
                   capture_output=True)
    argv = ["predict", "--model", "m.onnx", "--input", "rows.csv", "--output", "p.csv"]
    assert heavy(argv, searched) == []
    assert len((searched / "p.csv").read_text().splitlines()) == 21


def test_a_record_its_sender_never_sent_is_delivered_by_the_next_search(searched, monkeypatch):
    from autonn.tracking.mlflow_tracker import MlflowTracker
    from autonn.tracking.outbox import outbox_path, post

    monkeypatch.chdir(searched)
    uri = default_tracking_uri(searched / "mlruns")
    assert post(uri, "iris", {"autonn.export.onnx.sha256": "f" * 64}, deliver_now=False)
    assert "f" * 64 in outbox_path(uri).read_text()  # on disk before the command returns
    MlflowTracker(uri, "iris").close()  # what a search on the same store opens first
    assert tags_of(searched, "iris")["autonn.export.onnx.sha256"] == "f" * 64
    assert outbox_path(uri).read_text() == ""


def test_a_damaged_outbox_line_blocks_no_record_after_it(searched, monkeypatch):
    from autonn.tracking.outbox import deliver, outbox_path, post

    monkeypatch.chdir(searched)
    uri = default_tracking_uri(searched / "mlruns")
    outbox_path(uri).parent.mkdir(parents=True, exist_ok=True)
    with outbox_path(uri).open("a") as fh:
        fh.write('{"study": "iris", "tags": {"autonn.ex')  # a write cut short
    assert post(uri, "iris", {"autonn.export.torchscript.sha256": "e" * 64}, deliver_now=False)
    assert deliver(uri) == 1
    assert tags_of(searched, "iris")["autonn.export.torchscript.sha256"] == "e" * 64
    assert outbox_path(uri).read_text() == ""


def test_no_record_is_kept_for_a_store_that_does_not_exist(tmp_path):
    from autonn.tracking.outbox import outbox_path, post

    uri = default_tracking_uri(tmp_path / "nothing")
    assert not post(uri, "iris", {"autonn.export.onnx.sha256": "0" * 64})
    assert not outbox_path(uri).exists() and not (tmp_path / "nothing").exists()


def test_export_refuses_a_saved_model_not_signed_with_your_key(searched, tmp_path):
    import shutil

    from safetensors.numpy import save_file

    from autonn.export import safetensors_file

    copy = tmp_path / "copy"
    shutil.copytree(searched, copy, ignore=shutil.ignore_patterns("*.onnx", "*.safetensors.*"))
    saved = copy / "mlruns" / "models" / "iris.safetensors"
    metadata, tensors = safetensors_file.parse_raw(saved.read_bytes(), "saved")
    import numpy as np

    arrays = {n: np.frombuffer(t.data, dtype=np.float32).reshape(t.shape)
              for n, t in tensors.items()}
    metadata.pop(safetensors_file.SIGNATURE_KEY)  # a forged file: right digest, no signature
    save_file(arrays, str(saved), metadata=metadata)
    done = subprocess.run([sys.executable, "-m", "autonn", "export", "--study", "iris",
                           "--format", "state_dict", "--out", "forged.safetensors",
                           "--no-tracking"], cwd=copy, capture_output=True, text=True)
    assert done.returncode == 2
    assert "the search's saved model is not signed with your key" in done.stderr
    assert not (copy / "forged.safetensors").exists()


def test_the_bundled_datasets_facts_are_those_of_the_loaded_data():
    from autonn.data.datasets import BUNDLED, FACTS, load_dataset

    assert list(FACTS) == list(BUNDLED)
    for name, facts in FACTS.items():
        ds = load_dataset(name)
        assert (facts.rows, facts.features, facts.task, facts.classes) == (
            *ds.X.shape, ds.task, len(ds.classes)), name


@pytest.mark.parametrize("argv", [["datasets"], ["space", "--dataset", "digits"]])
def test_datasets_and_space_load_no_scikit_learn_or_torch(argv, tmp_path):
    assert heavy(argv, tmp_path) == []


EXIT_PROBE = """
import atexit, autonn.cli as cli

@cli.main.command("probe")
def probe():
    atexit.register(print, "a handler registered by the command ran")
    print("x" * 200_000)  # more than a pipe's buffer: what is still buffered must reach it
    raise SystemExit({code})

cli.run()
"""


@pytest.mark.parametrize("code", [0, 3])
def test_the_process_exits_with_the_commands_status_after_its_output_and_exit_handlers(code):
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as by default
    done = subprocess.run([sys.executable, "-c", EXIT_PROBE.format(code=code), "probe"],
                          capture_output=True, text=True, timeout=120, env=buffered)
    assert done.returncode == code, done.stderr
    assert done.stdout.startswith("x" * 200_000 + "\n")
    assert done.stdout.endswith("a handler registered by the command ran\n")


def test_the_console_command_and_python_m_autonn_are_the_quick_exit_process():
    from importlib.metadata import entry_points

    assert [e.value for e in entry_points(group="console_scripts", name="autonn")] == ["autonn.cli:run"]
    bad = subprocess.run([sys.executable, "-m", "autonn", "search", "--dataset", "irs"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown dataset 'irs'" in bad.stderr and not bad.stdout


CRASH_PROBE = """
import autonn.cli as cli

@cli.main.command("crash")
def crash():
    raise RuntimeError("a bug")

cli.run()
"""


def test_a_crash_or_a_debug_error_exits_1_with_its_traceback_not_0():
    crashed = subprocess.run([sys.executable, "-c", CRASH_PROBE, "crash"], capture_output=True,
                             text=True, timeout=120)
    assert crashed.returncode == 1 and "RuntimeError: a bug" in crashed.stderr
    debug = subprocess.run([sys.executable, "-m", "autonn", "--debug", "search", "--dataset",
                            "irs"], capture_output=True, text=True, timeout=120)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "unknown dataset" in debug.stderr
