"""Optimizers over a population's one flat buffer, each member with its own settings.

The same arithmetic as torch.optim's defaults (a member's entries move exactly as its network's
parameters would under ``components.make_optimizer``), written once over the whole buffer: the
learning rate, weight decay and momentum of each element are its member's (``owner`` maps element
-> member). Padded entries have zero gradients and stay where they are. One entry per optimizer
of ``components.OPTIMIZERS`` that can be batched; the others train one network at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

Tensor = torch.Tensor


@dataclass
class Settings:
    """Per-element settings, gathered from each member's (flat, like the buffer)."""

    lr: Tensor
    weight_decay: Tensor
    momentum: Tensor
    nesterov: Tensor  # bool


def _l2(p: Tensor, g: Tensor, s: Settings) -> Tensor:
    return g + s.weight_decay * p  # torch.optim's coupled weight decay


def _sgd(p: Tensor, g: Tensor, state: dict, s: Settings, step: int) -> None:
    p.sub_(s.lr * _l2(p, g, s))


def _momentum(p: Tensor, g: Tensor, state: dict, s: Settings, step: int) -> None:
    d = _l2(p, g, s)
    buf = state.setdefault("buf", torch.zeros_like(p))
    buf.mul_(s.momentum).add_(d)  # the first step's buffer is the gradient itself, as torch's
    p.sub_(s.lr * torch.where(s.nesterov, d + s.momentum * buf, buf))


def _adagrad(p: Tensor, g: Tensor, state: dict, s: Settings, step: int) -> None:
    d = _l2(p, g, s)
    total = state.setdefault("sum", torch.zeros_like(p))
    total.addcmul_(d, d)
    p.sub_(s.lr * d / (total.sqrt() + 1e-10))


def _adadelta(p: Tensor, g: Tensor, state: dict, s: Settings, step: int) -> None:
    rho, eps, d = 0.9, 1e-6, _l2(p, g, s)
    square = state.setdefault("square_avg", torch.zeros_like(p))
    acc = state.setdefault("acc_delta", torch.zeros_like(p))
    square.mul_(rho).addcmul_(d, d, value=1 - rho)
    delta = (acc + eps).sqrt() / (square + eps).sqrt() * d
    acc.mul_(rho).addcmul_(delta, delta, value=1 - rho)
    p.sub_(s.lr * delta)


def _rmsprop(p: Tensor, g: Tensor, state: dict, s: Settings, step: int) -> None:
    alpha, d = 0.99, _l2(p, g, s)
    square = state.setdefault("square_avg", torch.zeros_like(p))
    square.mul_(alpha).addcmul_(d, d, value=1 - alpha)
    p.sub_(s.lr * d / (square.sqrt() + 1e-8))


def _adam_step(p: Tensor, d: Tensor, state: dict, s: Settings, step: int) -> None:
    b1, b2 = 0.9, 0.999
    m = state.setdefault("exp_avg", torch.zeros_like(p))
    v = state.setdefault("exp_avg_sq", torch.zeros_like(p))
    m.lerp_(d, 1 - b1)
    v.mul_(b2).addcmul_(d, d, value=1 - b2)
    denom = v.sqrt() / math.sqrt(1 - b2 ** step) + 1e-8
    p.sub_(s.lr / (1 - b1 ** step) * m / denom)


def _adam(p: Tensor, g: Tensor, state: dict, s: Settings, step: int) -> None:
    _adam_step(p, _l2(p, g, s), state, s, step)


def _adamw(p: Tensor, g: Tensor, state: dict, s: Settings, step: int) -> None:
    p.mul_(1 - s.lr * s.weight_decay)  # decoupled decay first, as torch.optim.AdamW
    _adam_step(p, g, state, s, step)


def _adamax(p: Tensor, g: Tensor, state: dict, s: Settings, step: int) -> None:
    b1, b2, d = 0.9, 0.999, _l2(p, g, s)
    m = state.setdefault("exp_avg", torch.zeros_like(p))
    u = state.setdefault("exp_inf", torch.zeros_like(p))
    m.lerp_(d, 1 - b1)
    torch.maximum(u * b2, d.abs() + 1e-8, out=u)
    p.sub_(s.lr / (1 - b1 ** step) * m / u)


Update = Callable[[Tensor, Tensor, dict, Settings, int], None]
UPDATES: dict[str, Update] = {
    "sgd": _sgd, "momentum": _momentum, "adagrad": _adagrad, "adadelta": _adadelta,
    "rmsprop": _rmsprop, "adam": _adam, "adamw": _adamw, "adamax": _adamax,
}


class PopulationOptimizer:
    """Steps the flat buffer ``params`` with the gradient ``grad``; ``owner`` says each element's
    member. Per-member settings are (K,) tensors; the learning rate may change every step."""

    def __init__(self, name: str, params: Tensor, grad: Tensor, owner: Tensor,
                 weight_decay: Tensor, momentum: Tensor, nesterov: Tensor) -> None:
        self.update, self.params, self.grad = UPDATES[name], params, grad
        self.state: dict[str, Tensor] = {}
        self.steps = 0
        self.retarget(params, grad, owner, weight_decay, momentum, nesterov)

    def retarget(self, params: Tensor, grad: Tensor, owner: Tensor, weight_decay: Tensor,
                 momentum: Tensor, nesterov: Tensor) -> None:
        """Point at a new (repacked) buffer; per-member settings are gathered per element."""
        self.params, self.grad, self.owner = params, grad, owner
        self.weight_decay, self.momentum = weight_decay[owner], momentum[owner]
        self.nesterov = nesterov[owner]

    @torch.no_grad()
    def step(self, lr: Tensor) -> None:
        """One step at each member's learning rate ``lr`` (K,)."""
        self.steps += 1
        settings = Settings(lr[self.owner], self.weight_decay, self.momentum, self.nesterov)
        self.update(self.params, self.grad, self.state, settings, self.steps)
