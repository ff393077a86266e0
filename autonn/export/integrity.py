"""File integrity for exports: content digests, autonn's private folder and the record of its own
exports (writing into place is ``staging``).

Each export stores a digest of its manifest and its network (``digest``), so a changed file is
refused (``check_digest``).

Every file ``autonn export`` writes is noted by its sha256 under ``$AUTONN_HOME/exports``
(default ``~/.autonn/exports``; only its owner may write the folder: ``private_home``), for
people; whether a file loads is decided by its signature (``signing``). Model files are read once into memory (``read_once``) and loaded from those bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
import time
from pathlib import Path
from typing import Any

from autonn.errors import ModelFileError

CHUNK = 1 << 20
MAX_FILE_BYTES = 1 << 34  # 16 GiB: far above any network a search builds


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


def private_home() -> Path:
    """``autonn_home()``, made mode 700 if missing; refused when it is not a folder of yours that
    only you can write: whoever can write it can swap your signing key or staged exports."""
    home = autonn_home()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = home.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise ModelFileError(f"AUTONN_HOME {home} is not a folder; point AUTONN_HOME at a folder "
                             "of yours, or remove the file.")
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise ModelFileError(f"AUTONN_HOME {home} can be written by other users (owner id "
                             f"{info.st_uid}, mode {info.st_mode & 0o777:o}): they could swap "
                             f"your signing key. Run `chmod 700 {home}` if it is yours, or point "
                             "AUTONN_HOME at a folder only you can write.")
    return home


def create_once(path: Path, data: bytes) -> None:
    """Write ``data`` whole under a private name (mode 600), then link it into place: ``link``
    fails when another process made ``path`` first (theirs wins), and no reader ever sees it
    empty or half written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


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


def record_export(path: str | Path, fmt: str, digest: str, signature: str | None) -> None:
    """Note an export under ``$AUTONN_HOME/exports``, by the sha256 of the bytes autonn wrote
    (taken before they were moved into place). A record for people: what loads is decided by the
    signature inside the file, never by a file in this folder."""
    registry = private_home() / "exports"
    registry.mkdir(exist_ok=True, mode=0o700)
    entry = {"path": str(Path(path).resolve()), "format": fmt, "time": time.time(),
             "sha256": digest, "signature": signature}
    (registry / digest).write_text(json.dumps(entry))


def read_once(path: str | Path, source: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """A file's bytes, read once: what is checked is what is loaded, whatever happens to the path
    meanwhile. Its size is checked before anything is read."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > limit:
                raise ModelFileError(f"{source}: {size} bytes, more than the {limit} a model file "
                                     "may have; it is not an autonn export.")
            return fh.read(limit + 1)[:limit]
    except OSError as exc:
        raise ModelFileError(f"{source}: cannot read the model file ({exc.strerror}).") from None
