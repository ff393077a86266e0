"""Attacks, tried as an attacker would: secrets in URLs, names that escape the store, text that
a spreadsheet or a terminal would run. Model-file attacks are in tests/test_model_attacks.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from servers import free_port, mlflow_server, running

from autonn.masking import mask

POSTGRES = "postgresql://postgres{auth}@127.0.0.1:5432/test{query}"


def autonn(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autonn", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("url, secret", [
    ("http://user:pa55@host:5000/", "pa55"),
    ("http://t0ken-abc@host/", "t0ken-abc"),
    ("postgresql://a:b@db/x?sslmode=require&password=qq-zz", "qq-zz"),
    ("https://h/path?api_key=k3y&x=1", "k3y"),
    ("mysql://u:p%40ss@db/x", "p%40ss"),
])
def test_every_form_of_credential_is_masked(url, secret):
    masked = mask(url)
    assert secret not in masked and "***" in masked


@pytest.mark.slow
def test_secrets_reach_no_output_param_tag_artifact_or_study(tmp_path):
    """A real tracking server reached as user:password@ and as a token@, and a real PostgreSQL
    study reached with a password in the URL and in a query parameter."""
    studies = []
    with mlflow_server(tmp_path) as url:
        for name, tracking, storage, secrets in [
            (f"pw-{os.getpid()}", url.replace("http://", "http://alice:tr4ck-pw@"),
             POSTGRES.format(auth=":st0re-pw", query=""), ("tr4ck-pw", "st0re-pw")),
            (f"tok-{os.getpid()}", url.replace("http://", "http://t0ken-xyz@"),
             POSTGRES.format(auth="", query="?password=qu3ry-pw"), ("t0ken-xyz", "qu3ry-pw")),
        ]:
            studies.append((name, storage))
            proc = autonn("search", "--dataset", "iris", "--study", name, "--n-trials", "2",
                          "--epochs", "2", "--storage", storage, "--tracking-uri", tracking,
                          cwd=tmp_path)
            assert proc.returncode == 0, proc.stderr
            logged = _mlflow_text(url, name)
            seen = proc.stdout + proc.stderr + logged + _study_text(name, storage)
            assert not [s for s in secrets if s in seen]
            assert mask(storage) in logged  # the study's storage is recorded, masked
    for name, storage in studies:
        optuna.delete_study(study_name=name, storage=storage)


def _mlflow_text(url: str, name: str) -> str:
    """Every param, tag and text artifact of the study's experiment."""
    client = MlflowClient(url)
    runs = client.search_runs([client.get_experiment_by_name(name).experiment_id])
    text = [str(r.data.params) + str(r.data.tags) + str(r.data.metrics) for r in runs]
    for run in runs:
        for artifact in client.list_artifacts(run.info.run_id):
            if artifact.path.endswith((".csv", ".json", ".txt")):
                local = client.download_artifacts(run.info.run_id, artifact.path)
                text.append(Path(local).read_text())
    return "\n".join(text)


def _study_text(name: str, storage: str) -> str:
    study = optuna.load_study(study_name=name, storage=storage)
    return str(study.user_attrs) + str([(t.params, t.user_attrs) for t in study.trials])


@pytest.mark.slow
def test_autonn_ui_keeps_the_store_password_off_the_command_line(tmp_path):
    import psycopg

    database = f"ui_{os.getpid()}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as db:
        db.execute(f"CREATE DATABASE {database}")
    store = f"postgresql://postgres:u1-s3cret@127.0.0.1:5432/{database}"
    port = free_port()
    # the store reaches `autonn ui` through its environment, as a careful user passes it, so any
    # process whose command line shows the password got it from autonn
    ui = subprocess.Popen([sys.executable, "-m", "autonn", "ui", "--port", str(port)],
                          cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True, env={**os.environ, "AUTONN_TRACKING_URI": store})
    try:
        lines = [ui.stdout.readline()]  # MLflow's own log lines (creating tables) come first
        while "ready" not in lines[-1] and lines[-1] and len(lines) < 80:
            lines.append(ui.stdout.readline())
        assert "ready" in lines[-1], lines
        assert not any("u1-s3cret" in line for line in lines), [l for l in lines if "u1-s3cret" in l]
        commands = [_cmdline(pid) for pid in os.listdir("/proc") if pid.isdigit()]
        assert any(f"--port\0{port}" in c for c in commands)  # the server is found by its port
        assert not any("u1-s3cret" in c for c in commands)
    finally:
        os.killpg(ui.pid, 15)
        ui.wait(timeout=30)
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                             autocommit=True) as db:
            db.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


@pytest.mark.parametrize("name", ["../../escaped", "/abs/path", ".hidden", "a/b", "x" * 200,
                                  "new\nline"])
def test_a_study_name_that_would_escape_the_store_is_refused_before_anything_exists(name,
                                                                                      tmp_path):
    proc = autonn("search", "--dataset", "iris", "--study", name, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "a study name takes letters, digits" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == []  # no mlruns, no journal, no artifacts anywhere near
    assert not (tmp_path.parent / "escaped").exists()


def test_predictions_are_quoted_for_spreadsheets_and_errors_cleaned_for_terminals(tmp_path):
    from autonn.data.features import identity_encoder
    from autonn.export import state_dict
    from autonn.export.bundle import Bundle
    from autonn.export.pipeline import ScoringModule
    from autonn.families.builder import build_model
    from autonn.training.weights import state_tensors

    params = {"n_layers": 1, "width": 4, "activation": "relu", "init": "he_uniform"}
    module = ScoringModule(build_model(params, 2, 2), "softmax", 2).eval()
    hostile = ["=cmd|' /C calc'!A0", "@SUM(1+1)"]
    columns = ["a", "b\x1b[2J\x1b[31m"]
    bundle = Bundle("binary", params, 2, "softmax", identity_encoder(columns), hostile, "label",
                    tensors=state_tensors(module))
    state_dict.write(bundle, tmp_path / "m.safetensors")
    pd.DataFrame({"a": [0.0, 1.0], columns[1]: [1.0, 0.0]}).to_csv(tmp_path / "rows.csv",
                                                                  index=False)
    proc = autonn("predict", "--model", "m.safetensors", "--input", "rows.csv", "--proba",
                  "--trust-model", cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.splitlines()
    assert header.startswith("'proba_=cmd") or header.startswith("proba_")  # a prefix is text
    labels = autonn("predict", "--model", "m.safetensors", "--input", "rows.csv",
                    "--trust-model", cwd=tmp_path, timeout=120).stdout.splitlines()[1:]
    assert labels and all(label.startswith(("'=", "'@")) for label in labels)
    pd.DataFrame({"a": [0.0]}).to_csv(tmp_path / "short.csv", index=False)
    error = autonn("predict", "--model", "m.safetensors", "--input", "short.csv",
                   "--trust-model", cwd=tmp_path, timeout=120)
    assert error.returncode == 2 and "missing column" in error.stderr
    assert "\x1b" not in error.stderr


def test_a_store_password_with_reserved_characters_is_masked_as_its_client_reads_it():
    """SQLAlchemy ends the password at the first @ (so it may hold / # ? :), urllib at the last
    @ before the host: both readings are masked, in URLs and in text around them."""
    from autonn.masking import mask_text

    for url, secret in [("postgresql://u:se/cr#et?x@127.0.0.1:5432/test", "se/cr#et?x"),
                        ("postgresql://u:p@ss@db/x", "p@ss"), ("mysql://u:a:b@db/x", "a:b")]:
        masked = mask(url)
        assert secret not in masked and masked.startswith(url.split(":", 2)[0] + "://u:***@")
        assert secret not in mask_text(f"connection to {url} failed")


def test_an_unreachable_database_is_one_line_without_credentials(tmp_path):
    """An unreachable PostgreSQL (a password holding / and #): one masked line and exit 2, no
    traceback (it was a raw SQLAlchemy traceback)."""
    proc = autonn("search", "--dataset", "iris", "--n-trials", "2", "--epochs", "2",
                  "--storage", "postgresql://postgres:se/cr#et@127.0.0.1:1/test", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "se/cr" not in proc.stdout + proc.stderr and "postgres:***@" in proc.stderr


def test_nested_yaml_aliases_are_refused_before_they_expand(tmp_path):
    """A billion-laughs config: nine levels of nine aliases stand for 9**9 values."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    start = time.monotonic()
    proc = autonn("search", "bomb.yaml", "--n-trials", "1", cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "aliases" in proc.stderr and "Traceback" not in proc.stderr
    assert time.monotonic() - start < 60


def test_the_ui_refuses_the_network_without_a_password(tmp_path):
    port = free_port()
    proc = autonn("ui", "--host", "0.0.0.0", "--port", str(port), cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and "--auth" in proc.stderr and "Traceback" not in proc.stderr
    import socket

    with socket.socket() as s:  # nothing listens: the server was never started
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_the_ui_on_the_network_asks_every_request_for_the_password(tmp_path, monkeypatch):
    import base64
    import urllib.error
    import urllib.request

    monkeypatch.setenv("AUTONN_HOME", str(tmp_path / "home"))
    port = free_port()
    cmd = [sys.executable, "-m", "autonn", "ui", "--host", "0.0.0.0", "--port", str(port), "--auth"]
    with running(cmd, f"http://127.0.0.1:{port}/health", tmp_path):
        kept = tmp_path / "home" / "ui-auth" / "admin-password"
        assert kept.stat().st_mode & 0o777 == 0o600 and (kept.parent.stat().st_mode & 0o777) == 0o700
        password = kept.read_text().strip()
        assert len(password) >= 20

        def status(path: str, credentials: str | None) -> int:
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
            if credentials:
                token = base64.b64encode(credentials.encode()).decode()
                request.add_header("Authorization", f"Basic {token}")
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    return answer.status
            except urllib.error.HTTPError as refused:
                return refused.code

        search = "/api/2.0/mlflow/experiments/search?max_results=5"
        assert status(search, None) == 401 and status("/", None) == 401
        assert status(search, "admin:wrong-password") == 401
        assert status(search, f"admin:{password}") == 200
        commands = [_cmdline(pid) for pid in os.listdir("/proc") if pid.isdigit()]
        assert any(f"--port\0{port}" in c for c in commands)
        assert not any(password in c for c in commands)  # handed over in the environment


def test_an_empty_or_open_ui_secret_is_one_error_that_says_what_to_remove(tmp_path, monkeypatch):
    from autonn.cli.ui_auth import auth_environment, auth_folder
    from autonn.errors import StudyError

    monkeypatch.setenv("AUTONN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD", raising=False)
    first = auth_environment()
    assert first == auth_environment()  # made once, then kept
    kept = auth_folder() / "admin-password"
    kept.write_text("")  # a crash between create and write, in an older version
    with pytest.raises(StudyError, match="users.db"):
        auth_environment()
    kept.write_text("secret\n")
    kept.chmod(0o644)
    with pytest.raises(StudyError, match="mode 600"):
        auth_environment()


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/absolute", "evil\x1b[2Jname"])
def test_a_hostile_study_name_in_the_store_is_refused_before_any_path_is_built(tmp_path, name):
    """A store someone else wrote holds the name: export writes nowhere, studies prints no
    escape sequence."""
    journal = tmp_path / "mlruns" / "optuna.journal"
    journal.parent.mkdir()
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal)))
    optuna.create_study(study_name=name, storage=storage).add_trial(
        optuna.trial.create_trial(value=1.0, params={}, distributions={}))
    proc = autonn("export", "--format", "state_dict", "--no-tracking", cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "will not use" in proc.stderr, proc.stderr
    assert "\x1b" not in proc.stderr and sorted(os.listdir(tmp_path)) == ["mlruns"]
    assert not (tmp_path.parent.parent / "escaped").exists()
    listed = autonn("studies", cwd=tmp_path, timeout=120)
    assert listed.returncode == 0 and "\x1b" not in listed.stdout


def test_a_huge_header_field_and_a_newline_in_a_file_name_are_one_error_line(tmp_path):
    (tmp_path / "big.csv").write_text("a" * 200_000 + ",y\n1,2\n3,4\n")
    proc = autonn("search", "--data", "big.csv", "--target", "y", "--n-trials", "1",
                  cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "header row cannot be read" in proc.stderr
    assert "Traceback" not in proc.stderr
    forged = autonn("predict", "--model", "x\nError: forged.onnx", "--input", "big.csv",
                    cwd=tmp_path, timeout=120)
    assert forged.returncode == 2
    assert [line for line in forged.stderr.splitlines() if "Error" in line] == [
        "Error: x\\nError: forged.onnx: no such model file; check --model."]


@pytest.mark.slow
def test_a_tracking_server_lost_mid_search_is_one_line_without_credentials(tmp_path):
    """The server goes away while trials run: the search ends with one masked error line and
    exit 2, not a traceback holding user:password@."""
    with mlflow_server(tmp_path) as url:
        search = subprocess.Popen(
            [sys.executable, "-m", "autonn", "search", "--dataset", "digits", "--n-trials", "200",
             "--epochs", "5", "--workers", "1", "--tracking-uri", url.replace("http://", "http://alice:tr4ck@")],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        header = search.stderr.readline() + search.stderr.readline()  # Data: ..., Searching ...
        assert "Searching" in header, header
        time.sleep(5)  # trials under way, their runs on the server
    out, err = search.communicate(timeout=300)
    assert search.returncode == 2, err[-2000:]
    assert "Traceback" not in err and "tr4ck" not in header + out + err
    assert [line for line in err.splitlines() if "Error:" in line]
