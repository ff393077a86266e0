"""Parameter dict -> ``nn.Module``. Pure: no I/O, no Optuna.

The family (``params["family"]``, see ``autonn.families``) builds the body; an output layer of
``n_outputs`` units follows, initialised for no activation.
"""

from __future__ import annotations

from autonn._lazy import nn
from autonn.components import initialize
from autonn.families import family_of
from autonn.params import Params


def build_model(params: Params, n_inputs: int, n_outputs: int,
                input_shape: tuple[int, ...] | None = None,
                continuous: tuple[int, ...] | None = None) -> nn.Sequential:
    """Build the network ``params`` describe, for ``n_inputs`` features and ``n_outputs`` outputs
    (embeddings embed the ``continuous`` columns; None: every column).

    Weights are initialised with ``params["init"]`` at the gain of the activation that follows
    each layer; biases start at zero. Call ``torch.manual_seed`` first for reproducible weights.
    """
    body, width = family_of(params).build(params, n_inputs, input_shape, continuous)
    head = nn.Linear(width, n_outputs)
    initialize(head, params["init"], "identity")
    return nn.Sequential(*body, head)
