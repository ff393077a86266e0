"""Building blocks of the architecture families beyond the plain MLP.

``Residual``: x + dropout(act(linear(norm(x)))) -- a pre-norm residual MLP block.
``FeatureAttention``: each feature becomes a token (value x its own embedding, plus a bias), a
class token joins them, and one pre-norm self-attention + feed-forward block mixes them; the class
token's vector goes on (a small FT-Transformer).
``ConvBlock``: conv -> norm -> activation -> pooling over a 1-D signal or a 2-D image.
All are written with plain tensor operations that TorchScript tracing and ONNX export take.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from autonn.components import initialize, make_activation


def norm_layer(kind: str, width: int) -> nn.Module:
    """A normalisation over the last dimension of ``width`` features."""
    return {"batch": lambda: nn.BatchNorm1d(width), "layer": lambda: nn.LayerNorm(width),
            "none": nn.Identity}[kind]()


class Residual(nn.Module):
    """x + dropout(activation(linear(norm(x)))), width preserved."""

    def __init__(self, width: int, activation: str, init: str, norm: str, dropout: float) -> None:
        super().__init__()
        self.norm = norm_layer(norm, width)
        self.linear = nn.Linear(width, width)
        initialize(self.linear, init, activation)
        self.activation = make_activation(activation, width)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.dropout(self.activation(self.linear(self.norm(x))))


class FeatureAttention(nn.Module):
    """(N, F) features -> (N, dim): self-attention over one token per feature plus a class token."""

    def __init__(self, n_features: int, dim: int, heads: int, activation: str, init: str,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention dim {dim} is not divisible by {heads} heads")
        self.heads, self.dim = heads, dim
        self.embed = nn.Parameter(torch.randn(n_features, dim) / math.sqrt(dim))
        self.bias = nn.Parameter(torch.zeros(n_features, dim))
        self.cls = nn.Parameter(torch.randn(1, 1, dim) / math.sqrt(dim))
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.ff1, self.ff2 = nn.Linear(dim, 2 * dim), nn.Linear(2 * dim, dim)
        for layer in (self.qkv, self.out, self.ff2):
            initialize(layer, "xavier_uniform", "identity")
        initialize(self.ff1, init, activation)
        self.activation = make_activation(activation, 1)  # one PReLU slope: tokens are 3-D
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        tokens = x.unsqueeze(-1) * self.embed + self.bias  # (N, F, D)
        tokens = torch.cat([self.cls.expand(n, 1, self.dim), tokens], dim=1)  # (N, F+1, D)
        q, k, v = self.qkv(self.norm1(tokens)).chunk(3, dim=-1)
        split = lambda t: t.reshape(n, -1, self.heads, self.dim // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(q), split(k), split(v)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.dim // self.heads), dim=-1)
        mixed = (weights @ v).transpose(1, 2).reshape(n, -1, self.dim)
        tokens = tokens + self.dropout(self.out(mixed))
        tokens = tokens + self.dropout(self.ff2(self.activation(self.ff1(self.norm2(tokens)))))
        return tokens[:, 0]


class ConvBlock(nn.Module):
    """conv (same padding) -> norm -> activation -> pooling by 2 (unless ``pool`` is none)."""

    def __init__(self, dims: int, c_in: int, c_out: int, kernel: int, activation: str, init: str,
                 norm: str, pool: str) -> None:
        super().__init__()
        conv = (nn.Conv1d if dims == 1 else nn.Conv2d)(c_in, c_out, kernel, padding=kernel // 2)
        initialize(conv, init, activation)
        batch = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        normalise = {"batch": lambda: batch(c_out), "layer": lambda: nn.GroupNorm(1, c_out),
                     "none": nn.Identity}[norm]()
        pooling = {"max": (nn.MaxPool1d if dims == 1 else nn.MaxPool2d),
                   "avg": (nn.AvgPool1d if dims == 1 else nn.AvgPool2d)}
        layers = [conv, normalise, make_activation(activation, c_out)]
        if pool != "none":
            layers.append(pooling[pool](2))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Reshape(nn.Module):
    """(N, F) -> (N, *shape): flat feature rows as images or signals."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape((x.shape[0],) + self.shape)
