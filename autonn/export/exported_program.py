"""The exported_program format: one .pt2 archive of ``torch.export`` (the ExportedProgram
PyTorch now steers to in place of TorchScript), the scoring module with a dynamic batch axis and
the manifest inside, signed with your key in the zip comment (``archives``).

``torch.export.load`` can unpickle parts of an archive, so one loads only when it carries your
signature or the caller trusts it, as TorchScript; it is read once and loaded from those bytes.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch

from autonn.export import archives
from autonn.export.bundle import Bundle
from autonn.export.integrity import digest
from autonn.export.pipeline import Backend, numpy_backend
from autonn.export.signing import Provenance, sign

MANIFEST_FILE = archives.MANIFEST_FILE
KIND = "exported_program"
WHAT = ".pt2 archive"


def write(bundle: Bundle, path: Path, example: object = None) -> None:
    """Export the scoring module's graph (batch axis dynamic) with the manifest inside; sign it."""
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(bundle.module(), (torch.zeros(2, bundle.n_features),),
                                  dynamic_shapes=({0: batch},))
    manifest = bundle.manifest_json()
    stored = {"manifest": manifest, "digest": digest(manifest, bundle.tensors)}
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files={MANIFEST_FILE: json.dumps(stored)})
    data = buffer.getvalue()
    path.write_bytes(archives.attach(data, sign(KIND, [data])))


def provenance(path: Path, source: str) -> Provenance:
    return archives.checked(path, source, KIND, WHAT)[2]


def read(path: Path, trust: bool = False, source: str | None = None
         ) -> tuple[Bundle, Backend, Provenance]:
    """Check the archive without loading it; load it only if you signed it or trust it."""
    return archives.read(path, trust, source or str(path), KIND, WHAT, _load)


def _load(data: bytes) -> tuple[dict[str, torch.Tensor], Backend]:
    program = torch.export.load(io.BytesIO(data))
    return dict(program.state_dict), numpy_backend(program.module())
