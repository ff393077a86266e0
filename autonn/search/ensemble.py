"""Greedy ensemble selection with replacement (Caruana et al., 2004).

Starting from nothing, each round adds the candidate whose inclusion makes the mean prediction
score best on the selection rows; a candidate may be added again, which raises its weight. The
result is a weight (a count) per candidate.
"""

from __future__ import annotations

import torch

from autonn.metrics import Metric, is_better


def greedy_selection(predictions: list[torch.Tensor], y: torch.Tensor, metric: Metric,
                     rounds: int) -> tuple[list[int], float]:
    """Counts per candidate after ``rounds`` rounds, and the ensemble's score.

    Args:
        predictions: each candidate's (N, K) probabilities or (N, T) values of the same rows.
        y: those rows' labels (N,) or values (N, T).
    """
    counts, total, score = [0] * len(predictions), torch.zeros_like(predictions[0]), None
    for size in range(1, rounds + 1):
        best = None
        for i, p in enumerate(predictions):  # ties go to the earlier (better-ranked) candidate
            s = metric.fn(y, (total + p) / size)
            if best is None or is_better(s, best[1], metric.direction):
                best = (i, s)
        counts[best[0]] += 1
        total += predictions[best[0]]
        score = best[1]
    return counts, float(score)
