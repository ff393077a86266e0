"""Experiment tracking: the search's hooks, and MLflow behind them.

    tracker         the ``Tracker`` hooks the search calls, ``NullTracker``, and the
                    ``TRACKERS`` registry behind ``open_tracker``
    mlflow_tracker  ``MlflowTracker``: experiment, parent run and child runs, sent in batches
    runs            reading a tracking store: fast-failing clients and autonn's run lookups
    new_store       a new embedded SQLite store as a copy of one MLflow migrated once, not
                    its two seconds of migrations
    outbox          tags a command records at once and a detached process (or the next search)
                    sends: ``autonn export`` waits for no MLflow client

Only this package, ``autonn.export.mlflow_model`` and ``autonn.export.mlflow_signature`` import
mlflow. May import: errors, masking
and ``export/`` (to log the best pipeline as an MLflow model); nothing of ``search/``.
"""
