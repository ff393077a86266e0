"""Python bytecode inside an MLflow export: accepted only where it is the signed source's own.

MLflow serving an export imports ``code/autonn`` and Python writes ``__pycache__/*.pyc`` beside
it; a later import runs those files instead of the sources, so an attacker's ``.pyc`` would run
under a "verified" signature. A ``.pyc`` is accepted only when it is this Python's, beside a
signed ``.py`` of the same name, and holds exactly the code that source compiles to (code objects
compare equal, file name aside). Anything else in a ``__pycache__`` is refused.
"""

from __future__ import annotations

import importlib.util
import marshal
import re
import sys
import types

# <module>.<this interpreter's tag>[.opt-N].pyc: the only names this Python imports
PYC = re.compile(rf"(?P<stem>[^.]+)\.{re.escape(sys.implementation.cache_tag or '-')}"
                 r"(?:\.opt-(?P<opt>[12]))?\.pyc")


def source_of(name: str) -> str | None:
    """The relative path of the ``.py`` that the ``__pycache__`` file ``name`` compiles, or None
    when ``name`` is no bytecode this Python would import."""
    parts = name.split("/")
    match = PYC.fullmatch(parts[-1])
    if len(parts) < 2 or parts[-2] != "__pycache__" or match is None:
        return None
    return "/".join(parts[:-2] + [match["stem"] + ".py"])


def matches(pyc: bytes, source: bytes, name: str) -> bool:
    """Whether ``pyc`` (a ``.pyc`` file's bytes) holds the code ``source`` compiles to.

    ``marshal`` reads only the data format (it runs nothing); a damaged file is a mismatch."""
    if pyc[:4] != importlib.util.MAGIC_NUMBER or len(pyc) < 16:
        return False
    try:
        loaded = marshal.loads(pyc[16:])
        opt = PYC.fullmatch(name.rsplit("/", 1)[-1])["opt"]
        compiled = compile(source, name, "exec", dont_inherit=True, optimize=int(opt or 0))
    except (ValueError, EOFError, TypeError, SyntaxError):
        return False
    return isinstance(loaded, types.CodeType) and loaded == compiled
