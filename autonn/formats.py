"""Write a ``Bundle`` in each export format, and read it back.

    state_dict   one .safetensors file: the tensors, the manifest in its metadata. Never runs code.
    onnx         one .onnx file: the network graph (dynamic batch axis), the manifest in its
                 metadata. Runs in onnxruntime; never runs Python code.
    torchscript  one .pt file: the traced network module, the manifest stored beside it inside the
                 archive. Loading runs TorchScript code: only autonn's own exports, or trusted files.
    mlflow       an MLflow model directory: pyfunc flavor whose loader is ``autonn.pyfunc``, data a
                 state_dict file. ``mlflow models predict`` and ``mlflow.pyfunc.load_model`` run it.

Each writer stores a digest of the manifest and the network, so a changed file is refused.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autonn.bundle import Bundle, ModelFileError
from autonn.trust import is_own_export

FORMATS = ("state_dict", "onnx", "torchscript", "mlflow")
SUFFIX = {"state_dict": ".safetensors", "onnx": ".onnx", "torchscript": ".pt", "mlflow": ""}
MANIFEST_KEY, DIGEST_KEY = "autonn", "autonn.sha256"
TORCHSCRIPT_MANIFEST = "autonn.json"
ONNX_OPSET = 17  # onnxruntime has run opset 17 since 1.14 (2023)
ONNX_INPUT = "features"
MLFLOW_DATA = "model.safetensors"
MLFLOW_LOADER = "autonn.pyfunc"

Backend = Callable[[np.ndarray], np.ndarray]  # encoded features (N, F) float32 -> outputs


def _digest(manifest: str, payload: bytes | dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256(manifest.encode())
    if isinstance(payload, dict):
        for name in sorted(payload):
            digest.update(name.encode() + b"\0")
            digest.update(payload[name].contiguous().cpu().numpy().tobytes())
    else:
        digest.update(payload)
    return digest.hexdigest()


def _check_digest(expected: str | None, manifest: str, payload: Any, source: str) -> None:
    if expected != _digest(manifest, payload):
        raise ModelFileError(f"{source}: the file was changed after autonn exported it (its "
                             "digest does not match); export the model again.")


# -- state_dict -----------------------------------------------------------------------------------
def write_state_dict(bundle: Bundle, path: Path) -> None:
    from safetensors.torch import save_file

    manifest = bundle.manifest_json()
    save_file(bundle.tensors, str(path), metadata={
        MANIFEST_KEY: manifest, DIGEST_KEY: _digest(manifest, bundle.tensors)})


def read_state_dict(path: Path, source: str | None = None) -> Bundle:
    """Parse a safetensors export: plain header and raw numbers, nothing executed."""
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
    _check_digest(metadata.get(DIGEST_KEY), metadata[MANIFEST_KEY], tensors, source)
    return Bundle.from_manifest(metadata[MANIFEST_KEY], tensors, source)


def state_dict_backend(bundle: Bundle, source: str) -> Backend:
    return _torch_backend(bundle.module(source))


def _torch_backend(module: Any) -> Backend:
    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(x)).numpy()
    return run


# -- torchscript ----------------------------------------------------------------------------------
def write_torchscript(bundle: Bundle, path: Path) -> None:
    module = bundle.module()
    example = torch.zeros(2, bundle.n_features)
    traced = torch.jit.trace(module, example, check_inputs=[(torch.zeros(7, bundle.n_features),)])
    manifest = bundle.manifest_json()
    digest = _digest(manifest, bundle.tensors)
    torch.jit.save(traced, str(path), _extra_files={
        TORCHSCRIPT_MANIFEST: json.dumps({"manifest": manifest, "digest": digest})})


def read_torchscript(path: Path, trust: bool, source: str | None = None) -> tuple[Bundle, Backend]:
    """Check the archive without running it; load it only if autonn wrote it or it is trusted."""
    source = source or str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith(f"/extra/{TORCHSCRIPT_MANIFEST}")]
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
    module = torch.jit.load(str(path), map_location="cpu")
    tensors = {k: v for k, v in module.state_dict().items()}
    _check_digest(stored.get("digest"), stored["manifest"], tensors, source)
    return bundle.with_tensors(tensors), _torch_backend(module.eval())


# -- onnx -----------------------------------------------------------------------------------------
def write_onnx(bundle: Bundle, path: Path) -> None:
    import io
    import warnings

    onnx = _onnx()
    output = "values" if bundle.output == "identity" else "probabilities"
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notice
        torch.onnx.export(bundle.module(), (torch.zeros(2, bundle.n_features),), buffer,
                          dynamo=False, opset_version=ONNX_OPSET, input_names=[ONNX_INPUT],
                          output_names=[output],
                          dynamic_axes={ONNX_INPUT: {0: "batch"}, output: {0: "batch"}})
    model = onnx.load_from_string(buffer.getvalue())
    manifest = bundle.manifest_json()
    _set_metadata(model, {MANIFEST_KEY: manifest,
                          DIGEST_KEY: _digest(manifest, model.graph.SerializeToString())})
    onnx.checker.check_model(model, full_check=True)
    path.write_bytes(model.SerializeToString())


def read_onnx(path: Path, source: str | None = None) -> tuple[Bundle, Backend]:
    """Parse the protobuf and run it in onnxruntime; no Python code is involved."""
    onnx = _onnx()
    import onnxruntime as ort

    source = source or str(path)
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:  # protobuf's DecodeError, onnx's ValidationError
        raise ModelFileError(f"{source}: not a valid ONNX model ({type(exc).__name__}).") from None
    metadata = {p.key: p.value for p in model.metadata_props}
    if MANIFEST_KEY not in metadata:
        raise ModelFileError(f"{source}: an ONNX model without an autonn manifest; it was not "
                             "exported by autonn.")
    _check_digest(metadata.get(DIGEST_KEY), metadata[MANIFEST_KEY],
                  model.graph.SerializeToString(), source)
    bundle = Bundle.from_manifest(metadata[MANIFEST_KEY], source=source)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return bundle, lambda x: session.run(None, {ONNX_INPUT: x})[0]


def _set_metadata(model: Any, values: dict[str, str]) -> None:
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


# -- mlflow ---------------------------------------------------------------------------------------
def write_mlflow(bundle: Bundle, path: Path, example: Any = None) -> None:
    """An MLflow pyfunc model whose loader is ``autonn.pyfunc``: no pickles inside."""
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        mlflow.pyfunc.save_model(str(path), **mlflow_model_args(bundle, Path(tmp), example))


def mlflow_model_args(bundle: Bundle, scratch: Path, example: Any = None) -> dict[str, Any]:
    """What ``mlflow.pyfunc.save_model`` / ``log_model`` take to store ``bundle``: its state_dict
    file as data, autonn's sources as code, pinned requirements, signature and input example
    (files are staged in ``scratch``)."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    from autonn.pyfunc import AutonnPyfunc

    data = scratch / MLFLOW_DATA
    write_state_dict(bundle, data)
    code = scratch / "autonn"  # the package's sources, so the model serves anywhere
    shutil.copytree(Path(__file__).parent, code, ignore=shutil.ignore_patterns("__pycache__"))
    signature = None
    if example is not None:
        output = AutonnPyfunc(read_state_dict(data)).predict(example)
        inferred = infer_signature(example, output, params={"proba": False})
        # columns by name, of any type: autonn checks values itself and names the bad row,
        # where MLflow's typed schema would refuse an integer column holding a gap, and more
        used = set(bundle.encoder.used)
        inputs = Schema([ColSpec(AnyType(), c, required=c in used) for c in bundle.encoder.columns])
        signature = ModelSignature(inputs, inferred.outputs, inferred.params)
    return {"loader_module": MLFLOW_LOADER, "data_path": str(data), "code_paths": [str(code)],
            "pip_requirements": _requirements(), "signature": signature,
            "input_example": example}


def read_mlflow(path: Path, trust: bool, source: str | None = None) -> tuple[Bundle | None, Any]:
    """Read autonn's own MLflow model from its safetensors data without MLflow's loader; any other
    MLflow model (pickled python_model, other loaders) only when trusted."""
    import yaml

    source = source or str(path)
    try:
        spec = yaml.safe_load((path / "MLmodel").read_text())
        pyfunc = spec["flavors"]["python_function"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        raise ModelFileError(f"{source}: not an MLflow model directory (no readable MLmodel with "
                             "a python_function flavor).") from None
    if pyfunc.get("loader_module") == MLFLOW_LOADER and "data" in pyfunc:
        data = path / pyfunc["data"]
        return read_state_dict(data / MLFLOW_DATA if data.is_dir() else data, source), None
    if not trust:
        raise ModelFileError(
            f"{source}: an MLflow model autonn did not write (loader "
            f"{pyfunc.get('loader_module')!r}); loading it can run pickled code. Load it only if "
            "you trust where it came from, with --trust-model (Python: trust_model=True).")
    import mlflow

    return None, mlflow.pyfunc.load_model(str(path))


def _requirements() -> list[str]:
    """The pinned packages the pyfunc model needs: autonn's own dependencies."""
    from importlib.metadata import PackageNotFoundError, requires, version

    from packaging.requirements import Requirement

    pins = []
    for line in requires("autonn") or []:
        req = Requirement(line)
        if req.marker is None:
            try:
                pins.append(f"{req.name}=={version(req.name).split('+')[0]}")
            except PackageNotFoundError:
                pins.append(str(req))
    return pins + [f"safetensors=={version('safetensors')}"]
