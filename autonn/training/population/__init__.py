"""Populations: many small networks trained as one batched network (ParallelMLPs-style).

    network   K mlps of one depth as stacked, padded weights; per-member norms, activations,
              dropout; each member's weights handed back in its own network's layout
    batched_losses  each loss over the population's outputs, one value per member
    optim     torch.optim's arithmetic over one flat buffer, settings per member
    packing   which members train in one pass: far-apart sizes in separate packs
    fit       the training loop: per-member batch order, schedule, validation, each member's
              stoppers (early stopping, pruning, deadline, time cap); stopped members leave

May import: the registries, ``data/``, ``families/`` and ``training/``'s loop. ``autonn.search.batching`` asks the
study for the trials a population trains.
"""
