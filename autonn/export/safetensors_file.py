"""A safetensors file read with the standard library alone: its header, each tensor's raw bytes,
and its autonn signature and digest checked, so that a state_dict export can be checked and
copied without importing torch (``autonn export --format state_dict`` of a saved final model).

The parts checked are byte for byte those ``signing.tensor_parts`` and ``integrity.digest`` make
from torch tensors: a tensor's bytes in the file are its contiguous little-endian values.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from autonn.errors import ModelFileError
from autonn.export.signing import Provenance, verify

MAX_HEADER = 16 << 20  # an autonn header is a few kB to a few MB (safetensors allows 100 MB)
MANIFEST_KEY, DIGEST_KEY, SIGNATURE_KEY = "autonn", "autonn.sha256", "autonn.signature"
KIND = "state_dict"
# safetensors' dtype codes, as torch names them (what the signature covers)
TORCH_DTYPES = {"F64": "torch.float64", "F32": "torch.float32", "F16": "torch.float16",
                "BF16": "torch.bfloat16", "I64": "torch.int64", "I32": "torch.int32",
                "I16": "torch.int16", "I8": "torch.int8", "U8": "torch.uint8",
                "BOOL": "torch.bool"}
ITEM_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
              "U8": 1, "BOOL": 1}


@dataclass(frozen=True)
class RawTensor:
    """One tensor as the file stores it."""

    dtype: str  # torch's name, e.g. "torch.float32"
    shape: list[int]
    data: bytes


def parse_raw(data: bytes, source: str, body_size: int | None = None
              ) -> tuple[dict[str, str], dict[str, RawTensor]]:
    """The metadata and raw tensors of a safetensors file's bytes, held to the format's own
    rules (no repeated key; tensors that tile the data exactly, each as long as its shape
    says), so that the bytes checked are all the bytes there are. Signature not checked yet.
    With ``body_size``, ``data`` is the header alone, checked against a body of that size."""
    try:
        size = int.from_bytes(data[:8], "little")
        if len(data) < 8 or size > min(MAX_HEADER, len(data) - 8):
            raise ValueError(f"header of {size} bytes in a file of {len(data)}")
        header = json.loads(data[8:8 + size], object_pairs_hook=_unique)
        metadata = header.pop("__metadata__", None) or {}
        body, tensors, end = data[8 + size:], {}, 0
        if body_size is not None:
            body = b""  # offsets only; ``end`` is compared with body_size
        limit = len(body) if body_size is None else body_size
        for name, entry in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
            start, stop = entry["data_offsets"]
            count = math.prod(entry["shape"]) * ITEM_BYTES[entry["dtype"]]
            if start != end or stop - start != count:
                raise ValueError(f"tensor {name!r} does not follow the one before it")
            tensors[name], end = RawTensor(TORCH_DTYPES[entry["dtype"]], list(entry["shape"]),
                                           body[start:stop]), stop
        if end != limit:
            raise ValueError(f"{limit - end} bytes after the last tensor")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise ModelFileError(f"{source}: not a safetensors file ({_short(exc)}); a state_dict export "
                             "is one .safetensors file written by `autonn export --format "
                             "state_dict`.") from None
    return metadata, tensors


def _short(exc: Exception) -> str:
    return "nested too deep" if isinstance(exc, RecursionError) else str(exc)[:200]


def read_file(path: str | Path, source: str) -> bytes:
    """A safetensors file's bytes, read once, but only after its header: a header longer than
    ``MAX_HEADER`` or tensors that do not fill the file exactly are refused before the body is
    read (a sparse file of gigabytes costs nothing)."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(8)
            length = int.from_bytes(head, "little")
            if len(head) < 8 or length > min(MAX_HEADER, size - 8):
                raise ModelFileError(f"{source}: not a safetensors file (a header of {length} "
                                     f"bytes in a file of {size}, at most {MAX_HEADER}); a "
                                     "state_dict export is one .safetensors file written by "
                                     "`autonn export --format state_dict`.")
            header = fh.read(length)
            parse_raw(head + header, source, size - 8 - length)  # offsets against the size
            body = fh.read(size - 8 - length + 1)
    except OSError as exc:
        raise ModelFileError(f"{source}: cannot read the model file ({exc.strerror}).") from None
    return head + header + body


def _unique(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object whose keys are all different (a repeated one could hide a tensor)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("a key repeated in the header")
    return out


def check(data: bytes, source: str) -> tuple[dict[str, str], Provenance]:
    """The metadata (``MANIFEST_KEY`` holds the manifest's JSON) and signer of a state_dict
    export's bytes; a ModelFileError when it is not one, or was changed after autonn wrote it.
    The one check of these files: ``state_dict.parse`` loads the tensors after it."""
    metadata, tensors = parse_raw(data, source)
    if MANIFEST_KEY not in metadata:
        raise ModelFileError(f"{source}: a safetensors file without an autonn manifest; export "
                             "the model with `autonn export --format state_dict`.")
    manifest = metadata[MANIFEST_KEY]
    signed = verify(metadata.get(SIGNATURE_KEY), KIND, _parts(manifest, tensors), source)
    if metadata.get(DIGEST_KEY) != _digest(manifest, tensors):
        raise ModelFileError(f"{source}: the file was changed after autonn exported it (its "
                             "digest does not match); export the model again.")
    return metadata, signed


def _parts(manifest: str, tensors: dict[str, RawTensor]) -> list[bytes]:
    """``signing.tensor_parts`` of the same file."""
    parts = [manifest.encode()]
    for name in sorted(tensors):
        t = tensors[name]
        parts += [name.encode(), t.dtype.encode(), json.dumps(t.shape).encode(), t.data]
    return parts


def _digest(manifest: str, tensors: dict[str, RawTensor]) -> str:
    """``integrity.digest`` of the same file."""
    h = hashlib.sha256(manifest.encode())
    for name in sorted(tensors):
        h.update(name.encode() + b"\0")
        h.update(tensors[name].data)
    return h.hexdigest()

