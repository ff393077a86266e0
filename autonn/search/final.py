"""The final model of a search: a trial trained again (replayed, or refitted on train +
validation rows), scored on the test split, and packaged as an exportable bundle."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna

from autonn.callbacks import EarlyStopping
from autonn.data.features import from_column_transformer, identity_encoder
from autonn.data.split import Splits
from autonn.export.bundle import Bundle
from autonn.export.pipeline import scoring_module
from autonn.search.problem import Problem, Winner, make_problem
from autonn.search.ranking import leading_trial
from autonn.train import predict, train_params
from autonn.weights import state_tensors


def replay(problem: Problem, trial: optuna.trial.FrozenTrial) -> Winner:
    """Train ``trial``'s parameters with its seed and early stopping, as the search did."""
    cfg = problem.config
    model, head, history = train_params(
        trial.params, problem.data, problem.metric, seed=trial.user_attrs.get("seed", cfg.seed),
        callbacks=[EarlyStopping(cfg.training.patience)], grad_clip=cfg.training.grad_clip,
        init_state=problem.init_state)
    return Winner(trial.number, trial.values[0], trial.params, model, head, history)


def replay_best(problem: Problem, study: optuna.Study) -> Winner | None:
    """Train the study's best trial again, with its own seed: the same network, in this process."""
    try:
        trial = leading_trial(study)
    except ValueError:
        return None
    return replay(problem, trial)


def test_score(problem: Problem, winner: Winner) -> float | None:
    """``winner``'s metric on the problem's test split (None when there is no test split)."""
    data = problem.data
    if not len(data.y_test):
        return None
    return float(problem.metric.fn(data.y_test, predict(winner.model, winner.head, data,
                                                        data.x_test)))


def retrain_winner(problem: Problem, splits: Splits, winner: Winner) -> tuple[Problem, Winner]:
    """Train ``winner``'s architecture on train + validation for its best epoch count (the
    problem returned holds the merged rows, scaled afresh)."""
    merged = Splits(np.concatenate([splits.X_train, splits.X_val]),
                    np.concatenate([splits.y_train, splits.y_val]), splits.X_val, splits.y_val,
                    splits.X_test, splits.y_test, splits.preprocessor)
    problem = make_problem(problem.config, problem.dataset, "retrain", merged)
    epochs = winner.history.best_epoch + 1
    model, head, history = train_params(winner.params, problem.data, problem.metric,
                                        seed=int(problem.config.seed) + winner.trial_number,
                                        grad_clip=problem.config.training.grad_clip,
                                        epochs=epochs, keep_best=False,
                                        init_state=problem.init_state)
    return problem, Winner(winner.trial_number, winner.value, winner.params, model, head, history)


def make_bundle(problem: Problem, winner: Winner, info: dict[str, Any]) -> Bundle:
    """The exportable pipeline of ``winner``: column encoding, scaled network, class labels."""
    dataset, cfg = problem.dataset, problem.config
    encoder = (from_column_transformer(problem.preprocessor) if problem.preprocessor is not None
               else identity_encoder(dataset.feature_names))
    module = scoring_module(winner.model, winner.head, problem.data)
    shape = problem.data.input_shape
    return Bundle(cfg.task, dict(winner.params), winner.head.n_outputs, winner.head.output,
                  encoder, list(dataset.classes), cfg.target or "target", len(module.target_mean),
                  [int(s) for s in shape] if shape else None, info, state_tensors(module))
