"""Ensemble selection (Caruana et al., 2004): sorted initialization, then greedy additions with
replacement.

The ensemble starts as the uniform mean of the ``size`` best candidates (the paper's "sorted
ensemble initialization", which keeps the greedy steps from overfitting the selection rows). The
count is fixed, not chosen on those rows: the best candidates won their places by their scores on
the very same rows, so a single one looks better there than it is, and choosing the count there
chose too few (benchmarks/RESULTS.md, "Finishing one search several ways"). Each later round
adds the candidate whose inclusion makes the mean prediction score best, and is kept only when
the score improves; a candidate may be added again, which raises its weight. The result is a
weight (a count) per candidate.

Scores compare by the metric first, then, for classifiers, by log loss: accuracy on a few hundred
rows ties often, and a proper scoring rule tells the tied ensembles apart.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from autonn.metrics import Metric, is_better, log_loss

Score = tuple[float, float]  # (the metric, the tie-breaker: lower is better)


def scorer(metric: Metric, y: torch.Tensor, classifier: bool) -> Callable[[torch.Tensor], Score]:
    """The (metric, tie-breaker) of predictions of the selection rows ``y``."""
    def score(predictions: torch.Tensor) -> Score:
        return (float(metric.fn(y, predictions)),
                float(log_loss(y, predictions)) if classifier else 0.0)
    return score


def better(a: Score, b: Score, direction: str) -> bool:
    """Whether ``a`` beats ``b``: a better metric, or the same metric and a lower tie-breaker."""
    return is_better(a[0], b[0], direction) or (a[0] == b[0] and a[1] < b[1])


def ensemble_selection(predictions: list[torch.Tensor], score: Callable[[torch.Tensor], Score],
                       direction: str, size: int) -> tuple[list[int], Score]:
    """Counts per candidate (best-ranked first) and the ensemble's score.

    Args:
        predictions: each candidate's (N, K) probabilities or (N, T) values of the same rows,
            best candidate first.
        score: ``scorer`` of those rows.
        size: the initial mean holds this many best candidates (all, when fewer; the best
            alone for 0), and at most this many greedy additions follow it.
    """
    n = max(1, min(size, len(predictions)))
    best = score(sum(predictions[:n]) / n)
    counts = [1] * n + [0] * (len(predictions) - n)
    total = sum(predictions[:n])
    for _ in range(size):
        members = sum(counts) + 1
        trial = [(score((total + p) / members), i) for i, p in enumerate(predictions)]
        s, i = trial[0]
        for candidate in trial[1:]:  # ties go to the earlier (better-ranked) candidate
            if better(candidate[0], s, direction):
                s, i = candidate
        if not better(s, best, direction):
            break
        counts[i] += 1
        total, best = total + predictions[i], s
    return counts, best
