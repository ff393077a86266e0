"""The ``nn.Module``s the families assemble beyond Linear layers. Pure torch: no registries.

``Gaussian``: exp(-x^2), a radial-basis activation.
``Dropout``: nn.Dropout, with a quicker mask on the CPU.
``Residual``: x + dropout(act(linear(norm(x)))) -- a pre-norm residual MLP block.
``FeatureAttention``: each feature becomes a token (value x its own embedding, plus a bias), a
class token joins them, and one pre-norm self-attention + feed-forward block mixes them; the class
token's vector goes on (a small FT-Transformer).
``ConvBlock``: conv -> norm -> activation -> pooling over a 1-D signal or a 2-D image.
``Reshape``: flat rows as images or signals.
``PeriodicEmbedding``: each continuous feature as cos/sin of learned frequencies, then its own
linear map (and ReLU: "PLR", Gorishniy et al. 2022), flattened; binary features pass as they are.
Blocks take their norm and activation modules built; the families initialise the weights that the
search chooses an initializer for. All are plain tensor operations that TorchScript tracing and
ONNX export take.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class Gaussian(nn.Module):
    """exp(-x^2): a radial-basis activation that peaks at zero."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-x.square())


class Dropout(nn.Dropout):
    """``nn.Dropout`` with a quicker mask on the CPU: uniform draws thresholded in place into a
    mask of 0 and 1 / (1 - p), about twice as fast as torch's Bernoulli kernel on a batch of
    160 x 256 (dropout was a tenth of ``check_estimator``'s time; benchmarks/RESULTS.md). In
    evaluation mode, and on other devices (CUDA fuses its own kernel), it is ``nn.Dropout``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.inplace or x.device.type != "cpu" or not 0 < self.p < 1:
            return super().forward(x)
        mask = torch.rand_like(x).ge_(self.p).mul_(1 / (1 - self.p))  # x's shape: 0 or 1/(1-p)
        return x * mask


class Residual(nn.Module):
    """x + dropout(activation(linear(norm(x)))), width preserved."""

    def __init__(self, width: int, norm: nn.Module, activation: nn.Module, dropout: float) -> None:
        super().__init__()
        self.norm = norm
        self.linear = nn.Linear(width, width)
        self.activation = activation
        self.dropout = Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.dropout(self.activation(self.linear(self.norm(x))))


class FeatureAttention(nn.Module):
    """(N, F) features -> (N, dim): self-attention over one token per feature plus a class token.

    ``ff1`` feeds ``activation``: the caller initialises it; the other projections start Xavier-
    uniform with zero biases.
    """

    def __init__(self, n_features: int, dim: int, heads: int, activation: nn.Module,
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
        with torch.no_grad():
            for layer in (self.qkv, self.out, self.ff2):
                nn.init.xavier_uniform_(layer.weight)
                layer.bias.zero_()
        self.activation = activation
        self.dropout = Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        tokens = x.unsqueeze(-1) * self.embed + self.bias  # (N, F, D)
        tokens = torch.cat([self.cls.expand(n, 1, self.dim), tokens], dim=1)  # (N, F+1, D)
        q, k, v = self.qkv(self.norm1(tokens)).chunk(3, dim=-1)  # each (N, F+1, D)
        q, k, v = self._heads(q), self._heads(k), self._heads(v)  # each (N, H, F+1, D/H)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.dim // self.heads), dim=-1)
        mixed = (weights @ v).transpose(1, 2).reshape(n, -1, self.dim)  # (N, F+1, D)
        tokens = tokens + self.dropout(self.out(mixed))
        tokens = tokens + self.dropout(self.ff2(self.activation(self.ff1(self.norm2(tokens)))))
        return tokens[:, 0]  # the class token, (N, D)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        return t.reshape(t.shape[0], -1, self.heads, self.dim // self.heads).transpose(1, 2)


class ConvBlock(nn.Module):
    """conv -> norm -> activation [-> pooling], as one Sequential named ``layers``."""

    def __init__(self, conv: nn.Module, norm: nn.Module, activation: nn.Module,
                 pool: nn.Module | None) -> None:
        super().__init__()
        self.layers = nn.Sequential(conv, norm, activation, *([pool] if pool is not None else []))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class PeriodicEmbedding(nn.Module):
    """(N, F) features -> (N, E * dim + F - E): per embedded feature, [cos, sin](2 pi c x) with
    ``dim`` learned frequencies c ~ N(0, scale^2), then a linear map of its own to ``dim`` values
    (and a ReLU when ``relu``); the other F - E features follow as they are.

    ``columns`` are the E embedded features (None: all F). Binary and constant columns gain
    nothing from an embedding and would multiply the next layer's inputs by ``dim``."""

    def __init__(self, n_features: int, dim: int, scale: float, relu: bool,
                 columns: list[int] | None = None) -> None:
        super().__init__()
        embedded = n_features if columns is None else len(columns)
        self.frequencies = nn.Parameter(torch.randn(embedded, dim) * scale)  # (E, D)
        bound = 1 / math.sqrt(2 * dim)  # nn.Linear's default for 2D inputs
        self.weight = nn.Parameter(torch.empty(embedded, 2 * dim, dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(embedded, dim).uniform_(-bound, bound))
        self.relu = relu
        self.columns = None if columns is None else [int(c) for c in columns]
        if self.columns is not None:
            # Plain attributes, not buffers: the builder knows the columns, and a traced module
            # (TorchScript) would carry buffers in its state dict. A trace keeps them as constants,
            # and indexing takes them on any device (x[:, index], not index_select).
            passed = sorted(set(range(n_features)) - set(self.columns))
            self.embedded = torch.tensor(self.columns, dtype=torch.long)  # (E,)
            self.passed = torch.tensor(passed, dtype=torch.long)  # (F - E,)

    def _apply(self, fn, recurse=True):
        # the column indices follow .to() / .cpu() / .cuda() as buffers do
        if self.columns is not None:
            self.embedded, self.passed = fn(self.embedded), fn(self.passed)
        return super()._apply(fn, recurse)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inner = x if self.columns is None else x[:, self.embedded]  # (N, E)
        angles = 2 * math.pi * inner.unsqueeze(-1) * self.frequencies  # (N, E, D)
        periodic = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)  # (N, E, 2D)
        out = torch.einsum("nfk,fkd->nfd", periodic, self.weight) + self.bias  # (N, E, D)
        out = (torch.relu(out) if self.relu else out).flatten(1)  # (N, E * D)
        if self.columns is None:
            return out
        return torch.cat([out, x[:, self.passed]], dim=1)  # (N, E * D + F - E)


class Reshape(nn.Module):
    """(N, F) -> (N, *shape): flat feature rows as images or signals."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape((x.shape[0],) + self.shape)
