"""K mlp networks of one depth as one batched network: stacked, padded weights.

Member k's dense layer l is ``w{l}[k]`` (in, out), zero-padded to the widest member, so one
batched matrix product computes every member: (K, B, in) @ (K, in, out) -> (K, B, out). Padded
units are multiplied by a 0/1 mask after their activation, so they stay exactly zero and get no
gradient: each member computes exactly its own network. Norms and activations differ by member;
each run of consecutive members sharing a kind is applied as one slice (callers order members so
that runs are few: ``member_order``); slices are split off and concatenated back, one copy each
way, where gathering each kind's rows by index copied the whole batch once per kind. Every member
starts from the weights ``build_model`` gave its own network (its seed and initializer), and
``member_state`` hands them back in that network's state-dict layout.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from autonn.blocks import PeriodicEmbedding
from autonn.components import ACTIVATIONS
from autonn.params import Params, layer_activations, layer_widths

EPS = 1e-5  # BatchNorm1d's and LayerNorm's default
MOMENTUM = 0.1  # BatchNorm1d's running-statistics momentum


@dataclass(frozen=True)
class Layout:
    """Where each part of one member's ``nn.Sequential`` sits (module indices)."""

    embedding: int | None
    linear: list[int]
    norm: list[int | None]
    prelu: list[int | None]
    head: int


def layout(network: nn.Sequential) -> Layout:
    """[embedding] (Linear [norm] activation [dropout]) * L, head: the mlp family's layers."""
    modules = list(network)
    linear = [i for i, m in enumerate(modules) if isinstance(m, nn.Linear)]
    dense, head = linear[:-1], linear[-1]
    spans = list(zip(dense, dense[1:] + [head]))
    find = lambda kinds: [next((j for j in range(i + 1, e) if isinstance(modules[j], kinds)), None)
                          for i, e in spans]
    embedding = 0 if isinstance(modules[0], PeriodicEmbedding) else None
    return Layout(embedding, dense, find((nn.BatchNorm1d, nn.LayerNorm)), find(nn.PReLU), head)


# (stacked name, where it lives in a member's network, fill for members without it)
Part = tuple[str, Callable[[nn.Sequential, Layout], torch.Tensor | None], float]


def _parts(depth: int, embedding: bool) -> list[Part]:
    """Every stacked parameter: how to read it from a member's network and what pads it."""
    get = lambda index, attr: (lambda n, lay: None if index(lay) is None
                               else getattr(n[index(lay)], attr))
    parts: list[Part] = []
    for l in range(depth):
        linear = lambda lay, l=l: lay.linear[l]
        norm = lambda lay, l=l: lay.norm[l]
        prelu = lambda lay, l=l: lay.prelu[l]
        parts += [(f"w{l}", lambda n, lay, f=linear: n[f(lay)].weight.T, 0.0),  # (in, out)
                  (f"b{l}", lambda n, lay, f=linear: n[f(lay)].bias[None], 0.0),  # (1, out)
                  (f"g{l}", lambda n, lay, g=get(norm, "weight"): _row(g(n, lay)), 1.0),
                  (f"c{l}", lambda n, lay, g=get(norm, "bias"): _row(g(n, lay)), 0.0),
                  (f"a{l}", lambda n, lay, g=get(prelu, "weight"): _row(g(n, lay)), 0.0)]
    parts += [("wh", lambda n, lay: n[lay.head].weight.T, 0.0),
              ("bh", lambda n, lay: n[lay.head].bias[None], 0.0)]
    if embedding:
        parts += [(f"e_{attr}", lambda n, lay, a=attr: getattr(n[0], a), 0.0)
                  for attr in ("frequencies", "weight", "bias")]
    return parts


def _row(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t[None]


class PopulationNet:
    """Members' networks (``build_model`` mlps of one depth, loss and embedding) as one.

    ``tensors`` are the stacked parameters (K, ...), ``running`` BatchNorm's statistics; both are
    plain tensors the trainer flattens into one buffer.
    """

    def __init__(self, networks: list[nn.Sequential], params: list[Params]) -> None:
        self.layouts = [layout(n) for n in networks]
        self.widths = [layer_widths(p) for p in params]
        self.activations = [layer_activations(p) for p in params]
        self.norms = [p.get("norm", "none") for p in params]
        self.dropouts = [float(p.get("dropout", 0.0)) for p in params]
        self.plr = params[0].get("embedding") == "plr"
        self.depth = len(self.widths[0])
        self.parts = _parts(self.depth, self.layouts[0].embedding is not None)
        # the columns each member's embedding embeds and passes on (one data set: the same)
        embedding = None if self.layouts[0].embedding is None else networks[0][0]
        self.embedded = None if embedding is None or embedding.columns is None else (
            embedding.embedded, embedding.passed)  # on the networks' device (they moved there)
        shapes = self._shapes(networks[0])
        self.tensors = {name: self._stack(networks, read, fill, shapes.get(name))
                        for name, read, fill in self.parts}
        self.running = {f"{stat}{l}": self._stack(networks, lambda n, lay, l=l, s=stat: _row(
            None if lay.norm[l] is None or not isinstance(n[lay.norm[l]], nn.BatchNorm1d)
            else getattr(n[lay.norm[l]], s)), fill, shapes[f"b{l}"])
            for l in range(self.depth) for stat, fill in (("running_mean", 0.0),
                                                          ("running_var", 1.0))}
        self._index()

    def _shapes(self, network: nn.Sequential) -> dict[str, tuple[int, ...]]:
        """Each dense layer's stacked shape: (in, out) for weights, (1, out) for the rest, out
        the widest member's width."""
        lay = self.layouts[0]
        first = network[lay.linear[0] if lay.linear else lay.head].in_features
        outs = [max(w[l] for w in self.widths) for l in range(self.depth)]
        ins = [first, *outs]
        shapes = {"wh": (ins[-1], network[lay.head].out_features),
                  "bh": (1, network[lay.head].out_features)}
        for l in range(self.depth):
            shapes[f"w{l}"] = (ins[l], outs[l])
            shapes.update({f"{kind}{l}": (1, outs[l]) for kind in "bgca"})
        return shapes

    def _stack(self, networks: list[nn.Sequential], read, fill: float,
               shape: tuple[int, ...] | None) -> torch.Tensor:
        """(K, *shape) of each member's tensor, zero-padded (``fill`` for a member without it;
        ``shape`` None: the members' common shape)."""
        values = [read(n, lay) for n, lay in zip(networks, self.layouts)]
        present = [v.detach() for v in values if v is not None]
        shape = shape or tuple(present[0].shape)
        out = torch.zeros((len(values), *shape), device=next(networks[0].parameters()).device)
        for k, v in enumerate(values):
            if v is None:
                out[k].fill_(fill)
                continue
            out[k][tuple(slice(0, s) for s in v.shape)] = v.detach()
        return out

    def _index(self) -> None:
        """Each member's unit masks, and which members share each norm and activation."""
        K, device = len(self.widths), self.tensors["wh"].device
        self.masks = []
        for l in range(self.depth):
            mask = torch.zeros(K, 1, self.tensors[f"w{l}"].shape[2], device=device)
            for k, widths in enumerate(self.widths):
                mask[k, 0, :widths[l]] = 1
            self.masks.append(mask)  # (K, 1, out)
        self.counts = [m.sum(-1, keepdim=True) for m in self.masks]  # (K, 1, 1) own widths
        self.norm_runs = _runs(self.norms)
        self.act_runs = [_runs([a[l] for a in self.activations]) for l in range(self.depth)]
        self.keep = torch.tensor([1 - p for p in self.dropouts], device=device).view(K, 1, 1)
        self.functions = {name: ACTIVATIONS[name].build(1) for acts in self.activations
                          for name in acts}

    def select(self, members: list[int]) -> None:
        """Keep only ``members`` (indices into the current population), in that order."""
        index = torch.tensor(members, device=self.tensors["wh"].device)
        for store in (self.tensors, self.running):
            for name, t in store.items():
                store[name] = t.detach().index_select(0, index)
        for attr in ("layouts", "widths", "activations", "norms", "dropouts"):
            setattr(self, attr, [getattr(self, attr)[k] for k in members])
        self._index()

    # -- computing --------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, training: bool,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """(K, B, F) rows, one batch per member -> (K, B, outputs)."""
        t = self.tensors
        h = self._embed(x) if "e_frequencies" in t else x
        for l in range(self.depth):
            z = torch.baddbmm(t[f"b{l}"], h, t[f"w{l}"])  # (K, B, out)
            z = self._norm(l, z, training)
            z = self._activate(l, z) * self.masks[l]  # padded units back to exactly 0
            if training and any(self.dropouts):
                z = z * (torch.rand(z.shape, device=z.device, generator=generator)
                         < self.keep) / self.keep
            h = z
        return torch.baddbmm(t["bh"], h, t["wh"])

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """(K, B, F) -> (K, B, E * D + F - E): PeriodicEmbedding, one per member."""
        t = self.tensors
        inner = x if self.embedded is None else x.index_select(2, self.embedded[0])  # (K, B, E)
        angles = 2 * math.pi * inner.unsqueeze(-1) * t["e_frequencies"].unsqueeze(1)
        periodic = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)  # (K, B, E, 2D)
        out = torch.einsum("kbfj,kfjd->kbfd", periodic, t["e_weight"]) + t["e_bias"].unsqueeze(1)
        out = (torch.relu(out) if self.plr else out).flatten(2)  # (K, B, E * D)
        if self.embedded is None:
            return out
        return torch.cat([out, x.index_select(2, self.embedded[1])], dim=2)

    def _norm(self, l: int, z: torch.Tensor, training: bool) -> torch.Tensor:
        """Each member's norm over its own rows: none, batch (over the batch) or layer (over its
        own units)."""
        return _by_run(z, self.norm_runs, lambda kind, rows, part: _NORMS[kind](
            self, l, rows, part, training))

    def _activate(self, l: int, z: torch.Tensor) -> torch.Tensor:
        return _by_run(z, self.act_runs[l], lambda name, rows, part: self._act(
            name, l, rows, part))

    def _act(self, name: str, l: int, rows: slice, z: torch.Tensor) -> torch.Tensor:
        pick = lambda t: t[rows]
        if name == "prelu":  # one learned slope per unit and member
            return torch.where(z >= 0, z, pick(self.tensors[f"a{l}"]) * z)
        if name == "softmax":  # over the member's own units only
            return z.masked_fill(pick(self.masks[l]) == 0, float("-inf")).softmax(-1)
        return self.functions[name](z)

    # -- handing back -----------------------------------------------------------------------------
    @torch.no_grad()
    def member_state(self, k: int, network: nn.Sequential, steps: int) -> dict[str, torch.Tensor]:
        """Member ``k``'s current weights in ``network``'s own state-dict layout (``steps``:
        the batches trained so far, which BatchNorm counts)."""
        state, lay = {}, self.layouts[k]
        own = {key: value for key, value in network.state_dict().items()}
        for name, read, _ in self.parts:
            target = read(network, lay)
            if target is None:
                continue
            stacked = self.tensors[name][k][tuple(slice(0, s) for s in target.shape)]
            key = next(key for key, value in own.items() if value.data_ptr() == target.data_ptr())
            value = stacked.T if name.startswith("w") else stacked.reshape(own[key].shape)
            state[key] = value.clone(memory_format=torch.contiguous_format)  # never a view: the
            # buffer trains on
        for l in range(self.depth):
            index = lay.norm[l]
            if index is not None and isinstance(network[index], nn.BatchNorm1d):
                width = self.widths[k][l]
                state[f"{index}.running_mean"] = self.running[f"running_mean{l}"][k, 0, :width].clone()
                state[f"{index}.running_var"] = self.running[f"running_var{l}"][k, 0, :width].clone()
                state[f"{index}.num_batches_tracked"] = torch.tensor(steps)
        return state


def member_order(params: list[Params]) -> list[int]:
    """An order of members in which those sharing a norm, then activations, are consecutive, so
    each norm and activation applies to few slices."""
    key = lambda k: (params[k].get("norm", "none"), tuple(layer_activations(params[k])))
    return sorted(range(len(params)), key=key)


Run = tuple[str, slice]  # a kind and the consecutive members that have it


def _runs(kinds: list[str]) -> list[Run]:
    """(kind, members) for each run of consecutive members of one kind."""
    runs, start = [], 0
    for k in range(1, len(kinds) + 1):
        if k == len(kinds) or kinds[k] != kinds[start]:
            runs.append((kinds[start], slice(start, k)))
            start = k
    return runs


def _by_run(z: torch.Tensor, runs: list[Run], apply) -> torch.Tensor:
    """``apply(kind, members, rows)`` on each run's rows of ``z`` (K, B, W), in member order."""
    if len(runs) == 1:
        return apply(runs[0][0], slice(None), z)
    parts = z.split([r.stop - r.start for _, r in runs])  # views; the backward is one cat
    return torch.cat([apply(kind, rows, part) for (kind, rows), part in zip(runs, parts)])


def _batch_norm(net: PopulationNet, l: int, rows: slice, z: torch.Tensor,
                training: bool) -> torch.Tensor:
    pick = lambda t: t[rows]
    mean_run, var_run = net.running[f"running_mean{l}"], net.running[f"running_var{l}"]
    if training:
        mean = z.mean(1, keepdim=True)  # (K, 1, out) over each member's own batch
        var = z.var(1, unbiased=False, keepdim=True)
        with torch.no_grad():
            n = z.shape[1]
            new_mean = (1 - MOMENTUM) * pick(mean_run) + MOMENTUM * mean
            new_var = (1 - MOMENTUM) * pick(var_run) + MOMENTUM * var * n / max(n - 1, 1)
            mean_run[rows] = new_mean
            var_run[rows] = new_var
    else:
        mean, var = pick(mean_run), pick(var_run)
    return (z - mean) / torch.sqrt(var + EPS) * pick(net.tensors[f"g{l}"]) + pick(
        net.tensors[f"c{l}"])


def _layer_norm(net: PopulationNet, l: int, rows: slice, z: torch.Tensor,
                training: bool) -> torch.Tensor:
    pick = lambda t: t[rows]
    mask, count = pick(net.masks[l]), pick(net.counts[l])
    mean = (z * mask).sum(-1, keepdim=True) / count  # over the member's own units
    var = (((z - mean) * mask) ** 2).sum(-1, keepdim=True) / count
    return (z - mean) / torch.sqrt(var + EPS) * pick(net.tensors[f"g{l}"]) + pick(
        net.tensors[f"c{l}"])


_NORMS = {"none": lambda net, l, rows, z, training: z, "batch": _batch_norm, "layer": _layer_norm}
