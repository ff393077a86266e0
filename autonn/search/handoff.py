"""Worker processes hand their best trials' networks to the main process, so that the final
model needs no replay of a trial that ran elsewhere: a replay trains it again, seconds to
minutes that a --timeout may not have (an ames search with two workers beside two busy
processes ended 9 s past its 60 s budget replaying its leader).

    Best(direction, n)          in a worker: its n best completed trials, kept as they finish
    pack(winners)               -> plain numbers and arrays, sent over the worker's own pipe
    unpack(problem, packed)     in the main process: the same networks, on its own folds
    collect(readers)            every worker's packed trials, read until each pipe ends

A pipe carries only what a worker of this search computed; nothing is read from a file.
"""

from __future__ import annotations

import warnings
from multiprocessing.connection import Connection, wait
from typing import Any

import torch

from autonn.search.problem import Fit, Problem, Winner
from autonn.training.loop import build_network


class Best:
    """The ``n`` best winners so far (best first; ties: the earlier trial), those that finished
    every fold ahead of partial ones (``search.final`` draws on a partial one only when no
    trial finished every fold)."""

    def __init__(self, direction: str, n: int) -> None:
        self.sign, self.n, self.winners = (-1 if direction == "maximize" else 1), n, []

    def keep(self, winner: Winner) -> None:
        self.winners = sorted([*self.winners, winner], key=lambda w: (
            w.predictions is None, self.sign * w.value, w.trial_number))[:self.n]


def pack(winners: list[Winner]) -> list[dict[str, Any]]:
    """Each winner as plain data: its number, value, parameters, out-of-training predictions
    and, per fold, the trained weights and the training history. Arrays, not tensors: torch
    sends a tensor between processes as a handle to the sender's memory, gone once it exits."""
    return [{"trial": w.trial_number, "value": w.value, "params": dict(w.params),
             "predictions": None if w.predictions is None else w.predictions.cpu().numpy(),
             "folds": [({k: v.detach().cpu().numpy().copy()
                         for k, v in f.model.state_dict().items()}, f.history) for f in w.fits]}
            for w in winners]


def unpack(problem: Problem, packed: list[dict[str, Any]]) -> list[Winner]:
    """The packed winners rebuilt on ``problem``'s folds (the same rows as the worker's). One
    that does not fit them (its data changed under the worker) is left out: if it leads, the
    final model replays it."""
    winners = []
    for item in packed:
        try:
            winners.append(_rebuilt(problem, item))
        except (RuntimeError, ValueError, KeyError) as exc:  # load_state_dict: shapes, names
            warnings.warn(f"trial {item.get('trial')}: its networks from a worker do not fit "
                          f"this process's data ({exc}); it is trained again if the final "
                          "model needs it.", RuntimeWarning, stacklevel=2)
    return winners


def _rebuilt(problem: Problem, item: dict[str, Any]) -> Winner:
    fits = []
    if len(item["folds"]) > len(problem.folds):
        raise ValueError(f"{len(item['folds'])} folds, not at most {len(problem.folds)}")
    for data, (state, history) in zip(problem.folds, item["folds"]):
        model, head = build_network(item["params"], data)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        fits.append(Fit(model.to(data.device), head, history, data))
    predictions = item["predictions"]
    return Winner(item["trial"], item["value"], item["params"], fits,
                  None if predictions is None else torch.from_numpy(predictions))


def collect(readers: list[Connection]) -> list[dict[str, Any]]:
    """Everything the workers sent on their pipes (``readers``: one read end each), read until
    each pipe ends. A worker that died sent nothing; one killed partway through sending ends its
    pipe mid-message, which is dropped (its end of file reaches the reader: no wait on it)."""
    packed: list[dict[str, Any]] = []
    open_ = list(readers)
    while open_:
        for reader in wait(open_):
            try:
                packed.extend(reader.recv())
            except (EOFError, OSError):  # the worker's end closed: all it sent is read
                open_.remove(reader)
                reader.close()
    return packed
