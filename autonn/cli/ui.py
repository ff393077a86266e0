"""``autonn ui``: the MLflow UI on this project's store, pointed at the studies' runs tables.

MLflow 3's UI opens an experiment on its GenAI overview, which shows nothing of a training study;
the addresses printed here open each study's runs table instead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import click

from autonn.cli.options import friendly_errors, tracking_option
from autonn.cli.ui_auth import ADMIN, auth_environment, auth_folder
from autonn.errors import StudyError, unknown_name
from autonn.tracking.runs import default_tracking_uri, experiments, runs_url

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback exposes the UI to the network and "
                   "needs --auth.")
@click.option("--auth", is_flag=True, help="Require a user name and password (MLflow's "
                                           "basic-auth app; pip install 'mlflow[auth]'). The "
                                           "first admin password is made for you and kept "
                                           "under AUTONN_HOME/ui-auth.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535),
              help="Port the UI listens on.")
@tracking_option
@click.option("--study", envvar="AUTONN_STUDY", default=None, show_envvar=True,
              help="Print only this study's runs-table address (the UI still shows every "
                   "study in the store).")
@friendly_errors
def ui(host: str, port: int, auth: bool, tracking_uri: str | None, study: str | None) -> None:
    """The MLflow UI on this project's store, with the address of each study's runs table."""
    if host not in LOOPBACK and not auth:
        raise StudyError(f"--host {host} would let anyone on the network read and change every "
                         "study without a password; add --auth (MLflow's basic-auth app), or "
                         "keep the default 127.0.0.1 and reach it through an SSH tunnel.")
    if auth:
        _check_auth_app()
    sys.exit(serve(host, port, tracking_uri, study, echo=click.echo, auth=auth))


def _check_auth_app() -> None:
    """Refuse --auth where MLflow's basic-auth app cannot start (it needs Flask-WTF)."""
    import importlib.util

    if importlib.util.find_spec("flask_wtf") is None:
        raise StudyError("--auth runs MLflow's basic-auth app, which needs Flask-WTF; run "
                         "`pip install 'mlflow[auth]'`.")


def server_command(host: str, port: int, tracking_uri: str, auth: bool = False) -> list[str]:
    """The ``mlflow server`` command line for the store at ``tracking_uri``, which itself is
    handed over in the environment (``server_environment``): a command line, password
    included, is visible to every local user in ``ps``."""
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", host, "--port", str(port),
           "--workers", "1"] + (["--app-name", "basic-auth"] if auth else [])
    if tracking_uri.startswith("sqlite:///"):
        root = Path(tracking_uri.removeprefix("sqlite:///")).parent / "artifacts"
        cmd += ["--default-artifact-root", root.resolve().as_uri()]
    return cmd


def server_environment(tracking_uri: str) -> dict[str, str]:
    """This process's environment with the backend store's URI (MLflow reads it from there),
    and uvicorn's access log off (no line in the terminal per HTTP request; uvicorn reads its
    options from UVICORN_* variables, whichever MLflow starts it)."""
    return {**os.environ, "MLFLOW_BACKEND_STORE_URI": tracking_uri, "UVICORN_ACCESS_LOG": "false"}


def serve(host: str, port: int, tracking_uri: str | None, study: str | None,
          echo: Callable[[str], None] = print, auth: bool = False) -> int:
    """Start the UI, print where each study's runs are once it answers, and wait until it
    stops; Ctrl-C or SIGTERM stop it within seconds."""
    uri = tracking_uri or default_tracking_uri()
    found = experiments(uri)
    if study is not None and study not in found:
        raise StudyError(unknown_name("study", study, found) if found else
                         "no studies tracked yet; run `autonn search` first.")
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown}:{port}"
    echo(f"Starting the MLflow UI on {base} ...")
    environment = server_environment(uri)
    if auth:
        environment |= auth_environment()
        echo(f"Sign in as {ADMIN}, with the first password: the one in "
             f"{auth_folder() / 'admin-password'} (or MLFLOW_AUTH_ADMIN_PASSWORD, when you set "
             "it before the first start), unless you changed it in MLflow since.")
    # a session of its own, so that stopping it also stops the server's worker processes
    process = subprocess.Popen(server_command(host, port, uri, auth), start_new_session=True,
                               env=environment)
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        if not _wait_until_up(base, process):
            return process.wait()
        for name, (exp_id, tags) in sorted(found.items()):
            if study in (None, name):
                echo(f"{name}: {runs_url(base, exp_id, tags)}")
        echo(f"MLflow UI ready on {base} (Ctrl-C to stop)")
        return process.wait()
    except KeyboardInterrupt:
        _stop(process)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def _wait_until_up(base: str, process: subprocess.Popen, timeout: float = 120.0) -> bool:
    """Poll the server's health endpoint until it answers (False if the server exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=1) as answer:
                if answer.status == 200:
                    return True
        except OSError:  # not listening yet
            time.sleep(0.25)
    return True  # slow to answer, but running: let it go on


def _stop(process: subprocess.Popen, grace: float = 3.0) -> None:
    """SIGTERM to the server's process group, SIGKILL after ``grace`` seconds: gunicorn's own
    graceful shutdown waits 30 s for connections the browser keeps open."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
