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

from autonn.errors import ModelFileError
from autonn.export import archives
from autonn.export.bundle import Bundle
from autonn.export.integrity import check_digest, digest, read_once
from autonn.export.pipeline import Backend, numpy_backend
from autonn.export.signing import Provenance, admit, sign, verify

MANIFEST_FILE = archives.MANIFEST_FILE
KIND = "torchscript"


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


def checked(path: Path, source: str) -> tuple[bytes, dict | None, Provenance]:
    """The file's bytes, its stored manifest and who signed it; nothing is run."""
    data = read_once(path, source)
    stored = archives.manifest(data, source, "TorchScript archive")
    body, signature = archives.detach(data)
    return data, stored, verify(signature, KIND, [body], source)


def provenance(path: Path, source: str) -> Provenance:
    return checked(path, source)[2]


def read(path: Path, trust: bool = False, source: str | None = None
         ) -> tuple[Bundle, Backend, Provenance]:
    """Check the archive without running it; load it only if you signed it or trust it."""
    source = source or str(path)
    data, stored, signed = checked(path, source)
    admit(signed, trust, source, runs_code=True)
    if stored is None:
        raise ModelFileError(f"{source}: a TorchScript file without an autonn manifest; it was not "
                             "exported by autonn.")
    bundle = Bundle.from_manifest(stored["manifest"], source=source)
    bundle.check_bounds(source)
    with _quiet():
        module = torch.jit.load(io.BytesIO(data), map_location="cpu")
    tensors = {k: v for k, v in module.state_dict().items()}
    check_digest(stored.get("digest"), stored["manifest"], tensors, source)
    return bundle.with_tensors(tensors), numpy_backend(module.eval()), signed
