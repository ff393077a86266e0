"""``autonn ui``: the MLflow UI on this project's store, pointed at the studies' runs tables.

MLflow 3's UI opens an experiment on its GenAI overview, which shows nothing of a training study;
the addresses printed here open each study's runs table instead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click

from autonn.cli.options import friendly_errors, stack, study_option, tracking_option
from autonn.errors import StudyError, unknown_name
from autonn.tracking.runs import default_tracking_uri, experiment_ids

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback exposes the UI to the network.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@stack(tracking_option, study_option)
@friendly_errors
def ui(host: str, port: int, tracking_uri: str | None, study: str | None) -> None:
    """The MLflow UI on this project's store, with the address of each study's runs table."""
    if host not in LOOPBACK:
        click.secho(f"Warning: binding to {host} exposes the MLflow UI beyond this machine.",
                    fg="yellow", err=True)
    sys.exit(serve(host, port, tracking_uri, study, echo=click.echo))


def runs_url(host: str, port: int, experiment_id: str) -> str:
    """The address of an experiment's runs table."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://{shown}:{port}/#/experiments/{experiment_id}/runs"


def server_command(host: str, port: int, tracking_uri: str) -> list[str]:
    """The ``mlflow server`` command line for the store at ``tracking_uri``."""
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking_uri,
           "--host", host, "--port", str(port), "--workers", "1"]
    if tracking_uri.startswith("sqlite:///"):
        root = Path(tracking_uri.removeprefix("sqlite:///")).parent / "artifacts"
        cmd += ["--default-artifact-root", root.resolve().as_uri()]
    return cmd


def serve(host: str, port: int, tracking_uri: str | None, study: str | None,
          echo: Callable[[str], None] = print) -> int:
    """Start the UI, print where each study's runs are, and wait until it stops."""
    uri = tracking_uri or default_tracking_uri()
    ids = experiment_ids(uri)
    if study is not None and study not in ids:
        raise StudyError(unknown_name("study", study, ids) if ids else
                         "no studies tracked yet; run `autonn search` first.")
    for name, exp_id in sorted(ids.items()):
        if study in (None, name):
            echo(f"{name}: {runs_url(host, port, exp_id)}")
    echo(f"MLflow UI on http://{host}:{port} (Ctrl-C to stop)")
    # a session of its own, so that stopping it also stops the server's worker processes
    process = subprocess.Popen(server_command(host, port, uri), start_new_session=True)
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        return process.wait()
    except KeyboardInterrupt:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
