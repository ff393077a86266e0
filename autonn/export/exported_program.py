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

from autonn.errors import ModelFileError
from autonn.export import archives
from autonn.export.bundle import Bundle
from autonn.export.integrity import check_digest, digest, read_once
from autonn.export.pipeline import Backend, numpy_backend
from autonn.export.signing import Provenance, admit, sign, verify

MANIFEST_FILE = archives.MANIFEST_FILE
KIND = "exported_program"


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


def checked(path: Path, source: str) -> tuple[bytes, dict | None, Provenance]:
    """The file's bytes, its stored manifest and who signed it; nothing is run."""
    data = read_once(path, source)
    stored = archives.manifest(data, source, ".pt2 archive")
    body, signature = archives.detach(data)
    return data, stored, verify(signature, KIND, [body], source)


def provenance(path: Path, source: str) -> Provenance:
    return checked(path, source)[2]


def read(path: Path, trust: bool = False, source: str | None = None
         ) -> tuple[Bundle, Backend, Provenance]:
    """Check the archive without loading it; load it only if you signed it or trust it."""
    source = source or str(path)
    data, stored, signed = checked(path, source)
    admit(signed, trust, source, runs_code=True)
    if stored is None:
        raise ModelFileError(f"{source}: a .pt2 archive without an autonn manifest; it was not "
                             "exported by autonn.")
    bundle = Bundle.from_manifest(stored["manifest"], source=source)
    bundle.check_bounds(source)
    program = torch.export.load(io.BytesIO(data))
    tensors = {k: v for k, v in program.state_dict.items()}
    check_digest(stored.get("digest"), stored["manifest"], tensors, source)
    return bundle.with_tensors(tensors), numpy_backend(program.module()), signed
