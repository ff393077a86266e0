"""File integrity for exports: content digests, atomic writes and the record of autonn's own
exports.

Each export stores a digest of its manifest and its network (``digest``), so a changed file is
refused (``check_digest``).

Every file ``autonn export`` writes is recorded by its sha256 under ``$AUTONN_HOME/exports``
(default ``~/.autonn/exports``). Formats whose loading can run code (TorchScript, MLflow models with
pickles) are loaded only when their digest is recorded there, i.e. autonn wrote exactly these bytes
on this machine, or when the caller says it trusts the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from autonn.errors import ModelFileError

CHUNK = 1 << 20


def digest(manifest: str, payload: bytes | dict[str, Any]) -> str:
    """The sha256 of a manifest and a payload: serialised bytes, or named tensors in name order."""
    h = hashlib.sha256(manifest.encode())
    if isinstance(payload, dict):
        for name in sorted(payload):
            h.update(name.encode() + b"\0")
            h.update(payload[name].detach().contiguous().cpu().numpy().tobytes())
    else:
        h.update(payload)
    return h.hexdigest()


def check_digest(expected: str | None, manifest: str, payload: Any, source: str) -> None:
    """Refuse a file whose stored digest does not match what it holds."""
    if expected != digest(manifest, payload):
        raise ModelFileError(f"{source}: the file was changed after autonn exported it (its "
                             "digest does not match); export the model again.")


def autonn_home() -> Path:
    """Where autonn keeps per-user state: ``$AUTONN_HOME`` or ``~/.autonn``."""
    return Path(os.environ.get("AUTONN_HOME") or Path.home() / ".autonn")


def sha256(path: str | Path) -> str:
    """The hex sha256 of a file, or of a directory's files (names and contents, sorted)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with file.open("rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                digest.update(chunk)
    return digest.hexdigest()


def record_export(path: str | Path, fmt: str) -> str:
    """Remember ``path``'s digest as one of autonn's own exports; returns the digest."""
    digest = sha256(path)
    registry = autonn_home() / "exports"
    registry.mkdir(parents=True, exist_ok=True)
    entry = {"path": str(Path(path).resolve()), "format": fmt, "time": time.time()}
    (registry / digest).write_text(json.dumps(entry))
    return digest


def is_own_export(path: str | Path) -> bool:
    """Whether autonn exported exactly these bytes on this machine."""
    return (autonn_home() / "exports" / sha256(path)).is_file()


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` at once.

    On any error (or a kill) ``target`` is left as it was and the temporary path is removed, so
    a reader never sees half a file. Works for files and for directories.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    staged = tmp / target.name
    try:
        yield staged
        if not staged.exists():
            raise FileNotFoundError(f"nothing was written for {target}")
        _sync(staged)
        _default_mode(staged)
        if target.is_dir() and not target.is_symlink():
            old = tmp / ".replaced"
            target.rename(old)  # directories cannot be swapped in one step: move aside first
        os.replace(staged, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _default_mode(path: Path) -> None:
    """The permissions a plain ``open`` would give (temporary files are private)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


def _sync(path: Path) -> None:
    for file in [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]:
        with file.open("rb+") as fh:
            os.fsync(fh.fileno())
