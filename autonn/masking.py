"""Secrets out of sight: the one place that masks what autonn prints, logs or passes on."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def mask(url: str) -> str:
    """``url`` with any password replaced by ``***``, for logs, parameters and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))
