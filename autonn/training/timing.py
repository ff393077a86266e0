"""What one epoch of a network costs, predicted before it trains: a few timed steps of a
throwaway copy, and one validation pass. A search sizes a candidate's epochs from it, so a
candidate its time allows 40 epochs trains a whole 40-epoch schedule instead of the first 40
epochs of a 256-epoch one.
"""

from __future__ import annotations

import time

import torch

from autonn.components import OPTIMIZERS, make_optimizer
from autonn.data.tensors import DeviceData
from autonn.metrics import Metric
from autonn.params import Params
from autonn.training.loop import batch_bounds, build_network, predict
from autonn.training.weights import flatten_parameters

TIMED_STEPS = 5  # steps timed after one untimed warm-up step (allocations, first kernels)


def epoch_seconds(params: Params, data: DeviceData, metric: Metric) -> float:
    """Predicted seconds of one training epoch of ``params`` on ``data``, its validation pass
    included: the mean of a few timed steps on the first batches, times the epoch's batches,
    plus one timed validation pass. The global random state is left as it was, so the network
    trained afterwards is the one it would have been."""
    with torch.random.fork_rng(devices=[data.device] if data.device.type == "cuda" else []):
        model, head = build_network(params, data)
        model = model.to(data.device).train()
        options = {k: params[k] for k in OPTIMIZERS[params["optimizer"]].options if k in params}
        optimizer = make_optimizer(params["optimizer"], [flatten_parameters(model)], params["lr"],
                                   params.get("weight_decay", 0.0), **options)
        bounds = batch_bounds(len(data.x_train), params["batch_size"])
        target = head.encode(data.y_train)
        timed = bounds[1:TIMED_STEPS + 1] or bounds  # one batch only: time it again
        for index, (lo, hi) in enumerate([bounds[0], *timed]):
            if index == 1:
                _sync(data.device)
                start = time.perf_counter()
            loss = head.criterion(model(data.x_train[lo:hi]), target[lo:hi])
            optimizer.zero_grad(set_to_none=False)  # the flat buffer keeps its gradient
            loss.backward()
            optimizer.step()
        _sync(data.device)
        per_step = (time.perf_counter() - start) / len(timed)
        start = time.perf_counter()
        if len(data.y_val):
            metric.fn(data.y_val, predict(model, head, data, data.x_val))
        return per_step * len(bounds) + time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
