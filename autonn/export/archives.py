"""The zip archives of TorchScript (.pt) and torch.export (.pt2): bounds checked before anything
is inflated, the manifest read, and the signature kept in the zip comment.

The signature covers the whole archive as torch wrote it (every byte but the comment), so what
torch later parses is exactly what was signed, whatever its zip reader makes of the bytes.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from autonn.errors import ModelFileError
from autonn.export.signing import SCHEME, SIGNATURE_LENGTH

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
    except (zipfile.BadZipFile, ValueError, KeyError, EOFError):
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
