"""How a network trains: the loop, its callbacks, weights, the device, and the population engine.

    loop        ``fit(model, data, ...) -> History`` and ``train_params(params, data, ...)``: the
                training core, batches sliced on the device, best epoch kept; no Optuna, no I/O
    callbacks   epoch-end stoppers: early stopping, Optuna pruning (duck-typed), the search's
                deadline, a candidate's time cap, a heartbeat
    threads     the CPU threads a lone search process trains with (table size, machine load)
    timing      one epoch's seconds predicted from a few timed steps (a candidate's epochs)
    weights     flattened parameter buffers, transfer of matching weights (--init-from)
    device      the best device present (CUDA, then MPS, then CPU), memory released after a fold
    population  many small networks trained as one batched network (the engine; which trials
                train together is ``autonn.search.batching``)

May import: the registries, ``data/`` and ``families/`` (whose ``builder`` makes the network a
trial's parameters describe). Nothing here knows of studies, exports or tracking.
"""
