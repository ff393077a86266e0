"""The zip archives of TorchScript (.pt) and torch.export (.pt2): bounds checked before anything
is inflated, the manifest read, and the signature kept in the zip comment.

The signature covers the whole archive as torch wrote it (every byte but the comment), so what
torch later parses is exactly what was signed, whatever its zip reader makes of the bytes.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from autonn.errors import ModelFileError
from autonn.export.bundle import Bundle
from autonn.export.integrity import check_digest, read_once
from autonn.export.pipeline import Backend
from autonn.export.signing import SCHEME, SIGNATURE_LENGTH, Provenance, admit, verify

# loads an archive's bytes: its tensors by name and the backend that runs it
Loader = Callable[[bytes], tuple[dict[str, torch.Tensor], Backend]]

MANIFEST_FILE = "autonn.json"  # under extra/ in the archive
MAX_MANIFEST = 1 << 20  # 1 MB: a manifest is a few kB
MAX_UNPACKED = 1 << 35  # 32 GiB in all, and never more than ...
MAX_RATIO = 64  # ... 64 times the archive (torch stores members uncompressed)
EOCD = b"PK\x05\x06"  # the zip's last record; its last two bytes are the comment's length


def attach(archive: bytes, signature: str) -> bytes:
    """``archive`` with ``signature`` as its zip comment (torch writes none)."""
    if archive[-22:-18] != EOCD or archive[-2:] != b"\0\0":
        raise ValueError("the archive does not end with a comment-free zip end record")
    comment = signature.encode()
    return archive[:-2] + len(comment).to_bytes(2, "little") + comment


def detach(data: bytes) -> tuple[bytes, str | None]:
    """The archive as signed (its comment emptied) and the signature; (data, None) if none."""
    tail = data[-SIGNATURE_LENGTH:]
    length = int.from_bytes(data[-SIGNATURE_LENGTH - 2:-SIGNATURE_LENGTH] or b"\0\0", "little")
    if len(data) < SIGNATURE_LENGTH + 22 or length != SIGNATURE_LENGTH \
            or not tail.startswith(SCHEME.encode()):
        return data, None
    return data[:-SIGNATURE_LENGTH - 2] + b"\0\0", tail.decode("ascii", "replace")


def checked(path: Path, source: str, kind: str, what: str
            ) -> tuple[bytes, dict | None, Provenance]:
    """The file's bytes, its stored manifest and who signed it; nothing is run."""
    data = read_once(path, source)
    stored = manifest(data, source, what)
    body, signature = detach(data)
    return data, stored, verify(signature, kind, [body], source)


def read(path: Path, trust: bool, source: str, kind: str, what: str, load: Loader
         ) -> tuple[Bundle, Backend, Provenance]:
    """Check the archive without running it, then ``load`` the same bytes only if you signed
    it or trust it; the loaded tensors must match the manifest's digest."""
    data, stored, signed = checked(path, source, kind, what)
    admit(signed, trust, source, runs_code=True)
    if stored is None:
        raise ModelFileError(f"{source}: a {what} without an autonn manifest; it was not "
                             "exported by autonn.")
    bundle = Bundle.from_manifest(stored["manifest"], source=source)
    bundle.check_bounds(source)
    tensors, backend = load(data)
    check_digest(stored.get("digest"), stored["manifest"], tensors, source)
    return bundle.with_tensors(tensors), backend, signed


def manifest(data: bytes, source: str, what: str) -> dict[str, Any] | None:
    """The stored manifest of an archive, after checking every member's declared size."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            _check_sizes(infos, len(data), source)
            names = [i for i in infos if i.filename.endswith(f"/extra/{MANIFEST_FILE}")]
            if not names:
                return None
            with archive.open(names[0]) as member:
                return json.loads(member.read(MAX_MANIFEST + 1))
    except (zipfile.BadZipFile, ValueError, KeyError, EOFError, RecursionError):
        raise ModelFileError(f"{source}: not a {what} autonn can read.") from None


def _check_sizes(infos: list[zipfile.ZipInfo], size: int, source: str) -> None:
    """Refuse members whose inflated sizes no honest archive has, before inflating any."""
    total = sum(i.file_size for i in infos)
    if total > min(MAX_UNPACKED, MAX_RATIO * size + (1 << 20)):
        raise ModelFileError(f"{source}: the archive's members unpack to {total} bytes from "
                             f"{size}; it is not an autonn export (a zip bomb?).")
    for info in infos:
        if info.filename.endswith(f"/extra/{MANIFEST_FILE}") and info.file_size > MAX_MANIFEST:
            raise ModelFileError(f"{source}: archive member {info.filename} is {info.file_size} "
                                 f"bytes unpacked, more than a manifest's {MAX_MANIFEST}; it is "
                                 "not an autonn export.")
