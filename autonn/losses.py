"""Losses with the output head and target encoding each needs, and which task each fits.

A loss decides, for a task, how many outputs the network has, how targets are encoded (class
indices, one-hot, {-1, +1}, values) and how raw outputs become predictions (class probabilities or
values). ``head(loss, task, n_classes)`` binds the three; targets are encoded once per split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autonn._lazy import F, torch
from autonn.errors import ConfigError, lookup
from autonn.tasks import BINARY, MULTICLASS, REGRESSION, TASKS

if TYPE_CHECKING:
    from torch import Tensor

KL_SMOOTHING = 0.05  # probability mass kl_div's target spreads evenly over all classes


def _softmax(out: Tensor) -> Tensor:
    return out.softmax(dim=-1)


def _sigmoid_pair(out: Tensor) -> Tensor:
    p = torch.sigmoid(out.squeeze(-1))
    return torch.stack((1 - p, p), dim=-1)


def _identity(t: Tensor) -> Tensor:
    return t


# How raw outputs become predictions, by name, so an exported model can store the name.
OUTPUTS: dict[str, Callable[[Tensor], Tensor]] = {
    "softmax": _softmax,  # (N, K) logits -> (N, K) probabilities
    "sigmoid": _sigmoid_pair,  # (N, 1) score -> (N, 2) probabilities
    "identity": _identity,  # (N, T) values
}


@dataclass(frozen=True)
class Head:
    """A loss bound to a task: output width, target encoding, criterion and prediction."""

    n_outputs: int
    encode: Callable[[Tensor], Tensor]  # labels (N,) or values (N, T) -> training targets
    criterion: Callable[[Tensor, Tensor], Tensor]  # (outputs, encoded targets) -> scalar loss
    output: str  # a key of OUTPUTS

    def predict(self, out: Tensor) -> Tensor:
        """Outputs -> (N, K) class probabilities or (N, T) values."""
        return OUTPUTS[self.output](out)


def _one_hot(k: int, smoothing: float = 0.0) -> Callable[[Tensor], Tensor]:
    """Labels (N,) -> (N, k) targets, ``smoothing`` of the mass spread evenly over the classes."""
    return lambda y: F.one_hot(y.long(), k).float() * (1 - smoothing) + smoothing / k


def _distance(fn: Callable[[Tensor, Tensor], Tensor]) -> Callable[[str, int, float], Head]:
    """mse/mae: on values for regression, on softmax outputs against one-hot targets otherwise."""

    def bind(task: str, k: int, smoothing: float) -> Head:
        if task == REGRESSION:
            return Head(k, lambda y: y.float(), fn, "identity")
        return Head(k, _one_hot(k, smoothing), lambda out, t: fn(out.softmax(dim=-1), t),
                    "softmax")

    return bind


def _bce(task: str, k: int, smoothing: float) -> Head:
    crit = lambda out, t: F.binary_cross_entropy_with_logits(out.squeeze(-1), t)  # noqa: E731
    return Head(1, lambda y: y.float() * (1 - smoothing) + smoothing / 2, crit, "sigmoid")


def _cross_entropy(task: str, k: int, smoothing: float) -> Head:
    crit = lambda out, t: F.cross_entropy(out, t, label_smoothing=smoothing)  # noqa: E731
    return Head(k, lambda y: y.long(), crit, "softmax")


def _binary_hinge(out: Tensor, t: Tensor) -> Tensor:
    return torch.clamp(1 - t * out.squeeze(-1), min=0).mean()


def _hinge(task: str, k: int, smoothing: float) -> Head:
    """Margins have no soft targets: ``smoothing`` does not apply."""
    if task == BINARY:  # one score, targets in {-1, +1}
        return Head(1, lambda y: y.float() * 2 - 1, _binary_hinge, "sigmoid")
    return Head(k, lambda y: y.long(), lambda out, t: F.multi_margin_loss(out, t), "softmax")


def _kl_div(task: str, k: int, smoothing: float) -> Head:
    encode = _one_hot(k, smoothing or KL_SMOOTHING)  # a zero target would make KL infinite
    crit = lambda out, t: F.kl_div(out.log_softmax(dim=-1), t, reduction="batchmean")  # noqa: E731
    return Head(k, encode, crit, "softmax")


@dataclass(frozen=True)
class Loss:
    """A registry entry: the tasks a loss fits and how to bind it to one."""

    tasks: frozenset[str]
    bind: Callable[[str, int, float], Head]  # (task, outputs, label smoothing) -> Head


ALL, CLASSIFICATION = frozenset(TASKS), frozenset({BINARY, MULTICLASS})
LOSSES: dict[str, Loss] = {
    "mse": Loss(ALL, _distance(lambda out, t: F.mse_loss(out, t))),
    "mae": Loss(ALL, _distance(lambda out, t: F.l1_loss(out, t))),
    "bce": Loss(frozenset({BINARY}), _bce),
    "cross_entropy": Loss(CLASSIFICATION, _cross_entropy),
    "hinge": Loss(CLASSIFICATION, _hinge),
    "kl_div": Loss(frozenset({MULTICLASS}), _kl_div),
}

# The losses a task searches when the config names none.
DEFAULT_LOSSES: dict[str, list[str]] = {REGRESSION: ["mse", "mae"],
                                        BINARY: ["bce", "cross_entropy", "hinge"],
                                        MULTICLASS: ["cross_entropy", "kl_div", "hinge"]}

# The compatibility table, task -> losses that fit it, derived from the registry.
LOSSES_FOR_TASK: dict[str, tuple[str, ...]] = {
    task: tuple(name for name, loss in LOSSES.items() if task in loss.tasks) for task in TASKS
}


def head(loss: str, task: str, n_outputs: int, smoothing: float = 0.0) -> Head:
    """Bind ``loss`` to ``task``; ``n_outputs`` is the class count, or the target count;
    ``smoothing`` moves that much of each class target's mass evenly onto all classes.

    Raises:
        ConfigError: the loss is unknown or does not fit the task.
    """
    entry = lookup(LOSSES, "loss", loss)
    if task not in entry.tasks:
        raise ConfigError(f"loss '{loss}' does not fit a {task} task. "
                          f"Losses for {task}: {', '.join(LOSSES_FOR_TASK[task])}.")
    return entry.bind(task, n_outputs, smoothing if task != REGRESSION else 0.0)
