"""The torchscript format: one .pt archive, the traced scoring module with the manifest inside,
signed with your key in the zip comment (``archives``).

Loading runs TorchScript code, so an archive loads only when it carries your signature or the
caller trusts it; the file is read once, checked, and loaded from those same bytes.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

from autonn.export import archives
from autonn.export.bundle import Bundle
from autonn.export.integrity import digest
from autonn.export.pipeline import Backend, numpy_backend
from autonn.export.signing import Provenance, sign

MANIFEST_FILE = archives.MANIFEST_FILE
KIND = "torchscript"
WHAT = "TorchScript archive"


def write(bundle: Bundle, path: Path, example: object = None) -> None:
    """Trace the scoring module, save it with the manifest and digest inside, and sign it."""
    module = bundle.module()
    example = torch.zeros(2, bundle.n_features)
    manifest = bundle.manifest_json()
    stored = {"manifest": manifest, "digest": digest(manifest, bundle.tensors)}
    buffer = io.BytesIO()
    with _quiet():
        traced = torch.jit.trace(module, example,
                                 check_inputs=[(torch.zeros(7, bundle.n_features),)])
        torch.jit.save(traced, buffer, _extra_files={MANIFEST_FILE: json.dumps(stored)})
    data = buffer.getvalue()
    path.write_bytes(archives.attach(data, sign(KIND, [data])))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch 2.13 warns that torch.jit is deprecated on every call; the format works while torch
    ships it (exported_program is its successor)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        yield


def provenance(path: Path, source: str) -> Provenance:
    return archives.checked(path, source, KIND, WHAT)[2]


def read(path: Path, trust: bool = False, source: str | None = None
         ) -> tuple[Bundle, Backend, Provenance]:
    """Check the archive without running it; load it only if you signed it or trust it."""
    return archives.read(path, trust, source or str(path), KIND, WHAT, _load)


def _load(data: bytes) -> tuple[dict[str, torch.Tensor], Backend]:
    with _quiet():
        module = torch.jit.load(io.BytesIO(data), map_location="cpu")
    return dict(module.state_dict()), numpy_backend(module.eval())
