"""The export formats by name: what each writes, its file suffix, and how its files are known.

    state_dict        one .safetensors file: the tensors, the manifest in its metadata. Runs no
                      code.
    onnx              one .onnx file: the network graph, the manifest in its metadata;
                      onnxruntime runs it, no Python code is involved.
    onnx_raw          the same with the preprocessing in the graph: one input per raw column.
    torchscript       one .pt archive: the traced network, the manifest inside. Loading runs
                      TorchScript code.
    exported_program  one .pt2 torch.export archive. Loading can run code.
    mlflow            an MLflow pyfunc model directory whose data is a state_dict file.

Every format carries a signature with your key (``signing``): files signed with it load, others
only when trusted.

Each entry names the module that writes and reads it (``write(bundle, path, example)``,
``read(path, trust, source)`` -> bundle, backend, provenance; ``provenance(path, source)``,
which checks the signature without loading), imported on first use so that the command line
lists the formats without loading torch. A new format is a module and one entry here.
"""

from __future__ import annotations

import importlib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from autonn.errors import lookup


@dataclass(frozen=True)
class Format:
    """A registry entry: see the module docstring."""

    name: str
    suffix: str  # of what is written: a file, or a directory's name
    module: str  # the module with write() and read()
    help: str
    matches: Callable[[Path, bytes], bool]  # (path, its first 16 bytes) -> is this format
    is_directory: bool = False
    takes_example: bool = False  # write() keeps input rows as an example (else none is read)

    def implementation(self) -> ModuleType:
        return importlib.import_module(self.module)

    def write(self, bundle: Any, path: Path, example: Any = None) -> None:
        self.implementation().write(bundle, path, example)

    def read(self, path: Path, trust: bool = False, source: str | None = None) -> Any:
        return self.implementation().read(path, trust, source)


def _zip_holds(path: Path, head: bytes, part: str) -> bool:
    """Whether ``path`` is a zip archive with an entry whose name holds ``part``."""
    if not head.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return any(part in name for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


# Sniffed in this order: a directory, then the zip archives, before the looser tests.
FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("mlflow", ".mlflow", "autonn.export.mlflow_model",
           "an MLflow pyfunc model directory (mlflow models serve/predict); no pickles",
           lambda path, head: (path / "MLmodel").is_file(), is_directory=True,
           takes_example=True),
    Format("torchscript", ".pt", "autonn.export.torchscript",
           "one .pt TorchScript archive; loading runs its code (own exports or --trust-model)",
           lambda path, head: _zip_holds(path, head, "/code/")),
    Format("exported_program", ".pt2", "autonn.export.exported_program",
           "one .pt2 torch.export archive (ExportedProgram); loading can run code (own exports "
           "or --trust-model)", lambda path, head: _zip_holds(path, head, "/archive_format")),
    Format("state_dict", ".safetensors", "autonn.export.state_dict",
           "one .safetensors file: weights and manifest; loading runs no code",
           lambda path, head: len(head) > 8 and head[8:9] == b"{"),  # u64 length, then JSON
    Format("onnx", ".onnx", "autonn.export.onnx_model",
           "one .onnx file for onnxruntime; loading runs no Python code",
           lambda path, head: path.suffix.lower() == ".onnx"),
    # read as onnx (its sniff never matches first): the onnx reader runs either graph
    Format("onnx_raw", ".raw.onnx", "autonn.export.onnx_raw",
           "one .onnx file whose graph takes the raw columns (encoding inside), so onnxruntime "
           "alone serves raw rows (tables without date columns)",
           lambda path, head: False),
)}


def get_format(name: str) -> Format:
    """The format ``name``, or a ConfigError listing the valid ones."""
    return lookup(FORMATS, "format", name)
