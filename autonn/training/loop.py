"""The training core: fit(model, data, ...) -> History. No logging, no Optuna.

Batches are slices of a per-epoch permutation of tensors already on the device; the epoch's loss
is summed on the device and read once per epoch, so the GPU never waits on the host mid-epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import nn

from autonn.components import OPTIMIZERS, make_optimizer
from autonn.data.tensors import DeviceData
from autonn.errors import TrialDiverged
from autonn.families.builder import build_model
from autonn.losses import Head
from autonn.losses import head as bind_head
from autonn.metrics import Metric, is_better
from autonn.params import Params
from autonn.schedules import schedule as lr_schedule
from autonn.tasks import REGRESSION
from autonn.training.weights import flatten_parameters, load_matching


@dataclass
class History:
    """Per-epoch curves and how training ended."""

    train_loss: list[float] = field(default_factory=list)
    val_metric: list[float] = field(default_factory=list)
    best_epoch: int = -1
    best_value: float = math.nan
    stop_reason: str | None = None  # a callback's ("early_stopping", "pruned", ...), or None
    seconds: float = 0.0
    # the training passes alone (no validation, callbacks or best-weight copies): what a final
    # refit, which validates nothing, repeats per epoch
    pass_seconds: float = 0.0
    threads: int = 0  # torch's CPU threads while it trained (0: not recorded)


class Callback(Protocol):
    """Called after each epoch's validation; a returned string stops training with that reason."""

    def on_epoch_end(self, epoch: int, history: History) -> str | None: ...


@dataclass
class Trainee:
    """One network for a training engine (``fit_each``, or the population's batched fit): its
    parameters, seed and callbacks in; its network and head, its curves, or the error that
    ended it, out."""

    params: Params
    seed: int
    callbacks: Sequence[Callback] = ()
    network: nn.Sequential | None = None  # its own network: best weights once it stops
    head: Head | None = None
    history: History = field(default_factory=History)
    error: BaseException | None = None  # TrialDiverged when its loss or score stopped being finite
    best: dict[str, torch.Tensor] | None = None  # an engine's copy of the best weights so far


def fit_each(trainees: Sequence[Trainee], data: DeviceData, metric: Metric, *,
             grad_clip: float | None = None, init_state: dict | None = None) -> None:
    """The one-network engine: train each trainee alone (``train_params``), one after another;
    a trainee that fails keeps its error and the others go on."""
    for t in trainees:
        try:
            t.network, t.head, t.history = train_params(
                t.params, data, metric, seed=t.seed, callbacks=t.callbacks,
                grad_clip=grad_clip, init_state=init_state)
        except Exception as exc:  # noqa: BLE001 - the trial records it as its failure
            t.error = exc


def predict(model: nn.Module, head: Head, data: DeviceData, x: torch.Tensor,
            modes: _Modes | None = None) -> torch.Tensor:
    """Class probabilities (N, K), or regression values (N, T) in the target's own units; the
    network in evaluation mode for it (flipped through ``modes`` when the caller keeps one)."""
    was_training = model.training
    modes = modes or _Modes(model)
    modes.set(False)
    with torch.inference_mode():
        pred = head.predict(model(x))
    modes.set(was_training)
    if data.task == REGRESSION and data.target_scaler is not None:
        scaler = data.target_scaler
        pred = pred * torch.as_tensor(scaler.scale, device=x.device) + torch.as_tensor(
            scaler.mean, device=x.device)
    return pred


class _Modes:
    """Flips a network between training and evaluation mode, as ``Module.train`` does, by setting
    each module's flag directly: ``train()`` walks the tree through ``__setattr__`` on every call
    (~50 us a flip for a 3 x 256 MLP against ~5, twice per epoch: a few percent of a small
    table's epoch). A network with a module that overrides ``train`` or ``__setattr__`` keeps
    the ordinary call."""

    def __init__(self, model: nn.Module) -> None:
        self.model, self.modules = model, tuple(model.modules())
        self.plain = all(type(m).train is nn.Module.train
                         and type(m).__setattr__ is nn.Module.__setattr__ for m in self.modules)

    def set(self, training: bool) -> _Modes:
        """Every module in ``training`` mode (or evaluation mode); returns itself."""
        if not self.plain:
            self.model.train(training)
        else:
            for module in self.modules:
                object.__setattr__(module, "training", training)  # what Module.train sets
        return self


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, stop) of each batch of an epoch over ``n`` rows; a last batch of one row is
    dropped (it breaks batch norm and adds nothing)."""
    bounds = [(lo, min(lo + batch_size, n)) for lo in range(0, n, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds.pop()
    return bounds


def fit(model: nn.Module, head: Head, optimizer: torch.optim.Optimizer, data: DeviceData, *,
        metric: Metric, epochs: int, batch_size: int, generator: torch.Generator,
        callbacks: Sequence[Callback] = (), grad_clip: float | None = None,
        keep_best: bool = True, schedule: Callable[[float], float] | None = None,
        horizon: int | None = None) -> History:
    """Train ``model`` on ``data.x_train``, validating each epoch on ``data.x_val`` (when it has
    rows); keep the best epoch's weights (or, with ``keep_best=False``, the last epoch's).

    ``schedule`` scales the learning rate at every step by its value at the share of ``horizon``
    epochs (default ``epochs``) done, so a refit that stops early follows the search's schedule.
    Gradients are zeroed in place, never set to None, so parameters flattened with
    ``flatten_parameters`` keep accumulating into their shared buffer.

    Raises:
        TrialDiverged: the training loss or the validation score became NaN or infinite.
    """
    start, history, best_state = time.perf_counter(), History(), None
    x, target = data.x_train, head.encode(data.y_train)  # encoded once per fit
    bounds = batch_bounds(len(x), batch_size)
    rate = _Rate(optimizer, schedule, (horizon or epochs) * len(bounds))
    validate, modes = len(data.y_val) > 0, _Modes(model).set(True)  # a final refit checks none
    for epoch in range(epochs):
        began = time.perf_counter()
        mean_loss = _epoch(model, head, optimizer, x, target, generator, bounds, rate, grad_clip)
        history.pass_seconds += time.perf_counter() - began
        value = (metric.fn(data.y_val, predict(model, head, data, data.x_val, modes))
                 if validate else 0.0)
        if not (math.isfinite(mean_loss) and math.isfinite(value)):
            raise TrialDiverged(f"training diverged at epoch {epoch}: loss {mean_loss}, "  # NaN
                                f"validation score {value}")
        history.train_loss.append(mean_loss)
        if not validate:
            continue
        history.val_metric.append(value)
        if history.best_epoch < 0 or is_better(value, history.best_value, metric.direction):
            history.best_epoch, history.best_value = epoch, value
            if keep_best:  # a copy: the live tensors go on changing with the next step
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        # the first callback that asks to stop names the reason, in the order they are listed
        history.stop_reason = next(
            (r for r in (cb.on_epoch_end(epoch, history) for cb in callbacks) if r), None)
        if history.stop_reason:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    history.seconds, history.threads = time.perf_counter() - start, torch.get_num_threads()
    return history


def _epoch(model: nn.Module, head: Head, optimizer: torch.optim.Optimizer, x: torch.Tensor,
           target: torch.Tensor, generator: torch.Generator, bounds: list[tuple[int, int]],
           rate: _Rate, grad_clip: float | None) -> float:
    """One pass over the rows ``x`` (N, F), shuffled by the trial's own ``generator`` (the same
    seed gives the same batches on any process); batches are views. Returns the mean loss,
    each batch's weighted by its rows (read once, which waits for the device)."""
    perm = torch.randperm(len(x), device=x.device, generator=generator)
    xs, ts, losses = x[perm], target[perm], []
    # zeroed in place here rather than by optimizer.zero_grad, whose profiler and compiler
    # wrappers cost about as much as zeroing the one flat buffer (flatten_parameters)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for lo, hi in bounds:
        rate.step()
        loss = head.criterion(model(xs[lo:hi]), ts[lo:hi])
        for p in params:
            if p.grad is not None:
                p.grad.zero_()
        loss.backward()
        if grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        losses.append(loss.detach())
    sizes = torch.tensor([hi - lo for lo, hi in bounds], dtype=torch.float32)  # rows (B,)
    return (torch.stack(losses).cpu() @ sizes).item() / sizes.sum().item()


class _Rate:
    """Sets the learning rate of every step from a schedule (nothing without one)."""

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: Callable[[float], float] | None,
                 total_steps: int) -> None:
        self.groups, self.schedule, self.total = optimizer.param_groups, schedule, total_steps
        self.base, self.done = [g["lr"] for g in self.groups], 0

    def step(self) -> None:
        if self.schedule is None:
            return
        factor = self.schedule(self.done / self.total)
        for group, base in zip(self.groups, self.base):
            group["lr"] = base * factor
        self.done += 1


def build_network(params: Params, data: DeviceData) -> tuple[nn.Sequential, Head]:
    """The untrained network ``params`` describe for ``data`` (on the CPU), and its head."""
    head = bind_head(params["loss"], data.task, data.n_outputs, params.get("label_smoothing", 0.0))
    model = build_model(params, data.x_train.shape[1], head.n_outputs, data.input_shape,
                        data.continuous)
    return model, head


def train_params(params: Params, data: DeviceData, metric: Metric, *, seed: int,
                 callbacks: Sequence[Callback] = (), grad_clip: float | None = None,
                 epochs: int | None = None, keep_best: bool = True,
                 init_state: dict[str, torch.Tensor] | None = None
                 ) -> tuple[nn.Module, Head, History]:
    """Build the network ``params`` describe and train it; the same seed gives the same result.
    ``epochs`` overrides the parameters' epoch budget; ``init_state`` gives starting weights to
    the layers whose names and shapes match (transfer learning)."""
    torch.manual_seed(seed)  # the initial weights: a trial replayed elsewhere is the same network
    model, head = build_network(params, data)
    if init_state:
        load_matching(model, init_state)
    model = model.to(data.device)
    options = {k: params[k] for k in OPTIMIZERS[params["optimizer"]].options if k in params}
    optimizer = make_optimizer(params["optimizer"], [flatten_parameters(model)], params["lr"],
                               params.get("weight_decay", 0.0), **options)
    # a generator of its own, not the global one: batch order does not depend on what else ran
    generator = torch.Generator(device=data.device).manual_seed(seed)
    history = fit(model, head, optimizer, data, metric=metric, epochs=epochs or params["epochs"],
                  batch_size=params["batch_size"], generator=generator, callbacks=callbacks,
                  grad_clip=grad_clip, keep_best=keep_best,
                  schedule=lr_schedule(params.get("schedule", "constant")),
                  horizon=params["epochs"])
    return model, head, history
