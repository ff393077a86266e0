"""Each loss of ``autonn.losses`` over a population's outputs: (K, B, O) -> (K,) per-member losses.

The same formulas as the one-network criteria (``F.cross_entropy`` with label smoothing,
``F.mse_loss``, ...), each member averaging over its own batch, so the sum of the members' losses
gives every member exactly its own gradient. Targets are each member's encoding (``Head.encode``,
with its own smoothing); ``smoothing`` is (K, 1) for the losses that apply it in the criterion.
A loss without an entry here trains one network at a time.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from autonn.tasks import BINARY, REGRESSION

Tensor = torch.Tensor
Criterion = Callable[[Tensor, Tensor, Tensor], Tensor]  # (outputs, targets, smoothing) -> (K,)


def _cross_entropy(out: Tensor, t: Tensor, smoothing: Tensor) -> Tensor:
    logp = out.log_softmax(-1)  # (K, B, C)
    nll = -logp.gather(-1, t.unsqueeze(-1)).squeeze(-1)  # (K, B)
    return ((1 - smoothing) * nll - smoothing * logp.mean(-1)).mean(1)


def _distance(fn: Callable[[Tensor, Tensor], Tensor]) -> Callable[[str], Criterion]:
    """mse / mae on values (regression), on softmax outputs against one-hot targets otherwise."""
    def bind(task: str) -> Criterion:
        if task == REGRESSION:
            return lambda out, t, s: fn(out, t).flatten(1).mean(1)
        return lambda out, t, s: fn(out.softmax(-1), t).flatten(1).mean(1)
    return bind


def _bce(out: Tensor, t: Tensor, smoothing: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(out.squeeze(-1), t, reduction="none").mean(1)


def _hinge(task: str) -> Criterion:
    if task == BINARY:  # one score, targets in {-1, +1}
        return lambda out, t, s: torch.clamp(1 - t * out.squeeze(-1), min=0).mean(1)
    return _multi_margin


def _multi_margin(out: Tensor, t: Tensor, smoothing: Tensor) -> Tensor:
    """F.multi_margin_loss: sum over wrong classes of max(0, 1 - x_y + x_j) / C, batch mean."""
    right = out.gather(-1, t.unsqueeze(-1))  # (K, B, 1)
    margins = torch.clamp(1 - right + out, min=0).scatter(-1, t.unsqueeze(-1), 0.0)
    return (margins.sum(-1) / out.shape[-1]).mean(1)


def _kl_div(out: Tensor, t: Tensor, smoothing: Tensor) -> Tensor:
    """F.kl_div(log_softmax, t, reduction="batchmean") per member."""
    logp = out.log_softmax(-1)
    return (torch.xlogy(t, t) - t * logp).sum(-1).mean(1)


# loss name -> task -> criterion over a population
BATCHED: dict[str, Callable[[str], Criterion]] = {
    "cross_entropy": lambda task: _cross_entropy,
    "mse": _distance(lambda a, b: (a - b) ** 2),
    "mae": _distance(lambda a, b: (a - b).abs()),
    "bce": lambda task: _bce,
    "hinge": _hinge,
    "kl_div": lambda task: _kl_div,
}
