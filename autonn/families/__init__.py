"""Architecture families: how a network's body is sampled, built and described.

    FAMILIES[name].sample(ask) -> params -> .build(params, n_inputs, shape) -> modules
                                          -> .describe / .summary -> reports

One module per family (``mlp``, ``resmlp``, ``cnn``, with the parts they share in ``family``),
one ``Family`` entry each below; ``builder`` makes the whole network (body, then output layer). The search
space, the model builder, reports, warm starts, config validation and ``--family`` all read this
registry: a new family is a new module and one more entry here.
"""

from __future__ import annotations

from typing import Any

from autonn.errors import lookup
from autonn.families import cnn, mlp, resmlp
from autonn.families.family import Family
from autonn.params import Params, layer_activations

FAMILIES: dict[str, Family] = {f.name: f for f in (mlp.FAMILY, resmlp.FAMILY, cnn.FAMILY)}
DEFAULT_FAMILY = "mlp"
AUTO = "auto"  # every family the data allows
FAMILY_CHOICES = (*FAMILIES, AUTO)

# Architecture parameters (what --init-from holds fixed): the shared ones and every family's own.
ARCHITECTURE = tuple(dict.fromkeys(("family", "activation", "norm", "init",
                                    *(d for f in FAMILIES.values() for d in f.dimensions))))


def family_of(params: Params) -> Family:
    """The family a parameter dict describes (mlp when it names none)."""
    return lookup(FAMILIES, "family", params.get("family", DEFAULT_FAMILY))


def families_for(input_shape: Any) -> list[str]:
    """The families data of this row shape allows (those needing a shape only with one)."""
    return [name for name, f in FAMILIES.items() if input_shape or not f.needs_shape]


def architecture(params: Params, n_inputs: int | None = None,
                 n_outputs: int | None = None) -> dict[str, Any]:
    """A JSON-ready description of the network ``params`` describe."""
    arch = {"family": family_of(params).name, **family_of(params).describe(params),
            "activations": layer_activations(params), "norm": params.get("norm", "none"),
            "dropout": params.get("dropout", 0.0), "init": params.get("init"),
            "loss": params.get("loss"), "optimizer": params.get("optimizer")}
    if n_inputs is not None:
        arch.update(inputs=n_inputs, outputs=n_outputs)
    return arch


def summary(params: Params) -> str:
    """One line, e.g. ``64-32 relu adam`` or ``cnn c16-32k3 64 relu adam``."""
    acts = sorted(set(layer_activations(params)))
    return f"{family_of(params).summary(params)} {'/'.join(acts)} {params.get('optimizer', '')}".strip()


__all__ = ["ARCHITECTURE", "AUTO", "DEFAULT_FAMILY", "FAMILIES", "FAMILY_CHOICES", "Family", "architecture",
           "families_for", "family_of", "summary"]
