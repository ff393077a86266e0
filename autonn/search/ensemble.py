"""Ensemble selection (Caruana et al., 2004): sorted initialization, then greedy additions with
replacement.

The ensemble starts as the uniform mean of the ``size`` best candidates (the paper's "sorted
ensemble initialization", which keeps the greedy steps from overfitting the selection rows),
leaving out any that is clearly worse than the best (``clearly_worse``: half as much loss again
over the selection rows, and more than noise would explain), so a small study does not average
in a failed trial. The count is
otherwise fixed, not chosen on those rows: the best candidates won their places by their scores
on the very same rows, so a single one looks better there than it is, and choosing the count
there chose too few (benchmarks/RESULTS.md, "Finishing one search several ways"). Each later round
adds the candidate whose inclusion makes the mean prediction score best, and is kept only when
the score improves; a candidate may be added again, which raises its weight. The result is a
weight (a count) per candidate.

Scores compare by the metric first, then, for classifiers, by log loss: accuracy on a few hundred
rows ties often, and a proper scoring rule tells the tied ensembles apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from autonn.metrics import EPS, Metric, is_better, log_loss

Score = tuple[float, float]  # (the metric, the tie-breaker: lower is better)
RowLoss = Callable[[torch.Tensor], torch.Tensor]  # predictions -> (N,) each row's loss
# A candidate stays out of the initial mean when its mean row loss is more than WORSE times the
# best's and more than NOISE standard errors (paired over the rows) above it. Significance alone
# would keep out near-ties on large tables; the ratio alone would keep out near-perfect ones.
WORSE, NOISE = 1.5, 2.0


def scorer(metric: Metric, y: torch.Tensor, classifier: bool) -> Callable[[torch.Tensor], Score]:
    """The (metric, tie-breaker) of predictions of the selection rows ``y``."""
    def score(predictions: torch.Tensor) -> Score:
        return (float(metric.fn(y, predictions)),
                float(log_loss(y, predictions)) if classifier else 0.0)
    return score


def row_loss(y: torch.Tensor, classifier: bool) -> RowLoss:
    """Each selection row's loss: log loss for classifiers, squared error (summed over targets)
    for regression."""
    def loss(predictions: torch.Tensor) -> torch.Tensor:
        p = predictions.double()
        if classifier:
            return -p.clamp(EPS, 1 - EPS).gather(1, y.long().view(-1, 1)).log().view(-1)
        return (p.view(len(y), -1) - y.double().view(len(y), -1)).square().sum(1)
    return loss


def clearly_worse(loss: RowLoss, best: torch.Tensor, other: torch.Tensor) -> bool:
    """Whether ``other``'s predictions lose to ``best``'s: a mean row loss more than ``WORSE``
    times as large, by more than ``NOISE`` standard errors of the paired per-row difference."""
    mine, theirs = loss(best), loss(other)  # (N,) each
    d = theirs - mine
    if len(d) < 2:
        return False
    return bool(theirs.mean() > WORSE * mine.mean()
                and d.mean() > NOISE * d.std() / math.sqrt(len(d)))


def better(a: Score, b: Score, direction: str) -> bool:
    """Whether ``a`` beats ``b``: a better metric, or the same metric and a lower tie-breaker."""
    return is_better(a[0], b[0], direction) or (a[0] == b[0] and a[1] < b[1])


def ensemble_selection(predictions: list[torch.Tensor], score: Callable[[torch.Tensor], Score],
                       direction: str, size: int, loss: RowLoss | None = None
                       ) -> tuple[list[int], Score]:
    """Counts per candidate (best-ranked first) and the ensemble's score.

    Args:
        predictions: each candidate's (N, K) probabilities or (N, T) values of the same rows,
            best candidate first.
        score: ``scorer`` of those rows.
        size: the initial mean holds this many best candidates (all, when fewer; the best
            alone for 0), and at most this many greedy additions follow it.
        loss: ``row_loss`` of those rows; with it, candidates ``clearly_worse`` than the best
            stay out of the initial mean.
    """
    start = [0]
    for k in range(1, len(predictions)):
        if len(start) >= size:
            break
        if loss is None or not clearly_worse(loss, predictions[0], predictions[k]):
            start.append(k)
    counts = [int(k in start) for k in range(len(predictions))]
    total = sum(predictions[k] for k in start)
    best = score(total / len(start))
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
