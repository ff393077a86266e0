"""Train a population: K members of one depth, loss, optimizer and batch size in batched passes.

Each member is what ``train.train_params`` would train alone: its network built from its seed, its
own batch order (a generator seeded like the one-network core's), learning rate, schedule, weight
decay, label smoothing, dropout and epoch cap. Every epoch each member is validated, keeps its
best weights, and asks its own callbacks (early stopping, pruning, deadline, time cap,
heartbeat) whether to stop; a member that stops (or diverges) leaves the computation, and its
network gets its best weights.
Dropout masks come from one population generator, so with dropout a member matches its lone run
in distribution, not bit for bit. Members of far-apart sizes train in separate passes (packs, one
after another); those waiting for their pass keep their trials' heartbeats going.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch
from torch import nn

from autonn.data.tensors import DeviceData
from autonn.errors import TrialDiverged
from autonn.families import family_of
from autonn.families.builder import build_model
from autonn.losses import head as bind_head
from autonn.metrics import Metric, is_better
from autonn.params import Params
from autonn.schedules import schedule as lr_schedule
from autonn.tasks import REGRESSION
from autonn.training.callbacks import Heartbeat, TimeCap
from autonn.training.loop import Trainee, batch_bounds
from autonn.training.population.batched_losses import BATCHED
from autonn.training.population.network import PopulationNet, member_order
from autonn.training.population.optim import UPDATES, PopulationOptimizer
from autonn.training.population.packing import cost_of, packs
from autonn.training.weights import load_matching


def can_batch(params: Params) -> bool:
    """Whether the population network trains these parameters (else one at a time): a family
    that says it batches, no attention block, a batched loss and update rule."""
    return (family_of(params).batchable and not params.get("attention")
            and params["loss"] in BATCHED and params["optimizer"] in UPDATES)


def fit_population(members: list[Trainee], data: DeviceData, metric: Metric, *,
                   grad_clip: float | None = None, init_state: dict | None = None) -> None:
    """Train ``members`` together on ``data``; each ends with its best epoch's weights in
    ``member.network`` and its curves in ``member.history``. Members of very different sizes
    train in separate passes (``packing.packs``), one after another, which split the members'
    shared time caps between them (``_share_time_caps``)."""
    if not members:
        return
    for m in members:
        _build(m, data, init_state)
    shapes = [_layer_sizes(m.network) for m in members]
    rows = min(members[0].params["batch_size"], len(data.x_train))
    chosen = packs(shapes, rows, cost_of(data.device))
    _share_time_caps(members, len(chosen))
    for index, pack in enumerate(chosen):
        waiting = [members[k] for later in chosen[index + 1:] for k in later]
        _fit_pack([members[k] for k in pack], data, metric, grad_clip, waiting)


def _share_time_caps(members: list[Trainee], n_packs: int) -> None:
    """Split each member's shared time cap (a share of a deadline's time left,
    ``TimeCap.shared``) between the ``n_packs`` packs that train one after another, so that
    the whole pass keeps that share, as a claim's runs do (``search.batching``). Each
    member's callbacks are its own (``search.lifecycle`` makes them per trial and fold)."""
    if n_packs > 1:
        for m in members:
            for cap in (c for c in m.callbacks if isinstance(c, TimeCap) and c.shared):
                cap.seconds /= n_packs


def _fit_pack(members: list[Trainee], data: DeviceData, metric: Metric,
              grad_clip: float | None, waiting: Sequence[Trainee] = ()) -> None:
    """Train ``members`` in one batched pass until each has stopped; the ``waiting`` members'
    heartbeats go on every epoch (their trials are alive, only queued)."""
    start = time.perf_counter()
    run = _Run([members[k] for k in member_order([m.params for m in members])], data, grad_clip)
    trained = 0.0  # the pack's training passes alone (``History.pass_seconds``)
    for epoch in range(max(m.params["epochs"] for m in members)):
        began = time.perf_counter()
        losses = run.train_epoch()
        trained += time.perf_counter() - began
        values = run.validate(metric)
        stopped = [i for i, m in enumerate(run.members)
                   if _record(m, epoch, losses[i], values[i], metric, run, i)]
        for i in stopped:
            history = run.members[i].history
            history.seconds, history.threads = time.perf_counter() - start, torch.get_num_threads()
            history.pass_seconds = trained
        run.drop(stopped)
        for m in waiting:
            for callback in m.callbacks:
                if isinstance(callback, Heartbeat):
                    callback.beat()
        if not run.members:
            return


def _layer_sizes(network: nn.Sequential) -> list[int]:
    """[inputs, each dense layer's width ..., outputs] of an mlp network."""
    linears = [m for m in network if isinstance(m, nn.Linear)]
    return [linears[0].in_features, *(m.out_features for m in linears)]


def _build(m: Trainee, data: DeviceData, init_state: dict | None) -> None:
    """The member's own network and head, exactly as ``train.train_params`` builds them."""
    torch.manual_seed(m.seed)
    m.head = bind_head(m.params["loss"], data.task, data.n_outputs,
                       m.params.get("label_smoothing", 0.0))
    m.network = build_model(m.params, data.x_train.shape[1], m.head.n_outputs, data.input_shape,
                            data.continuous)
    if init_state:
        load_matching(m.network, init_state)
    m.network.to(data.device)


def _record(m: Trainee, epoch: int, loss: float, value: float, metric: Metric, run: _Run,
            index: int) -> bool:
    """Add an epoch to ``m``'s history, keep its best weights; whether it stops now."""
    if not (math.isfinite(loss) and math.isfinite(value)):
        m.error = TrialDiverged(f"training diverged at epoch {epoch}: loss {loss}, "
                                f"validation score {value}")
        return True
    h = m.history
    h.train_loss.append(loss)
    h.val_metric.append(value)
    if h.best_epoch < 0 or is_better(value, h.best_value, metric.direction):
        h.best_epoch, h.best_value = epoch, value
        m.best = run.net.member_state(index, m.network, run.steps)
    h.stop_reason = next((r for r in (cb.on_epoch_end(epoch, h) for cb in m.callbacks) if r),
                         None)
    return bool(h.stop_reason) or epoch + 1 >= m.params["epochs"]


class _Run:
    """The batched state of a population while it trains."""

    def __init__(self, members: list[Trainee], data: DeviceData, grad_clip: float | None) -> None:
        self.members, self.data, self.grad_clip = list(members), data, grad_clip
        self.net = PopulationNet([m.network for m in members], [m.params for m in members])
        self.criterion = BATCHED[members[0].params["loss"]](data.task)
        self.bounds = batch_bounds(len(data.x_train), members[0].params["batch_size"])
        device = data.device
        self.sizes = torch.tensor([hi - lo for lo, hi in self.bounds], dtype=torch.float32,
                                  device=device)
        self.generators = [torch.Generator(device=device).manual_seed(m.seed) for m in members]
        self.dropout = torch.Generator(device=device).manual_seed(members[0].seed)
        self.steps = 0
        self.encoded = torch.stack([m.head.encode(data.y_train) for m in members])  # (K, N, ...)
        self._flatten(None)

    # -- the buffer every member's parameters live in ---------------------------------------------
    def _flatten(self, keep: list[int] | None) -> None:
        """Make every stacked tensor a view of one buffer (gradients too), the optimizer's state
        following the members in ``keep`` (None: a fresh optimizer)."""
        names = list(self.net.tensors)
        shapes = [self.net.tensors[n].shape for n in names]
        old = None if keep is None else self._split_state(names, keep)
        flat = torch.cat([self.net.tensors[n].detach().reshape(-1) for n in names])
        grad = torch.zeros_like(flat)
        offset, owners = 0, []
        for name, shape in zip(names, shapes):
            size = math.prod(shape)
            view = nn.Parameter(flat[offset:offset + size].view(shape))
            view.grad = grad[offset:offset + size].view(shape)
            self.net.tensors[name] = view
            owners.append(torch.arange(shape[0], device=flat.device).repeat_interleave(
                size // shape[0]))
            offset += size
        self.flat, self.grad, self.layout = flat, grad, list(zip(names, shapes))
        owner = torch.cat(owners)
        settings = self._settings()
        if keep is None:
            self.optimizer = PopulationOptimizer(self.members[0].params["optimizer"], flat, grad,
                                                 owner, *settings)
        else:
            self.optimizer.retarget(flat, grad, owner, *settings)
            self.optimizer.state = {k: torch.cat([t.reshape(-1) for t in v])
                                    for k, v in old.items()}
        self.owner = owner
        # cross-entropy smooths in its criterion; the other losses in their encoded targets
        self.smoothing = torch.tensor([[m.params.get("label_smoothing", 0.0)
                                        if m.params["loss"] == "cross_entropy" else 0.0]
                                       for m in self.members], device=flat.device)  # (K, 1)

    def _split_state(self, names: list[str], keep: list[int]) -> dict[str, list[torch.Tensor]]:
        """The optimizer's state per stacked tensor, only the kept members' rows."""
        index = torch.tensor(keep, device=self.flat.device)
        out = {}
        for key, buffer in self.optimizer.state.items():
            parts, offset = [], 0
            for _, shape in self.layout:
                size = math.prod(shape)
                parts.append(buffer[offset:offset + size].view(shape).index_select(0, index))
                offset += size
            out[key] = parts
        return out

    def _settings(self) -> tuple[torch.Tensor, ...]:
        device, ms = self.flat.device, self.members
        tensor = lambda values, dtype=torch.float32: torch.tensor(values, dtype=dtype, device=device)
        return (tensor([m.params.get("weight_decay", 0.0) for m in ms]),
                tensor([m.params.get("momentum", 0.9) for m in ms]),
                tensor([bool(m.params.get("nesterov", False)) for m in ms], torch.bool))

    # -- training ---------------------------------------------------------------------------------
    def train_epoch(self) -> list[float]:
        """One epoch for every member, each over its own shuffle; its mean training loss."""
        data = self.data
        perms = torch.stack([torch.randperm(len(data.x_train), device=data.device, generator=g)
                             for g in self.generators])  # (K, N)
        xs = data.x_train[perms]  # (K, N, F): one gather per epoch, batches are then views
        ts = self._targets(perms)
        losses = []
        for lo, hi in self.bounds:
            out = self.net.forward(xs[:, lo:hi], training=True, generator=self.dropout)
            loss = self.criterion(out, ts[:, lo:hi], self.smoothing)  # (K,)
            self.grad.zero_()
            loss.sum().backward()  # members are independent: each gets its own gradient
            if self.grad_clip:
                self._clip()
            self.optimizer.step(self._rates())
            self.steps += 1
            losses.append(loss.detach())
        return ((torch.stack(losses, 1) @ self.sizes) / self.sizes.sum()).tolist()

    def _targets(self, perms: torch.Tensor) -> torch.Tensor:
        """Each member's encoded targets (label smoothing is its own), in its shuffled order."""
        index = perms.view(*perms.shape, *([1] * (self.encoded.dim() - 2))).expand(
            *perms.shape, *self.encoded.shape[2:])
        return self.encoded.gather(1, index)

    def _rates(self) -> torch.Tensor:
        """Each member's learning rate at this step of its own schedule and epoch cap."""
        rates = []
        for m in self.members:
            total = m.params["epochs"] * len(self.bounds)
            factor = lr_schedule(m.params.get("schedule", "constant"))(self.steps / total)
            rates.append(m.params["lr"] * factor)
        return torch.tensor(rates, device=self.flat.device)

    def _clip(self) -> None:
        """clip_grad_norm_ per member: each member's whole gradient scaled to at most the limit."""
        norms = torch.zeros(len(self.members), device=self.flat.device).index_add_(
            0, self.owner, self.grad * self.grad).sqrt()
        self.grad.mul_((self.grad_clip / (norms + 1e-6)).clamp(max=1.0)[self.owner])

    @torch.no_grad()
    def validate(self, metric: Metric) -> list[float]:
        """Every member's score on the validation rows (evaluation mode: running statistics)."""
        data, K = self.data, len(self.members)
        out = self.net.forward(data.x_val.expand(K, *data.x_val.shape), training=False)
        pred = self.members[0].head.predict(out)  # one loss in a population: one output
        if data.task == REGRESSION and data.target_scaler is not None:
            scaler = data.target_scaler
            pred = pred * torch.as_tensor(scaler.scale, device=pred.device) + torch.as_tensor(
                scaler.mean, device=pred.device)
        return [metric.fn(data.y_val, pred[k]) for k in range(K)]

    def drop(self, stopped: list[int]) -> None:
        """Members that stopped get their best weights and leave the batch."""
        if not stopped:
            return
        for i in stopped:
            m = self.members[i]
            if m.best is not None:
                m.network.load_state_dict(m.best)
        keep = [i for i in range(len(self.members)) if i not in stopped]
        self.members = [self.members[i] for i in keep]
        self.generators = [self.generators[i] for i in keep]
        self.encoded = self.encoded[keep]
        if keep:
            self.net.select(keep)
            self._flatten(keep)
