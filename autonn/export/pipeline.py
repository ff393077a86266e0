"""Rebuild trained networks into a module that takes the encoded feature matrix.

``ScoringModule`` bundles the training split's standardisation, the network and the output
transform (probabilities, or values in the target's units), so any consumer gets predictions in the
user's own terms. ``EnsembleModule`` averages several of them with weights. Their state dicts hold
everything numeric, so they round-trip through safetensors, TorchScript and ONNX alike.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from autonn.data.tensors import DeviceData
from autonn.losses import OUTPUTS, Head


class ScoringModule(nn.Module):
    """Features (N, F) -> class probabilities (N, K) or regression values (N, T)."""

    def __init__(self, network: nn.Module, output: str, n_features: int, n_targets: int = 1,
                 clip: float = 0.0) -> None:
        super().__init__()
        self.network = network
        self.output = output  # "softmax", "sigmoid" or "identity" (see ``autonn.losses.OUTPUTS``)
        self.clip = clip  # soft clip of standardised features (``Standardizer``); 0: none
        self.register_buffer("feature_mean", torch.zeros(n_features))
        self.register_buffer("feature_scale", torch.ones(n_features))
        self.register_buffer("target_mean", torch.zeros(n_targets))
        self.register_buffer("target_scale", torch.ones(n_targets))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.feature_mean) / self.feature_scale  # (N, F)
        if self.clip:
            z = z / torch.sqrt(1 + (z / self.clip) ** 2)
        out = OUTPUTS[self.output](self.network(z))
        if self.output == "identity":
            out = out * self.target_scale + self.target_mean
        return out


def scoring_module(network: nn.Module, head: Head, data: DeviceData) -> ScoringModule:
    """A CPU copy of ``network`` in evaluation mode, wrapped with ``data``'s scalers."""
    f, t = data.feature_scaler, data.target_scaler
    module = ScoringModule(copy.deepcopy(network).cpu(), head.output, len(f.mean),
                           len(t.mean) if t is not None else 1, f.clip)
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32).reshape(-1)  # noqa: E731
    module.feature_mean.copy_(as_tensor(f.mean))
    module.feature_scale.copy_(as_tensor(f.scale))
    if t is not None:
        module.target_mean.copy_(as_tensor(t.mean))
        module.target_scale.copy_(as_tensor(t.scale))
    return module.eval()


class EnsembleModule(nn.Module):
    """Features (N, F) -> the weighted mean of its members' probabilities or values."""

    def __init__(self, members: list[nn.Module], weights: list[float]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        total = float(sum(weights))
        self.register_buffer("weights", torch.tensor([w / total for w in weights]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.weights[0] * self.members[0](x)
        for i in range(1, len(self.members)):
            out = out + self.weights[i] * self.members[i](x)
        return out


Backend = Callable[[np.ndarray], np.ndarray]  # encoded features (N, F) float32 -> outputs


def numpy_backend(module: nn.Module) -> Backend:
    """``module`` as a function of NumPy arrays, run without autograd."""
    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(x)).numpy()
    return run
