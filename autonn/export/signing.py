"""Signatures on model files that only their owner can make: HMAC-SHA256 with a per-user key.

The key is 32 random bytes at ``$AUTONN_HOME/signing.key`` (default ``~/.autonn``), mode 0600,
made on the first export. Each format signs a canonical byte string of everything its loader
reads or runs (``canonical``) and stores the signature inside the file with the key's id.

A loaded file is then one of:

    verified   signed with your key: autonn wrote it for you, and it is unchanged
    foreign    signed with another key (someone else's autonn): loaded only when trusted
    unsigned   no signature (older autonn, other tools, or a stripped one): only when trusted

A file that names your key but whose signature does not match was changed: always refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from autonn.errors import ModelFileError
from autonn.export.integrity import create_once, private_home

SCHEME = "autonn-hmac-sha256"
KEY_BYTES = 32
SIGNATURE_LENGTH = len(SCHEME) + 1 + 16 + 1 + 64  # scheme:keyid:mac, all hex
VERIFIED, FOREIGN, UNSIGNED = "verified", "foreign", "unsigned"


@dataclass(frozen=True)
class Provenance:
    """Who signed a model file, as a status and a sentence for people."""

    status: str  # VERIFIED, FOREIGN or UNSIGNED
    detail: str
    signature: str | None = None

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"


def key_path() -> Path:
    return private_home() / "signing.key"


def own_key(create: bool = False) -> bytes | None:
    """This user's signing key; None when there is none yet (and ``create`` is false)."""
    path = key_path()
    try:
        # no blocking: a FIFO planted in its place would hang every command
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        if not create:
            return None
        create_once(path, secrets.token_bytes(KEY_BYTES))
        return own_key()
    except OSError as exc:  # ELOOP: a symlink someone else could point anywhere
        raise ModelFileError(f"{path}: cannot open the signing key ({exc.strerror}); it must be a "
                             "plain file that you own, mode 600. Remove it to make a new one "
                             "(your earlier exports then load only with --trust-model).") from None
    try:
        info = os.fstat(fd)
        data = os.read(fd, KEY_BYTES + 1) if stat.S_ISREG(info.st_mode) else b""
    finally:
        os.close(fd)
    if not stat.S_ISREG(info.st_mode):
        raise ModelFileError(f"{path}: the signing key is not a plain file (a folder, a FIFO or a "
                             "device); remove it to make a new one (your earlier exports then "
                             "load only with --trust-model).")
    if info.st_uid != os.getuid():
        raise ModelFileError(f"{path}: the signing key belongs to user id {info.st_uid}, not to "
                             "you; anyone who owns it can forge your exports. Remove it.")
    if info.st_mode & 0o077:
        raise ModelFileError(f"{path}: the signing key can be read by other users (mode "
                             f"{info.st_mode & 0o777:o}); they could forge your exports. Run "
                             f"`chmod 600 {path}`, or remove it if others may have read it.")
    if len(data) != KEY_BYTES:
        raise ModelFileError(f"{path}: the signing key is damaged ({len(data)} bytes, not "
                             f"{KEY_BYTES}); remove it to make a new one.")
    return data


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def canonical(kind: str, parts: list[bytes]) -> bytes:
    """One unambiguous byte string of a format's parts (each prefixed with its length)."""
    out = [b"autonn-signed-v1\0", kind.encode(), b"\0"]
    for part in parts:
        out += [len(part).to_bytes(8, "little"), part]
    return b"".join(out)


def tensor_parts(manifest: str, tensors: dict) -> list[bytes]:
    """The manifest, then each tensor's name, dtype, shape and bytes, in name order."""
    parts = [manifest.encode()]
    for name in sorted(tensors):
        tensor = tensors[name].detach().contiguous().cpu()
        parts += [name.encode(), str(tensor.dtype).encode(), json.dumps(list(tensor.shape)).encode(),
                  tensor.view(-1).view(_bytes_dtype()).numpy().tobytes()]
    return parts


def _bytes_dtype():
    import torch

    return torch.uint8  # any dtype as its raw bytes (bfloat16 has no NumPy twin)


def sign(kind: str, parts: list[bytes]) -> str:
    """The signature of ``parts`` with this user's key (made on first use)."""
    key = own_key(create=True)
    mac = hmac.new(key, canonical(kind, parts), hashlib.sha256).hexdigest()
    return f"{SCHEME}:{key_id(key)}:{mac}"


def verify(signature: str | None, kind: str, parts: list[bytes], source: str) -> Provenance:
    """Who signed ``parts``; a ModelFileError when your key's signature does not match."""
    if not signature:
        return Provenance(UNSIGNED, "the file carries no autonn signature")
    scheme, _, rest = signature.partition(":")
    signer, _, mac = rest.partition(":")
    key = own_key()
    if scheme != SCHEME or key is None or signer != key_id(key):
        return Provenance(FOREIGN, f"signed with another key ({signer[:16]!r}), not yours",
                          signature)
    expected = hmac.new(key, canonical(kind, parts), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, mac):
        raise ModelFileError(f"{source}: the file was changed after autonn exported it (its "
                             "signature does not match); export the model again.")
    return Provenance(VERIFIED, "exported by you on this machine (signed with your key "
                                f"{signer})", signature)


def admit(provenance: Provenance, trust: bool, source: str, runs_code: bool = False) -> None:
    """Refuse a file not signed with your key unless the caller trusts it."""
    if provenance.status == VERIFIED or trust:
        return
    danger = " Loading it runs code from the file." if runs_code else ""
    raise ModelFileError(
        f"{source}: autonn did not export this file on this machine ({provenance.detail}).{danger}"
        " Load it only if you trust where it came from, with --trust-model (Python: "
        "trust_model=True); or export the model again with your autonn.")
