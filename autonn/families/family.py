"""What a family is, and the parts families share: dense layers and the attention front block.

A family samples the dimensions of its own body (through the space's ``Ask``, so every suggest
call stays in ``autonn.space``), builds that body as a list of modules ending in a known width
(``autonn.families.builder`` adds the output layer), and describes it for reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from autonn._lazy import nn
from autonn.components import EMBEDDINGS, initialize, make_activation, make_norm
from autonn.params import Params, first_activation, layer_activations, layer_widths


class Ask(Protocol):
    """How a family asks the search space for values (``autonn.space.Ask``)."""

    space: Any  # the SpaceConfig, for its per-layer switches

    def value(self, dim: str, name: str | None = None) -> Any: ...

    def layers(self, dim: str, count: int, separate: bool) -> Params: ...


Body = tuple[list[Any], int]  # the body's modules, and the width of what it outputs


@dataclass(frozen=True)
class Family:
    """A registry entry of ``autonn.families.FAMILIES``."""

    name: str
    help: str  # one line for --help and the README
    dimensions: tuple[str, ...]  # the space dimensions ``sample`` asks for
    sample: Callable[[Ask], Params]
    # (params, inputs, row shape, continuous columns: those embeddings embed; None: all)
    build: Callable[[Params, int, tuple[int, ...] | None, tuple[int, ...] | None], Body]
    describe: Callable[[Params], dict[str, Any]]  # family-specific part of the architecture
    summary: Callable[[Params], str]  # one line, e.g. "64-32" or "resmlp 2x128"
    needs_shape: bool = False  # rows must have an input_shape (images, signals)
    width_per_layer: bool = True  # widths may differ by layer (the space's per_layer_width)
    batchable: bool = False  # the population network (``training.population``) trains it


def dense_layers(params: Params, width_in: int) -> Body:
    """[Linear -> norm -> activation -> dropout] per hidden layer; norm and dropout only when on."""
    from autonn.blocks import Dropout  # blocks load torch: kept out of --help

    layers: list[Any] = []
    norm, dropout = params.get("norm", "none"), params.get("dropout", 0.0)
    for width, act in zip(layer_widths(params), layer_activations(params)):
        linear = nn.Linear(width_in, width)
        initialize(linear, params["init"], act)
        layers.append(linear)
        if norm != "none":
            layers.append(make_norm(norm, width))
        layers.append(make_activation(act, width))
        if dropout > 0:
            layers.append(Dropout(dropout))
        width_in = width
    return layers, width_in


# What may stand in front of a dense body: feature self-attention, or numeric embeddings.
FRONT_DIMENSIONS = ("attention", "attention_dim", "attention_heads", "embedding", "embedding_dim",
                    "embedding_scale")


def sample_front(ask: Ask) -> Params:
    """A feature self-attention block and its size, or else a numeric-feature embedding."""
    p = {"attention": ask.value("attention")}
    if p["attention"]:
        p["attention_dim"] = ask.value("attention_dim")
        p["attention_heads"] = ask.value("attention_heads")
        return p
    p["embedding"] = ask.value("embedding")
    if EMBEDDINGS[p["embedding"]] is not None:
        p["embedding_dim"] = ask.value("embedding_dim")
        p["embedding_scale"] = ask.value("embedding_scale")
    return p


def front(params: Params, n_inputs: int, continuous: tuple[int, ...] | None = None) -> Body:
    """What ``params`` put in front of the body: (N, n_inputs) -> (N, width). An embedding
    embeds the ``continuous`` columns (None: every column) and passes the others on."""
    if params.get("attention"):
        return _attention(params, n_inputs)
    embed = EMBEDDINGS[params.get("embedding", "none")]
    if embed is None:
        return [], n_inputs
    dim = int(params["embedding_dim"])
    columns = None if continuous is None or len(continuous) == n_inputs else list(continuous)
    embedded = n_inputs if columns is None else len(columns)
    return ([embed(n_inputs, dim, float(params["embedding_scale"]), columns)],
            embedded * dim + n_inputs - embedded)


def _attention(params: Params, n_inputs: int) -> Body:
    """(N, n_inputs) -> (N, attention_dim): one token per feature and a class token."""
    from autonn.blocks import FeatureAttention  # blocks load torch: kept out of --help

    act, dim = first_activation(params), int(params["attention_dim"])
    block = FeatureAttention(n_inputs, dim, int(params["attention_heads"]),
                             make_activation(act, 1),  # one PReLU slope: tokens are 3-D
                             params.get("dropout", 0.0))
    initialize(block.ff1, params["init"], act)
    return [block], dim


def describe_front(params: Params) -> dict[str, Any]:
    if params.get("attention"):
        return {"attention": {"dim": params.get("attention_dim"),
                              "heads": params.get("attention_heads")}}
    if params.get("embedding", "none") != "none":
        return {"embedding": {"kind": params["embedding"], "dim": params.get("embedding_dim"),
                              "scale": params.get("embedding_scale")}}
    return {}


def front_summary(params: Params) -> str:
    if params.get("attention"):
        return f"attn{params.get('attention_dim')}/{params.get('attention_heads')} "
    if params.get("embedding", "none") != "none":
        return f"{params['embedding']}{params.get('embedding_dim')} "
    return ""


def widths_text(params: Params) -> str:
    return "-".join(str(w) for w in layer_widths(params))
