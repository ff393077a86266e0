"""The state_dict format: one .safetensors file, the tensors with the manifest in its metadata.

Reading parses a plain JSON header and raw numbers: nothing is executed.
"""

from __future__ import annotations

from pathlib import Path

from autonn.errors import ModelFileError
from autonn.export.bundle import Bundle
from autonn.export.integrity import check_digest, digest
from autonn.export.pipeline import Backend, numpy_backend

MANIFEST_KEY, DIGEST_KEY = "autonn", "autonn.sha256"


def write(bundle: Bundle, path: Path, example: object = None) -> None:
    """Write ``bundle`` to ``path`` (``example`` is for formats that keep one; unused here)."""
    from safetensors.torch import save_file

    manifest = bundle.manifest_json()
    save_file(bundle.tensors, str(path), metadata={
        MANIFEST_KEY: manifest, DIGEST_KEY: digest(manifest, bundle.tensors)})


def read_bundle(path: Path, source: str | None = None) -> Bundle:
    """Parse a safetensors export and check its digest."""
    from safetensors import SafetensorError
    from safetensors.torch import safe_open

    source = source or str(path)
    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{source}: not a safetensors file ({str(exc).splitlines()[0]}); "
                             "a state_dict export is one .safetensors file written by "
                             "`autonn export --format state_dict`.") from None
    if MANIFEST_KEY not in metadata:
        raise ModelFileError(f"{source}: a safetensors file without an autonn manifest; export "
                             "the model with `autonn export --format state_dict`.")
    check_digest(metadata.get(DIGEST_KEY), metadata[MANIFEST_KEY], tensors, source)
    return Bundle.from_manifest(metadata[MANIFEST_KEY], tensors, source)


def backend(bundle: Bundle, source: str) -> Backend:
    """The network rebuilt from the manifest by autonn's own code, with the file's weights."""
    return numpy_backend(bundle.module(source))


def read(path: Path, trust: bool = False, source: str | None = None) -> tuple[Bundle, Backend]:
    """The bundle and a backend that runs it (``trust`` is moot: nothing here runs code)."""
    bundle = read_bundle(path, source)
    return bundle, backend(bundle, source or str(path))
