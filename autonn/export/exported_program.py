"""The exported_program format: one .pt2 archive of ``torch.export`` (the ExportedProgram
PyTorch now steers to in place of TorchScript), the scoring module with a dynamic batch axis and
the manifest inside.

``torch.export.load`` can unpickle parts of an archive, so one loads only when autonn exported
exactly these bytes on this machine (``integrity.is_own_export``) or the caller trusts it, as
TorchScript.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import torch

from autonn.errors import ModelFileError
from autonn.export.bundle import Bundle
from autonn.export.integrity import check_digest, digest, is_own_export
from autonn.export.pipeline import Backend, numpy_backend

MANIFEST_FILE = "autonn.json"  # under extra/ in the archive


def write(bundle: Bundle, path: Path, example: object = None) -> None:
    """Export the scoring module's graph (batch axis dynamic) with the manifest inside."""
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(bundle.module(), (torch.zeros(2, bundle.n_features),),
                                  dynamic_shapes=({0: batch},))
    manifest = bundle.manifest_json()
    stored = {"manifest": manifest, "digest": digest(manifest, bundle.tensors)}
    torch.export.save(program, str(path), extra_files={MANIFEST_FILE: json.dumps(stored)})


def read(path: Path, trust: bool = False, source: str | None = None) -> tuple[Bundle, Backend]:
    """Check the archive without loading it; load it only if autonn wrote it or it is trusted."""
    source = source or str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith(f"/extra/{MANIFEST_FILE}")]
            stored = json.loads(archive.read(names[0])) if names else None
    except (zipfile.BadZipFile, ValueError, KeyError):
        raise ModelFileError(f"{source}: not a .pt2 archive autonn can read.") from None
    if not trust and not is_own_export(path):
        raise ModelFileError(
            f"{source}: torch.export.load can run code from a .pt2 archive, and autonn did not "
            "export this file on this machine (or it changed since). Load it only if you trust "
            "where it came from, with --trust-model (Python: trust_model=True), or use a "
            "state_dict or ONNX export.")
    if stored is None:
        raise ModelFileError(f"{source}: a .pt2 archive without an autonn manifest; it was not "
                             "exported by autonn.")
    bundle = Bundle.from_manifest(stored["manifest"], source=source)
    program = torch.export.load(str(path))
    tensors = {k: v for k, v in program.state_dict.items()}
    check_digest(stored.get("digest"), stored["manifest"], tensors, source)
    return bundle.with_tensors(tensors), numpy_backend(program.module())
