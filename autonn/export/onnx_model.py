"""The onnx format: one .onnx file, the scoring module's graph (opset 17, dynamic batch axis,
checked by ``onnx.checker``), the manifest in its metadata with standard keys beside it
(``autonn.export.onnx_metadata``). It runs in onnxruntime: no Python code
is involved in loading it.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autonn.errors import ConfigError, ModelFileError
from autonn.export.bundle import Bundle
from autonn.export.integrity import check_digest, digest, read_once
from autonn.export.onnx_metadata import ONNX_INPUT, describe, output_name
from autonn.export.safetensors_file import DIGEST_KEY, MANIFEST_KEY, SIGNATURE_KEY
from autonn.export.signing import Provenance, admit, sign, verify

if TYPE_CHECKING:
    from autonn.export.pipeline import Backend

KIND = "onnx"

ONNX_OPSET = 17  # onnxruntime has run opset 17 since 1.14 (2023)


def write(bundle: Bundle, path: Path, example: object = None, before: Any = None) -> None:
    """Export the scoring module's graph (dynamic batch axis), the manifest in its metadata;
    ``before``, an ONNX model ending in ``features``, is joined in front of it (``onnx_raw``)."""
    import torch

    onnx = _onnx()
    output = output_name(bundle)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notice
        torch.onnx.export(bundle.module(), (torch.zeros(2, bundle.n_features),), buffer,
                          dynamo=False, opset_version=ONNX_OPSET, input_names=[ONNX_INPUT],
                          output_names=[output],
                          dynamic_axes={ONNX_INPUT: {0: "batch"}, output: {0: "batch"}})
    model = onnx.load_from_string(buffer.getvalue())
    if before is not None:
        before.ir_version = model.ir_version
        try:
            model = onnx.compose.merge_models(before, model, io_map=[(ONNX_INPUT, ONNX_INPUT)])
        except ValueError as exc:  # a column named like one of the network graph's tensors
            raise ConfigError(f"onnx_raw: the raw columns cannot be joined to the network "
                              f"graph ({exc}); rename the columns it names in the data, or "
                              "export with --format onnx.") from None
    manifest = bundle.manifest_json()
    _set_metadata(model, {MANIFEST_KEY: manifest,
                          DIGEST_KEY: digest(manifest, model.graph.SerializeToString())})
    describe(model, bundle)  # standard keys for other tools, beside the manifest
    onnx.checker.check_model(model, full_check=True)
    _set_metadata(model, {SIGNATURE_KEY: sign(KIND, [_signed_bytes(model)])}, keep=True)
    path.write_bytes(model.SerializeToString())


def _signed_bytes(model: Any) -> bytes:
    """What the signature covers: the whole model as it is without its signature entry."""
    return model.SerializeToString(deterministic=True)


def checked(path: Path, source: str) -> tuple[Any, dict[str, str], Provenance]:
    """The parsed model (signature entry taken out), its metadata and who signed it."""
    onnx = _onnx()
    try:
        model = onnx.load_from_string(read_once(path, source))
        onnx.checker.check_model(model)
    except ModelFileError:
        raise
    except Exception as exc:  # protobuf's DecodeError, onnx's ValidationError
        raise ModelFileError(f"{source}: not a valid ONNX model ({type(exc).__name__}).") from None
    signature = None
    for i in reversed(range(len(model.metadata_props))):
        if model.metadata_props[i].key == SIGNATURE_KEY:
            signature = model.metadata_props[i].value
            del model.metadata_props[i]
    metadata = {p.key: p.value for p in model.metadata_props}
    return model, metadata, verify(signature, KIND, [_signed_bytes(model)], source)


def provenance(path: Path, source: str) -> Provenance:
    return checked(path, source)[2]


def read(path: Path, trust: bool = False, source: str | None = None
         ) -> tuple[Bundle, Backend, Provenance]:
    """Parse the protobuf and run it in onnxruntime; no Python code is involved."""
    import onnxruntime as ort

    source = source or str(path)
    model, metadata, signed = checked(path, source)
    admit(signed, trust, source)
    if MANIFEST_KEY not in metadata:
        raise ModelFileError(f"{source}: an ONNX model without an autonn manifest; it was not "
                             "exported by autonn.")
    _no_external_data(model, source)
    check_digest(metadata.get(DIGEST_KEY), metadata[MANIFEST_KEY],
                 model.graph.SerializeToString(), source)
    bundle = Bundle.from_manifest(metadata[MANIFEST_KEY], source=source)
    bundle.check_bounds(source)
    network = _network_part(model, output_name(bundle), source)
    session = ort.InferenceSession(network.SerializeToString(), providers=["CPUExecutionProvider"])
    return bundle, lambda x: session.run(None, {ONNX_INPUT: x})[0], signed


def _network_part(model: Any, output: str, source: str) -> Any:
    """The graph from ``features`` on: a raw-column graph (``onnx_raw``) without its
    preprocessing, which autonn does itself (and names bad values with their rows)."""
    if any(i.name == ONNX_INPUT for i in model.graph.input):
        return model
    from onnx.utils import Extractor

    try:
        return Extractor(model).extract_model([ONNX_INPUT], [output])
    except Exception as exc:  # onnx raises KeyError or ValueError for missing tensors
        raise ModelFileError(f"{source}: the graph has no '{ONNX_INPUT}' tensor leading to "
                             f"'{output}' ({type(exc).__name__}); it is not an autonn export.") \
            from None


def _no_external_data(model: Any, source: str) -> None:
    """Refuse tensors kept in other files: onnxruntime would read whatever path they name."""
    for tensor in model.graph.initializer:
        if tensor.data_location == 1 or tensor.external_data:  # TensorProto.EXTERNAL
            raise ModelFileError(f"{source}: initializer {tensor.name} names external data; "
                                 "autonn exports keep every weight inside the .onnx file.")


def _set_metadata(model: Any, values: dict[str, str], keep: bool = False) -> None:
    if not keep:
        del model.metadata_props[:]
    for key, value in values.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def _onnx():
    try:
        import onnx
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ModelFileError("ONNX needs the onnx and onnxruntime packages: "
                             "pip install 'autonn[onnx]'.") from None
    return onnx
