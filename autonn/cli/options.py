"""What the commands share: options defined once, one-line errors, and plain or JSON output.

Imports only click and autonn's light modules, so that ``autonn --help`` answers at once.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from autonn.errors import AutonnError
from autonn.masking import mask_text, printable

EXIT_BAD_INPUT = 2
# where a store's client raises from: a database or tracking server gone, refused, timed out
STORE_CLIENTS = ("sqlalchemy", "psycopg", "pymysql", "requests", "urllib3", "mlflow")


def friendly_errors(fn: Callable) -> Callable:
    """An AutonnError, or a store's client failing (a database or tracking server gone),
    becomes one red line with every URL masked, and exit code 2 (a traceback with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if click.get_current_context().find_root().params.get("debug") \
                    or not isinstance(exc, AutonnError) and not _from_a_store(exc):
                raise
            # one line: a newline in a file name cannot forge further lines
            line = printable(mask_text(_message(exc))).replace("\n", "\\n")
            click.secho(f"Error: {line}", fg="red", err=True)
            sys.exit(EXIT_BAD_INPUT)

    return wrapper


def _from_a_store(exc: Exception) -> bool:
    return any(cls.__module__.split(".")[0] in STORE_CLIENTS for cls in type(exc).__mro__)


def _message(exc: Exception) -> str:
    if isinstance(exc, AutonnError):
        return str(exc)
    first = (str(exc).strip().splitlines() or [""])[0]
    return (f"the study storage or the MLflow tracking store failed ({type(exc).__name__}: "
            f"{first}); check that its server is running and reachable, and --storage / "
            "--tracking-uri.")


def stack(*decorators: Callable) -> Callable:
    """Apply ``decorators`` in the order written, as if each stood on its own line."""
    def apply(fn: Callable) -> Callable:
        for decorator in reversed(decorators):
            fn = decorator(fn)
        return fn
    return apply


storage_option = click.option(
    "--storage", envvar="AUTONN_STORAGE", default=None, show_envvar=True,
    help="Optuna storage: an RDB URL (sqlite:///, postgresql://) or a journal file. "
         "Default: ./mlruns/optuna.journal.")
study_option = click.option("--study", envvar="AUTONN_STUDY", default=None, show_envvar=True,
                            help="Study name. Default: the dataset's name (or the only study).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print stable JSON for scripts.")
dataset_option = click.option("--dataset", envvar="AUTONN_DATASET", show_envvar=True,
                              help="A bundled dataset (see `autonn datasets`).")
config_argument = click.argument("config_file", required=False,
                                 type=click.Path(dir_okay=False, exists=False))
tracking_option = click.option(
    "--tracking-uri", envvar=["AUTONN_TRACKING_URI", "MLFLOW_TRACKING_URI"], show_envvar=True,
    help="MLflow tracking URI (an http:// server, a database URL). "
         "Default: sqlite under ./mlruns.")


def emit(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    """Print ``data`` as stable JSON, or as ``text(data)``."""
    # JSON escapes control characters itself; text goes through ``printable`` (names from a store)
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str) if as_json
               else printable(text(data)))


def fmt(value: Any) -> str:
    """A table cell: '-' for nothing, 4 decimals for floats."""
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


class Seconds(click.ParamType):
    """A positive, finite number of seconds; any other value is refused with an example."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> float:
        flag = param.opts[0] if param is not None else "--timeout"
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds: give a plain number, e.g. "
                      f"{flag} 300 (5 minutes).", param, ctx)
        if not 0 < seconds < float("inf"):
            self.fail(f"{value!r}: give a positive number of seconds, e.g. {flag} 300.",
                      param, ctx)
        return seconds
