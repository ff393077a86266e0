"""Rebuild a trained network into a module that takes raw feature rows.

``ScoringModule`` bundles the training split's standardisation, the network and the output
transform (probabilities, or values in the target's units) so any consumer gets predictions in the
user's own terms.
"""

from __future__ import annotations

import torch
from torch import nn

from autonn.data import DeviceData
from autonn.losses import OUTPUTS, Head


class ScoringModule(nn.Module):
    """Raw features (N, F) -> class probabilities (N, K) or regression values (N, T)."""

    def __init__(self, network: nn.Module, head: Head, data: DeviceData) -> None:
        super().__init__()
        self.network = network
        self.output = head.output
        f = data.feature_scaler
        self.register_buffer("feature_mean", torch.as_tensor(f.mean, dtype=torch.float32))
        self.register_buffer("feature_scale", torch.as_tensor(f.scale, dtype=torch.float32))
        t = data.target_scaler
        self.register_buffer("target_mean", torch.as_tensor(t.mean if t else 0.0, dtype=torch.float32))
        self.register_buffer("target_scale", torch.as_tensor(t.scale if t else 1.0, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = OUTPUTS[self.output](self.network((x - self.feature_mean) / self.feature_scale))
        if self.output == "identity":
            out = out * self.target_scale + self.target_mean
        return out


def scoring_module(network: nn.Module, head: Head, data: DeviceData) -> ScoringModule:
    """A CPU copy of ``network`` in evaluation mode, wrapped to take raw feature rows."""
    import copy

    module = ScoringModule(copy.deepcopy(network).cpu(), head, data)
    return module.eval()
