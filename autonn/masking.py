"""Secrets and hostile text out of sight: the one place that masks what autonn prints, logs or
passes on, and cleans text from files before it reaches a terminal or a spreadsheet."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
# Query parameters whose values are secrets: password=, api_key=, token=, client_secret=, ...
SECRET_PARAMETER = re.compile(r"pass|pwd|token|secret|key|auth|credential|signature", re.I)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
FORMULA = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets read as a formula
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")  # a URL inside some text


def mask(url: str) -> str:
    """``url`` with its credentials masked: a password (``user:***@``), a user name with no
    password (a token: ``***@``) and query parameters named like secrets (``password=***``).

    The user part ends where any client would end it: SQLAlchemy at the first ``@`` (its
    password may hold ``/``, ``#``, ``?`` and ``:`` unencoded), urllib and requests at the last
    ``@`` before the host's ``/``; everything up to the later of the two is masked."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url  # a path, not a URL
    at = rest.find("@")
    if at >= 0 and ("/" not in rest[:at] or ":" in rest[:at].split("/", 1)[0]):
        end = next((i for i in range(at, len(rest)) if rest[i] in "/?#"), len(rest))
        at = rest.rfind("@", 0, end)
        user, colon, _ = rest[:at].partition(":")
        rest = (f"{user}:{MASK}@" if colon else f"{MASK}@") + rest[at + 1:]
    parts = urlsplit(f"{scheme}://{rest}")
    query = urlencode([(k, MASK if SECRET_PARAMETER.search(k) else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="*@:")
    return urlunsplit(parts._replace(query=query)) if parts.query else f"{scheme}://{rest}"


def mask_text(text: str) -> str:
    """``text`` (an error message, a traceback) with every URL in it masked."""
    return URL.sub(lambda m: mask(m.group()), text)


def printable(text: str) -> str:
    """``text`` without control characters (terminal escape sequences, bidirectional overrides):
    names read from a model file or a table cannot repaint a terminal. Newlines and tabs stay."""
    return CONTROL.sub("?", text)


def spreadsheet_safe(cell: object) -> object:
    """A text cell a spreadsheet would run as a formula, quoted so it reads as text."""
    if isinstance(cell, str) and cell.startswith(FORMULA):
        return "'" + cell
    return cell
