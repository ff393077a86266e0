"""Packs: which members of a population train together, so padding does not eat the gain.

Every member of a pass is padded to the widest member's widths, so a pass of one 16-unit and one
256-unit network costs two 256-unit networks. On a GPU that costs nothing (one small network uses
a sliver of the device, a step is kernel launches); on a CPU core it is arithmetic, and padding a
varied population cost more than training its members one at a time (benchmarks/RESULTS.md,
"Populations"). So members are grouped into packs, each trained as one pass, merging greedily
while a merge lowers a step's modelled time:

    seconds(pack) = OVERHEAD + members x padded parameters x batch rows x PER_PARAMETER_ROW

(a fixed cost per pass, for dispatch and Python, plus the padded arithmetic). On CUDA the
arithmetic term is negligible and a population is one pack unless its networks are huge.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class StepCost:
    """A device's modelled step time: seconds per pass, and per padded parameter and row."""

    overhead: float
    per_parameter_row: float


# Measured on this project's 2-core CPU machine (one thread, torch 2.13; benchmarks/RESULTS.md):
# a pass costs ~1.3 ms whatever its size, and ~1.8e-10 s per padded parameter and batch row
# (forward, backward and optimizer). On CUDA a pass of 64 members costs ~5 ms of launches.
STEP_COSTS = {"cpu": StepCost(1.3e-3, 1.8e-10), "cuda": StepCost(5e-3, 1e-14)}


def cost_of(device: torch.device | str) -> StepCost:
    """The step-cost model of ``device``; the CPU's arithmetic shares out over its threads."""
    kind = torch.device(device).type
    if kind == "cpu":
        base = STEP_COSTS["cpu"]
        return StepCost(base.overhead, base.per_parameter_row / max(1, torch.get_num_threads()))
    return STEP_COSTS.get(kind, STEP_COSTS["cuda"])


def parameters(sizes: list[int]) -> int:
    """Weights and biases of an mlp of layer ``sizes`` (inputs, widths ..., outputs)."""
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def pack_seconds(shapes: list[list[int]], batch_rows: int, cost: StepCost) -> float:
    """The modelled seconds of one step of ``shapes`` trained as one pass."""
    widest = [max(s[i] for s in shapes) for i in range(len(shapes[0]))]
    return _pass_seconds(len(shapes), widest, batch_rows, cost)


def _pass_seconds(members: int, widest: list[int], batch_rows: int, cost: StepCost) -> float:
    return cost.overhead + members * parameters(widest) * batch_rows * cost.per_parameter_row


def packs(shapes: list[list[int]], batch_rows: int, cost: StepCost) -> list[list[int]]:
    """Members (indices into ``shapes``: each member's layer sizes, inputs to outputs) grouped
    into packs; each pack trains as one pass padded to its widest sizes.

    Agglomerative: from one pack per member, merge the two packs whose merge saves the most
    modelled time, until no merge saves any (at most K merges over K^2 pairs). When padding
    every member to the widest costs less than one more pass, one pack is best outright: the
    common case on CUDA, which this answers without the K^3 search.
    """
    if not shapes:
        return []
    if pack_seconds(shapes, batch_rows, cost) - cost.overhead <= cost.overhead:
        return [list(range(len(shapes)))]
    # each pack: its members, its widest sizes, its modelled seconds
    groups = [([k], list(s), _pass_seconds(1, s, batch_rows, cost)) for k, s in enumerate(shapes)]
    while len(groups) > 1:
        saving, pair = 0.0, None
        for i, (a, wa, sa) in enumerate(groups):
            for j in range(i + 1, len(groups)):
                b, wb, sb = groups[j]
                merged = [max(x, y) for x, y in zip(wa, wb)]
                seconds = _pass_seconds(len(a) + len(b), merged, batch_rows, cost)
                if sa + sb - seconds > saving:
                    saving, pair = sa + sb - seconds, (i, j, merged, seconds)
        if pair is None:
            break
        i, j, merged, seconds = pair
        groups[i] = (groups[i][0] + groups[j][0], merged, seconds)
        del groups[j]
    return [sorted(members) for members, _, _ in groups]
