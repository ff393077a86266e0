"""The torchscript format: one .pt archive, the traced scoring module with the manifest inside.

Loading runs TorchScript code, so an archive loads only when autonn exported exactly these bytes
on this machine (``integrity.is_own_export``) or the caller trusts it.
"""

from __future__ import annotations

import contextlib
import json
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import torch

from autonn.errors import ModelFileError
from autonn.export.bundle import Bundle
from autonn.export.integrity import check_digest, digest, is_own_export
from autonn.export.pipeline import Backend, numpy_backend

MANIFEST_FILE = "autonn.json"  # under extra/ in the archive


def write(bundle: Bundle, path: Path, example: object = None) -> None:
    """Trace the scoring module and save it with the manifest and digest inside the archive."""
    module = bundle.module()
    example = torch.zeros(2, bundle.n_features)
    manifest = bundle.manifest_json()
    stored = {"manifest": manifest, "digest": digest(manifest, bundle.tensors)}
    with _quiet():
        traced = torch.jit.trace(module, example,
                                 check_inputs=[(torch.zeros(7, bundle.n_features),)])
        torch.jit.save(traced, str(path), _extra_files={MANIFEST_FILE: json.dumps(stored)})


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch 2.13 warns that torch.jit is deprecated on every call; the format works while torch
    ships it (exported_program is its successor)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        yield


def read(path: Path, trust: bool = False, source: str | None = None) -> tuple[Bundle, Backend]:
    """Check the archive without running it; load it only if autonn wrote it or it is trusted."""
    source = source or str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith(f"/extra/{MANIFEST_FILE}")]
            stored = json.loads(archive.read(names[0])) if names else None
    except (zipfile.BadZipFile, ValueError, KeyError):
        raise ModelFileError(f"{source}: not a TorchScript archive autonn can read.") from None
    if not trust and not is_own_export(path):
        raise ModelFileError(
            f"{source}: TorchScript runs code when loaded, and autonn did not export this file on "
            "this machine (or it changed since). Load it only if you trust where it came from, "
            "with --trust-model (Python: trust_model=True), or use a state_dict or ONNX export.")
    if stored is None:
        raise ModelFileError(f"{source}: a TorchScript file without an autonn manifest; it was not "
                             "exported by autonn.")
    bundle = Bundle.from_manifest(stored["manifest"], source=source)
    with _quiet():
        module = torch.jit.load(str(path), map_location="cpu")
    tensors = {k: v for k, v in module.state_dict().items()}
    check_digest(stored.get("digest"), stored["manifest"], tensors, source)
    return bundle.with_tensors(tensors), numpy_backend(module.eval())
