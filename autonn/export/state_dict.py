"""The state_dict format: one .safetensors file, the tensors with the manifest and your
signature in its metadata.

Reading parses a plain JSON header and raw numbers from bytes read once: nothing is executed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from autonn.errors import ModelFileError
from autonn.export import safetensors_file
from autonn.export.integrity import digest
from autonn.export.safetensors_file import DIGEST_KEY, KIND, MANIFEST_KEY, SIGNATURE_KEY
from autonn.export.signing import Provenance, admit, sign, tensor_parts

if TYPE_CHECKING:  # torch, loaded by the functions that build or run the network
    from autonn.export.bundle import Bundle
    from autonn.export.pipeline import Backend


def write(bundle: Bundle, path: Path, example: object = None) -> None:
    """Write ``bundle`` to ``path`` (``example`` is for formats that keep one; unused here)."""
    from safetensors.torch import save_file

    manifest = bundle.manifest_json()
    save_file(bundle.tensors, str(path), metadata={
        MANIFEST_KEY: manifest, DIGEST_KEY: digest(manifest, bundle.tensors),
        SIGNATURE_KEY: sign(KIND, tensor_parts(manifest, bundle.tensors))})


def parse(data: bytes, source: str) -> tuple[dict[str, str], dict[str, Any], Provenance]:
    """The metadata, tensors and signer of a safetensors file's bytes: layout, signature and
    digest checked first (``safetensors_file.check``), then the tensors loaded."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    metadata, signed = safetensors_file.check(data, source)
    try:
        tensors = load(data)
    except SafetensorError as exc:
        raise ModelFileError(f"{source}: not a safetensors file ({str(exc).splitlines()[0]}); "
                             "a state_dict export is one .safetensors file written by "
                             "`autonn export --format state_dict`.") from None
    return metadata, tensors, signed


def read_bundle(path: Path, source: str | None = None) -> Bundle:
    """Parse a safetensors export and check its digest, whoever signed it (autonn's own saved
    final models, and MLflow's loader, which has no key to check with)."""
    return bundle_of(safetensors_file.read_file(path, source or str(path)), source or str(path))[0]


def bundle_of(data: bytes, source: str) -> tuple[Bundle, Provenance]:
    from autonn.export.bundle import Bundle  # torch: to hold the tensors

    metadata, tensors, signed = parse(data, source)
    return Bundle.from_manifest(metadata[MANIFEST_KEY], tensors, source), signed


def provenance(path: Path, source: str) -> Provenance:
    """Who signed the file at ``path`` (checked without torch)."""
    return safetensors_file.check(safetensors_file.read_file(path, source), source)[1]


def backend(bundle: Bundle, source: str) -> Backend:
    """The network rebuilt from the manifest by autonn's own code, with the file's weights."""
    from autonn.export.pipeline import numpy_backend  # torch: runs the network

    return numpy_backend(bundle.module(source))


def read(path: Path, trust: bool = False, source: str | None = None
         ) -> tuple[Bundle, Backend, Provenance]:
    """The bundle, a backend that runs it and who signed it (refused unless yours or trusted)."""
    source = source or str(path)
    bundle, signed = bundle_of(safetensors_file.read_file(path, source), source)
    admit(signed, trust, source)
    return bundle, backend(bundle, source), signed
