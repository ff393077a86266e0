"""Modules imported on first use, so that ``import autonn`` and ``autonn --help`` stay instant.

Registries (activations, losses, metrics, samplers, families) are read by the config and the
command line long before a network exists; their entries name torch and optuna callables through
a ``LazyModule``, which imports the real module the first time an attribute is read (as optuna's
own ``_LazyImport`` does).
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class LazyModule(types.ModuleType):
    """A stand-in for module ``name`` that imports it on first attribute access."""

    def __init__(self, name: str) -> None:
        super().__init__(name)

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self.__name__)
        self.__dict__.update(module.__dict__)  # later lookups no longer reach __getattr__
        return getattr(module, attr)


torch = LazyModule("torch")
nn = LazyModule("torch.nn")
F = LazyModule("torch.nn.functional")
optuna = LazyModule("optuna")
