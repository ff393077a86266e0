"""The ``autonn`` command line: click commands that parse options, call the library and print.

    options   shared options, one-line errors (exit 2), plain or JSON output
    search    ``autonn search``: config + flags -> a study; progress and summary in ``progress``
    studies   ``studies``, ``trials``, ``best``, ``space``, ``datasets``
    models    ``export`` and ``predict``
    ui        ``autonn ui``: the MLflow UI on the store
    ui_auth   ``autonn ui --auth``: the basic-auth app's private settings and first password

Only this package imports click. Modules import click and autonn's light registries at the top;
everything heavy (torch, optuna, mlflow, pandas) inside the command that needs it, so that
``autonn --help`` answers at once. Exit codes: 0 done, 1 an unexpected error, 2 bad input,
130/143 interrupted.
"""

from __future__ import annotations

import click

from autonn.cli.models import export, predict
from autonn.cli.search import search
from autonn.cli.studies import best, datasets, space, studies, trials
from autonn.cli.ui import ui
from autonn.quick_exit import run as run_process


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="autonn")
def main(debug: bool) -> None:
    """autonn: search neural architectures with Optuna, track every trial in MLflow."""


for command in (search, studies, trials, best, space, datasets, ui, export, predict):
    main.add_command(command)


def run() -> None:
    """The ``autonn`` console command and ``python -m autonn``: ``main`` as a whole process,
    with a quick exit (``autonn.quick_exit``)."""
    run_process(main)
