"""The study: a problem, trials asked of Optuna and trained, the best model scored and kept.

    problem    Config -> Problem (data on the device, metric, resolved space); Winner
    study      create or reopen the Optuna study: sampler, pruner, identity, stored config
    warmstart  built-in architectures and earlier studies' best trials, enqueued first
    objective  one trial at a time: sample (``autonn.space``), then its lifecycle
    lifecycle  1..K trials: begin, each fold through a training engine, conclude, stop or fail
    sizing     a candidate's epochs from the time it can afford, predicted before it trains;
               late in the budget, the rest of the time for the last one
    racing     a cross-validated candidate goes on to its next fold only while it can reach
               the study's top
    claims     trials to an exact count across processes and machines, orphans retried
    deadline   one --timeout deadline for every process; trials it cuts are recorded as stopped
    reserve    the part of the refit's share that the final model's refit leaves goes back to
               the trials
    batching   which trials train together as one population, and how many (the policy: the
               engine is ``autonn.training.population``)
    workers    worker processes on one study: started (early, by the command line), released
               or ended; no torch
    worker_process  what one worker process does: get ready, wait for the go, search
    handoff    workers send their best trials' networks to the main process (no replay)
    signals    Ctrl-C / SIGTERM -> a clean stop
    run        run_search: all of the above, then the winner's test score and the study closed
    ranking    best trials, Pareto fronts
    final      replay or refit a trial, its test score, its bundle
    ensemble   greedy ensemble selection over the trials' out-of-fold predictions
    report     trials tables, Pareto rows, plots
    exporting  a study's trial -> a model file (``autonn export``)
    storage    where Optuna keeps studies

May import: the core, ``data/``, ``export/`` and ``tracking/``. Nothing below imports this package.
"""
