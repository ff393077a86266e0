"""The study: data, sampler, pruner, storage and objective. Orchestration only.

This is the one module that knows both Optuna and the training core.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from torch import nn

from autonn.callbacks import EarlyStopping, Pruning
from autonn.config import Config, resolve_losses
from autonn.data import Dataset, DeviceData, load_dataset, split, to_device
from autonn.device import release_memory, resolve_device
from autonn.errors import ConfigError, StudyError, TrialDiverged
from autonn.losses import Head
from autonn.metrics import DEFAULT_METRIC, Metric, is_better, metric_for
from autonn.model import count_parameters
from autonn.space import Params, suggest
from autonn.storage import open_storage
from autonn.train import History, predict, train_params

COUNTED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@dataclass
class Problem:
    """A config made concrete: its data on the device, the metric and the resolved space."""

    config: Config
    dataset: Dataset
    data: DeviceData
    metric_name: str
    metric: Metric


@dataclass
class Winner:
    """The best model of a search, kept in memory, with its test score."""

    trial_number: int
    value: float
    params: Params
    model: nn.Module
    head: Head
    history: History
    test_score: float | None = None


def prepare(config: Config, source: str = "config") -> Problem:
    """Load and split the data, choose the device, resolve task, metric and losses."""
    if not config.dataset:
        raise ConfigError(f"{source}: dataset: no dataset given; pass --dataset NAME "
                          "(see `autonn datasets`).")
    dataset = load_dataset(config.dataset)
    task = dataset.task if config.task == "auto" else config.task
    metric_name = config.metric or DEFAULT_METRIC[task]
    try:
        metric = metric_for(metric_name, task)
    except ConfigError as exc:
        raise ConfigError(f"{source}: metric: {exc}") from None
    space = resolve_losses(config.space, task, source)
    config = config.model_copy(update={"space": space, "task": task, "metric": metric_name})
    splits = split(dataset, config.training.val_fraction, config.training.test_fraction, config.seed)
    data = to_device(splits, task, resolve_device(config.device), n_classes=len(dataset.classes))
    return Problem(config, dataset, data, metric_name, metric)


def study_name(config: Config) -> str:
    """The study's name: the config's, else the dataset's."""
    return config.study or str(config.dataset)


def create_study(problem: Problem, storage: str | None = None) -> optuna.Study:
    """Create or reopen the study, seeded sampler and median pruner included."""
    cfg = problem.config
    optuna.logging.set_verbosity(logging.WARNING)
    study = optuna.create_study(
        study_name=study_name(cfg), storage=open_storage(storage), load_if_exists=True,
        direction=problem.metric.direction,
        sampler=optuna.samplers.TPESampler(seed=cfg.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=3))
    for key, value in {"dataset": cfg.dataset, "task": cfg.task, "metric": problem.metric_name,
                       "seed": cfg.seed}.items():
        study.set_user_attr(key, value)
    return study


def make_objective(problem: Problem, keep: Callable[[Winner], None]) -> Callable[[Any], float]:
    """The Optuna objective: sample, train with pruning and early stopping, return the score."""
    cfg = problem.config

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, cfg.space)
        seed = cfg.seed + trial.number
        trial.set_user_attr("seed", seed)
        pruning = Pruning(trial)
        callbacks = [EarlyStopping(cfg.training.patience), pruning]
        try:
            model, head, history = train_params(params, problem.data, problem.metric, seed=seed,
                                                callbacks=callbacks,
                                                grad_clip=cfg.training.grad_clip)
        except TrialDiverged as exc:
            trial.set_user_attr("fail_reason", str(exc))
            raise
        finally:
            release_memory(problem.data.device)
        trial.set_user_attr("n_params", count_parameters(model))
        trial.set_user_attr("train_seconds", round(history.seconds, 4))
        trial.set_user_attr("epochs_run", len(history.val_metric))
        if pruning.pruned_epoch is not None:
            trial.set_user_attr("pruned_epoch", pruning.pruned_epoch)
            raise optuna.TrialPruned(f"pruned at epoch {pruning.pruned_epoch}")
        keep(Winner(trial.number, history.best_value, params, model, head, history))
        return history.best_value

    return objective


def remaining_trials(study: optuna.Study, n_trials: int) -> int:
    """How many trials are still to run for the study to hold ``n_trials`` finished ones."""
    done = sum(t.state in COUNTED for t in study.get_trials(deepcopy=False))
    return max(0, n_trials - done)


def run_search(problem: Problem, storage: str | None = None,
               callbacks: Sequence[Callable] = ()) -> tuple[optuna.Study, Winner | None]:
    """Run the study to ``n_trials`` finished trials (or the timeout) and score the winner on test."""
    cfg = problem.config
    study = create_study(problem, storage)
    best: list[Winner] = []

    def keep(w: Winner) -> None:
        if not best or is_better(w.value, best[0].value, problem.metric.direction):
            best[:] = [w]

    study.optimize(make_objective(problem, keep), n_trials=remaining_trials(study, cfg.n_trials),
                   timeout=cfg.timeout, catch=(TrialDiverged,), callbacks=list(callbacks))
    winner = best[0] if best else None
    if winner is not None and _is_study_best(study, winner):
        winner.test_score = problem.metric.fn(
            problem.data.y_test, predict(winner.model, winner.head, problem.data, problem.data.x_test))
        study.set_user_attr("test_score", winner.test_score)
    return study, winner


def _is_study_best(study: optuna.Study, winner: Winner) -> bool:
    try:
        return study.best_trial.number == winner.trial_number
    except ValueError:
        return False


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    """The study's best trial, or a StudyError naming the trial states it has."""
    try:
        return study.best_trial
    except ValueError:
        states = sorted({t.state.name for t in study.get_trials(deepcopy=False)})
        raise StudyError(f"study '{study.study_name}' has no completed trial "
                         f"(trial states: {', '.join(states) or 'none'}).") from None


def load_study(name: str | None, storage: str | None = None) -> optuna.Study:
    """Open an existing study; with no name, the only study in the store."""
    store = open_storage(storage)
    names = [s.study_name for s in store.get_all_studies()]
    if name is None and len(names) == 1:
        name = names[0]
    if name not in names:
        from autonn.errors import unknown_name
        what = unknown_name("study", name, names) if name else "several studies, pick one with --study."
        raise StudyError(f"{what if names else 'no studies in the store yet; run `autonn search` first.'}")
    return optuna.load_study(study_name=name, storage=store)
