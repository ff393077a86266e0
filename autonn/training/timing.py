"""What one epoch of a network costs, predicted before it trains: a few timed steps of a
throwaway copy, and one validation pass. A search sizes a candidate's epochs from it, so a
candidate its time allows 40 epochs trains a whole 40-epoch schedule instead of the first 40
epochs of a 256-epoch one. A final model's refit scales its trials' measured epochs by the same
timing, taken on its own threads and on theirs (``thread_speedup``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from autonn.components import OPTIMIZERS, make_optimizer
from autonn.data.tensors import DeviceData
from autonn.metrics import Metric
from autonn.params import Params
from autonn.training.device import synchronize
from autonn.training.loop import batch_bounds, build_network, predict
from autonn.training.threads import torch_threads
from autonn.training.weights import flatten_parameters

MIN_STEPS, MAX_STEPS = 3, 20  # timed steps: at least MIN, then until MIN_SECONDS, at most MAX
MIN_SECONDS = 0.02  # a step of a small network takes well under a millisecond: time several


def epoch_seconds(params: Params, data: DeviceData, metric: Metric,
                  grad_clip: float | None = None) -> float:
    """Predicted seconds of one training epoch of ``params`` on ``data``, its validation pass
    included: the median of several timed steps on a full-size batch (a step another process
    preempted does not move it), times the epoch's batches, plus the quicker of two timed
    validation passes. The CPU and CUDA random states are left as they were, so the network
    trained afterwards is the one it would have been."""
    with torch.random.fork_rng(devices=[data.device] if data.device.type == "cuda" else []):
        model, head = build_network(params, data)
        model = model.to(data.device).train()
        options = {k: params[k] for k in OPTIMIZERS[params["optimizer"]].options if k in params}
        flat = flatten_parameters(model)
        optimizer = make_optimizer(params["optimizer"], [flat], params["lr"],
                                   params.get("weight_decay", 0.0), **options)
        bounds = batch_bounds(len(data.x_train), params["batch_size"])
        lo, hi = bounds[0]  # the first batch is a full one (or the whole table)
        x, target = data.x_train[lo:hi], head.encode(data.y_train[lo:hi])

        def step() -> None:
            loss = head.criterion(model(x), target)
            flat.grad.zero_()  # as the training loop zeroes it: in place, no wrappers
            loss.backward()
            if grad_clip:
                nn.utils.clip_grad_norm_([flat], grad_clip)
            optimizer.step()

        steps = _timed(step, data.device)
        validation = min(_timed(lambda: metric.fn(data.y_val, predict(model, head, data,
                                                                      data.x_val)),
                                data.device, most=2)) if len(data.y_val) else 0.0
        return statistics.median(steps) * len(bounds) + validation


def thread_speedup(params: Params, data: DeviceData, metric: Metric, threads: int,
                   grad_clip: float | None = None) -> float:
    """How long an epoch of ``params`` on ``data`` takes on torch's CPU threads now, as a
    share of its time on ``threads`` (a worker's one thread, say): both predicted now by
    ``epoch_seconds``, one after the other, so the machine's load weighs on both alike. 1.0
    off the CPU, and where ``threads`` is the count now or unknown (0)."""
    if data.device.type != "cpu" or threads in (0, torch.get_num_threads()):
        return 1.0
    here = epoch_seconds(params, data, metric, grad_clip)
    with torch_threads(threads):
        there = epoch_seconds(params, data, metric, grad_clip)
    return here / there if there > 0 else 1.0


def _timed(run: Callable[[], None], device: torch.device, most: int = MAX_STEPS
           ) -> list[float]:
    """Seconds of each of several calls of ``run`` after one untimed warm-up call (allocations,
    first kernels): at least ``MIN_STEPS`` (or ``most``), then until ``MIN_SECONDS`` are spent."""
    run()
    times: list[float] = []
    while len(times) < most and (len(times) < min(MIN_STEPS, most) or sum(times) < MIN_SECONDS):
        synchronize(device)
        start = time.perf_counter()
        run()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times
