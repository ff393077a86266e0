"""Experiment tracking: the search's hooks, and MLflow behind them.

    tracker         the ``Tracker`` hooks the search calls, and ``NullTracker``
    mlflow_tracker  ``MlflowTracker``: experiment, parent run and child runs, sent in batches
    runs            reading a tracking store: fast-failing clients and autonn's run lookups

Only this package and ``autonn.export.mlflow_model`` import mlflow. May import: errors, masking
and ``export/`` (to log the best pipeline as an MLflow model); nothing of ``search/``.
"""
