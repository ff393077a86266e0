"""scikit-learn estimators: ``fit`` runs a search, the best network predicts.

    >>> clf = AutoNNClassifier(n_trials=20, random_state=0).fit(X_train, y_train)
    >>> clf.predict(X_test), clf.best_params_, clf.study_.trials_dataframe()

They take numeric arrays (put imputers and encoders before them in a Pipeline), work with
``clone``, ``Pipeline`` and ``cross_val_score``, and pass scikit-learn's estimator checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from autonn.config import Config, load_config, make_config
from autonn.data.datasets import Dataset
from autonn.data.split import Splits
from autonn.search.problem import make_problem
from autonn.search.run import run_search
from autonn.tasks import BINARY, MULTICLASS, REGRESSION
from autonn.tracking.tracker import Tracker, open_tracker

MIN_ROWS_TO_HOLD_OUT = 10  # fewer rows: validate on the training rows themselves


class _AutoNN(BaseEstimator):
    """What both estimators share; subclasses say the task and how targets are encoded."""

    def __init__(self, n_trials: int = 10, timeout: float | None = None,
                 space: dict | str | None = None, metric: str | None = None, max_epochs: int | None = None,
                 validation_fraction: float = 0.2, device: str = "auto", random_state: Any = None,
                 tracking: bool | str = False) -> None:
        self.n_trials = n_trials
        self.timeout = timeout
        self.space = space
        self.metric = metric
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.device = device
        self.random_state = random_state
        self.tracking = tracking

    def _search(self, X: np.ndarray, y: np.ndarray, task: str, classes: tuple = ()) -> None:
        import optuna

        if len(y) < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 samples to train; got "
                             f"n_samples={len(y)}.")
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        config = self._config(task, seed)
        dataset = Dataset(type(self).__name__, X, y, task, tuple(f"x{i}" for i in range(X.shape[1])),
                          classes)
        problem = make_problem(config, dataset, type(self).__name__, self._split(X, y, task, seed))
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        study, final = run_search(problem, storage=optuna.storages.InMemoryStorage(),
                                   tracker=self._tracker(config))
        if final is None:
            raise RuntimeError(f"{type(self).__name__}: no trial completed"
                               + (f" within timeout={self.timeout} s (trials it cut short are "
                                  "not kept); give more time" if self.timeout else "")
                               + ".")
        self.study_ = study
        self.best_params_ = dict(final.params)
        self.best_score_ = float(final.value)
        # float64 for prediction, as scikit-learn expects: a row's output then does not depend on
        # the batch it is predicted in
        self.model_ = final.module.double()

    def _config(self, task: str, seed: int) -> Config:
        base: dict[str, Any] = {}
        if isinstance(self.space, (str, Path)):
            base = load_config(self.space).model_dump(exclude_none=True)
            base.pop("dataset", None)
            base.pop("data", None)
        elif self.space is not None:
            base = {"space": dict(self.space)}
        if self.max_epochs is not None:
            base["space"] = {**base.get("space", {}), "epochs": self.max_epochs}
        return make_config(base, source=f"{type(self).__name__}(space=...)", task=task,
                           n_trials=self.n_trials, timeout=self.timeout, metric=self.metric,
                           device=self.device, seed=seed, study=f"{type(self).__name__}-{seed}")

    def _split(self, X: np.ndarray, y: np.ndarray, task: str, seed: int) -> Splits:
        if len(y) < MIN_ROWS_TO_HOLD_OUT:
            return Splits(X, y, X, y, X[:0], y[:0])
        stratify = y if task != REGRESSION and np.bincount(y).min() >= 2 else None
        X_train, X_val, y_train, y_val = train_test_split(
            X, y, test_size=self.validation_fraction, random_state=seed, stratify=stratify)
        return Splits(X_train, y_train, X_val, y_val, X[:0], y[:0])

    def _tracker(self, config: Config) -> Tracker:
        uri = self.tracking if isinstance(self.tracking, str) else None
        return open_tracker("mlflow" if self.tracking else "none", uri, config.study)

    def _outputs(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        # a read-only array (a DataFrame's values, a memory map) is copied: torch warns on one
        X = np.require(X, requirements="W")
        with torch.inference_mode():
            return self.model_(torch.as_tensor(X)).numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags


class AutoNNClassifier(ClassifierMixin, _AutoNN):
    """Searches a neural network classifier; ``classes_`` holds the labels in ``y``'s own terms."""

    def fit(self, X: Any, y: Any) -> AutoNNClassifier:
        """Run a search on (X, y) and keep the best network."""
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs at least two classes in y; "
                             f"it has one class: {self.classes_[0]!r}.")
        task = BINARY if len(self.classes_) == 2 else MULTICLASS
        self._search(X, codes.astype(np.int64), task, tuple(self.classes_))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        return self._outputs(X).astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row, as a label from ``classes_``."""
        best = self.predict_proba(X).argmax(axis=1)  # checks fitted first
        return self.classes_[best]


class AutoNNRegressor(RegressorMixin, _AutoNN):
    """Searches a neural network regressor."""

    def fit(self, X: Any, y: Any) -> AutoNNRegressor:
        """Run a search on (X, y) and keep the best network."""
        X, y = validate_data(self, X, y, dtype=np.float32, y_numeric=True)
        self._search(X, np.asarray(y, dtype=np.float32), REGRESSION)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values, in the units of the ``y`` given to ``fit``."""
        return self._outputs(X)[:, 0].astype(np.float64)
