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


def mask(url: str) -> str:
    """``url`` with its credentials masked: a password (``user:***@``), a user name with no
    password (a token: ``***@``) and query parameters named like secrets (``password=***``)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc and not parts.query:
        return url  # a path, not a URL
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if colon else f"{MASK}@{host}"
    query = urlencode([(k, MASK if SECRET_PARAMETER.search(k) else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def printable(text: str) -> str:
    """``text`` without control characters (terminal escape sequences, bidirectional overrides):
    names read from a model file or a table cannot repaint a terminal. Newlines and tabs stay."""
    return CONTROL.sub("?", text)


def spreadsheet_safe(cell: object) -> object:
    """A text cell a spreadsheet would run as a formula, quoted so it reads as text."""
    if isinstance(cell, str) and cell.startswith(FORMULA):
        return "'" + cell
    return cell
