"""Every exception and warning autonn raises on purpose, and the one shape of their messages.

Every error derives from ``AutonnError``; the command line prints it as one line and exits 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class AutonnError(Exception):
    """Root of every error autonn raises on purpose."""


class ConfigError(AutonnError, ValueError):
    """A configuration file or option is invalid."""


class DataError(AutonnError, ValueError):
    """Input data is missing, malformed or unusable for the task."""


class DeviceError(AutonnError, RuntimeError):
    """The requested device does not exist on this machine."""


class StudyError(AutonnError, LookupError):
    """A study is missing, empty or incompatible with the request."""


class TrialDiverged(AutonnError, ArithmeticError):
    """A training loss became NaN or infinite."""


class TrialStopped(AutonnError):
    """The search's deadline stopped a trial before it finished: not a result to rank or ship."""


class TrackingError(AutonnError, ConnectionError):
    """The MLflow tracking store cannot be reached or written."""


class ModelFileError(AutonnError):
    """A model file that is not an intact autonn export."""


class ExportError(AutonnError):
    """An export that cannot be made as asked."""


class SearchInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a search; ``signal_number`` says which."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal_number)
        self.signal_number = signal_number


class DataWarning(UserWarning):
    """A column or row was dropped or changed on the way in."""


def did_you_mean(value: str, valid: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for a near miss, else an empty string."""
    close = difflib.get_close_matches(str(value), list(valid), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def unknown_name(kind: str, value: str, valid: Iterable[str]) -> str:
    """One message shape for every unknown registry name."""
    valid = sorted(valid)
    return f"unknown {kind} '{value}'.{did_you_mean(value, valid)} Valid: {', '.join(valid)}."


def lookup(registry: Mapping[str, T], kind: str, name: Any) -> T:
    """Fetch ``registry[name]`` or raise a ConfigError listing the valid names."""
    try:
        return registry[name]
    except (KeyError, TypeError):
        raise ConfigError(unknown_name(kind, name, registry)) from None
