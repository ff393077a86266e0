"""What a study optimises: the validation metric, and optionally size, latency and FLOPs.

``--objectives val_metric,params,latency`` makes a multi-objective study; each name is an entry of
``OBJECTIVES``, which says its direction and how to measure a trained model. torch loads on first
use (``_lazy``), so the config validates the names without it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autonn._lazy import torch
from autonn.errors import lookup

LATENCY_ROWS = 256  # rows per timed forward pass
LATENCY_REPEATS = 5


def count_parameters(model: Any) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _params(model: Any, x: Any) -> float:
    return float(count_parameters(model))


def _flops(model: Any, x: Any) -> float:
    """One row's floating-point operations, as torch's FLOP counter counts them."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model(x[:1])
    return float(counter.get_total_flops())


def _latency(model: Any, x: Any) -> float:
    """Milliseconds per forward pass of 256 rows on the model's device, median of 5."""
    batch = x[:LATENCY_ROWS]
    model(batch)  # warm-up
    times = []
    for _ in range(LATENCY_REPEATS):
        _synchronize(x.device)
        start = time.perf_counter()
        model(batch)
        _synchronize(x.device)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _synchronize(device: Any) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(frozen=True)
class Objective:
    """A registry entry: its direction (None: the metric's own) and how to measure a model."""

    direction: str | None
    measure: Callable[[Any, Any], float] | None  # (model in eval mode, validation rows) -> value
    help: str


OBJECTIVES: dict[str, Objective] = {
    "val_metric": Objective(None, None, "the study's metric on validation rows (always first)"),
    "params": Objective("minimize", _params, "trainable parameters"),
    "latency": Objective("minimize", _latency, "ms per forward pass of 256 rows"),
    "flops": Objective("minimize", _flops, "floating-point operations per row"),
}


def directions(objectives: list[str], metric_direction: str) -> list[str]:
    """Optuna directions, one per objective."""
    return [lookup(OBJECTIVES, "objective", name).direction or metric_direction
            for name in objectives]


def measure(name: str, model: Any, x: Any) -> float:
    """Objective ``name`` (not ``val_metric``) of ``model`` on rows ``x``, in evaluation mode."""
    fn = lookup(OBJECTIVES, "objective", name).measure
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return fn(model, x)
    finally:
        model.train(was_training)
