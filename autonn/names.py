"""Names that become paths: a study's name names its folder, its files and its MLflow experiment,
so one checked here can neither leave the store nor repaint a terminal, wherever it came from
(an option, a config, or a study store someone else wrote)."""

from __future__ import annotations

import re

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def checked_name(name: str, what: str) -> str:
    """``name`` if it is safe to become a folder and a file name (letters, digits, ``-_.``, no
    leading dot, at most 128 characters), else a ValueError saying so."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValueError(f"{what} takes letters, digits, '-', '_' and '.', not starting with "
                         f"'.', at most 128 characters; got {name!r}")
    return name
