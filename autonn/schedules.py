"""Learning-rate schedules by name: a multiplier of the base rate at each point of training.

``progress`` runs from 0 at the first step to 1 at the end of the trial's epoch budget, so a trial
that early stopping ends sooner has seen only the start of its schedule. A new schedule is one
entry here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from autonn.errors import lookup

WARMUP = 0.1  # share of training onecycle spends warming up from a tenth of the rate
FLOOR = 0.01  # where cosine decay ends, as a share of the base rate


def _constant(progress: float) -> float:
    return 1.0


def _cosine(progress: float) -> float:
    return FLOOR + (1 - FLOOR) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _onecycle(progress: float) -> float:
    """Linear warm-up from a tenth of the rate over the first ``WARMUP``, then cosine decay."""
    if progress < WARMUP:
        return 0.1 + 0.9 * progress / WARMUP
    return _cosine((progress - WARMUP) / (1 - WARMUP))


SCHEDULES: dict[str, Callable[[float], float]] = {
    "constant": _constant,
    "cosine": _cosine,
    "onecycle": _onecycle,
}


def schedule(name: str) -> Callable[[float], float]:
    """The schedule ``name`` (progress in [0, 1] -> learning-rate multiplier)."""
    return lookup(SCHEDULES, "schedule", name)
