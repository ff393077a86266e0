"""The study: data, sampler, pruner, storage and objective. Orchestration only.

This is the one module that knows both Optuna and the training core.
"""

from __future__ import annotations

import contextlib
import json
import math
import logging
import signal
import threading
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from torch import nn

from autonn.callbacks import EarlyStopping, Heartbeat, Pruning
from autonn.claims import optimize_to_count
from autonn.workers import join_workers, start_workers, threads_per_worker
from autonn.config import Config, resolve_family, resolve_losses
from autonn.data import (Dataset, DeviceData, Splits, dataset_from_files, load_dataset, split,
                         to_device)
from autonn.device import release_memory, resolve_device
from autonn.errors import ConfigError, SearchInterrupted, StudyError
from autonn.bundle import make_bundle, raw_rows
from autonn.losses import Head
from autonn.metrics import DEFAULT_METRIC, Metric, is_better, metric_for
from autonn.model import count_parameters
from autonn.objectives import directions, leading_trial, measure, pareto_csv
from autonn.report import architecture, trials_csv
from autonn.report import figures as report_figures
from autonn.space import Params, suggest
from autonn.storage import describe_storage, open_storage
from autonn.strategies import make_pruner, make_sampler
from autonn.tracking import NullTracker, Tracker
from autonn.train import History, predict, train_params
from autonn.warmstart import builtin_starts, enqueue, study_starts

COUNTED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
WORKER_SEED_STRIDE = 1_000_003


@dataclass
class Problem:
    """A config made concrete: its data on the device, the metric and the resolved space."""

    config: Config
    dataset: Dataset
    data: DeviceData
    metric_name: str
    metric: Metric
    preprocessor: Any = None  # the ColumnTransformer fitted on a table's training rows
    init_state: dict | None = None  # starting weights from --init-from


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
    return make_problem(config, load_data(config, source), source)


def make_problem(config: Config, dataset: Dataset, source: str = "config",
                 splits: Splits | None = None) -> Problem:
    """Resolve task, metric and losses for ``dataset``; split it (unless ``splits`` are given)
    and move it to the device."""
    task = dataset.task if config.task == "auto" else config.task
    metric_name = config.metric or DEFAULT_METRIC[task]
    try:
        metric = metric_for(metric_name, task)
    except ConfigError as exc:
        raise ConfigError(f"{source}: metric: {exc}") from None
    shape = tuple(config.input_shape or dataset.input_shape or ()) or None
    init_state, space = None, config.space
    if config.init_from:
        init_state, space = _init_from(config.init_from, space, dataset)
    space = resolve_family(resolve_losses(space, task, source), shape, source)
    config = config.model_copy(update={"space": space, "task": task, "metric": metric_name})
    if splits is None:
        splits = split(dataset, config.training.val_fraction, config.training.test_fraction,
                       config.seed)
    if shape and math.prod(shape) != splits.X_train.shape[1]:
        raise ConfigError(f"{source}: input_shape {list(shape)} holds {math.prod(shape)} values, "
                          f"but the rows have {splits.X_train.shape[1]} features; fix input_shape.")
    data = to_device(splits, task, resolve_device(config.device), n_classes=len(dataset.classes),
                     input_shape=shape)
    return Problem(config, dataset, data, metric_name, metric, splits.preprocessor, init_state)


def _init_from(path: str, space: Any, dataset: Dataset) -> tuple[dict, Any]:
    """The model's transferable weights, and the space with its architecture held fixed."""
    from autonn.predictor import Predictor, load
    from autonn.warmstart import architecture_of, transferable

    model = load(path)
    if not isinstance(model, Predictor):
        raise ConfigError(f"init_from: {path} is not an autonn model.")
    bundle = model.bundle
    fixed = {**architecture_of(bundle.params), **space.fixed}
    state = transferable(bundle.tensors, bundle.classes, list(dataset.classes))
    return state, space.model_copy(update={"fixed": fixed, "family": fixed.get("family", "mlp")})


def load_data(config: Config, source: str = "config") -> Dataset:
    """The bundled dataset or the table file the config names."""
    if config.dataset and config.data:
        raise ConfigError(f"{source}: give either a dataset ({config.dataset}) or a data file "
                          f"({config.data}), not both.")
    if config.dataset:
        return load_dataset(config.dataset)
    if not config.data:
        raise ConfigError(f"{source}: no data given; pass --dataset NAME (see `autonn datasets`) "
                          "or --data FILE --target COLUMN.")
    if not config.target:
        raise ConfigError(f"{source}: --data {config.data} needs --target COLUMN, the column to "
                          "predict.")
    return dataset_from_files(config.data, config.target, config.task, config.test_data,
                              config.group_column)


def study_name(config: Config) -> str:
    """The study's name: the config's, else the dataset's or the data file's stem."""
    from pathlib import Path
    return config.study or str(config.dataset or Path(str(config.data)).stem)


def study_settings(problem: Problem, storage: str | None) -> dict[str, Any]:
    """What defines a study, as recorded on its MLflow parent run (passwords masked)."""
    cfg = problem.config
    return {"dataset": cfg.dataset, "task": cfg.task, "metric": problem.metric_name,
            "direction": problem.metric.direction, "sampler": cfg.sampler, "pruner": cfg.pruner,
            "n_trials": cfg.n_trials, "timeout": cfg.timeout, "seed": cfg.seed,
            "objectives": ",".join(cfg.objectives),
            "device": str(problem.data.device), "storage": describe_storage(storage),
            "n_features": problem.data.x_train.shape[1], "n_train": len(problem.data.x_train),
            "space": cfg.space.model_dump_json()}


def create_study(problem: Problem, storage: str | None = None, worker: int = 0) -> optuna.Study:
    """Create or reopen the study with its seeded sampler and its pruner.

    Worker ``k`` > 0 seeds its sampler apart from the others, so workers do not propose the same
    trials in lockstep.
    """
    cfg = problem.config
    if optuna.logging.get_verbosity() < logging.WARNING:
        optuna.logging.set_verbosity(logging.WARNING)  # no line per trial
    many = len(cfg.objectives) > 1
    sampler = "nsga2" if many and "sampler" not in cfg.model_fields_set else cfg.sampler
    study = optuna.create_study(
        study_name=study_name(cfg), storage=open_storage(storage), load_if_exists=True,
        directions=directions(cfg.objectives, problem.metric.direction),
        sampler=make_sampler(sampler, cfg.seed + WORKER_SEED_STRIDE * worker),
        pruner=make_pruner("none" if many else cfg.pruner))
    identity = study_identity(problem)
    if "identity" in study.user_attrs:
        _refuse_changes(study, json.loads(study.user_attrs["identity"]), identity)
    else:
        study.set_user_attr("identity", json.dumps(identity, sort_keys=True))
        for key in ("task", "metric", "direction", "objectives"):
            study.set_user_attr(key, identity[key])
        study.set_user_attr("dataset", cfg.dataset or cfg.data)
        study.set_user_attr("seed", cfg.seed)
        study.set_user_attr("n_features", int(problem.data.x_train.shape[1]))
    if "config" not in study.user_attrs:
        study.set_user_attr("config", stored_config(cfg))
    return study


def study_identity(problem: Problem) -> dict[str, Any]:
    """What a study cannot change once it has trials: task, metric, direction and space."""
    return {"task": problem.config.task, "metric": problem.metric_name,
            "direction": problem.metric.direction, "objectives": problem.config.objectives,
            "space": json.loads(problem.config.space.model_dump_json())}


def _refuse_changes(study: optuna.Study, stored: dict[str, Any], now: dict[str, Any]) -> None:
    """Optuna would silently mix trials of different spaces or directions: refuse instead."""
    changed = [f"{key}: was {stored.get(key)!r}, now {now[key]!r}"
               for key in ("task", "metric", "direction", "objectives") if stored.get(key) != now[key]]
    old_space, new_space = stored.get("space", {}), now["space"]
    changed += [f"space.{key}: was {old_space.get(key)!r}, now {new_space.get(key)!r}"
                for key in sorted(set(old_space) | set(new_space))
                if old_space.get(key) != new_space.get(key)]
    if changed:
        raise StudyError(f"study '{study.study_name}' exists with other settings ("
                         f"{'; '.join(changed)}). Resume it with its own settings, or start a new "
                         "study with --study NAME.")


def make_objective(problem: Problem, tracker: Tracker, keep: Callable[[Winner], None]
                   ) -> Callable[[optuna.Trial], float]:
    """The Optuna objective: sample, train with pruning and early stopping, return the score."""
    cfg, metric = problem.config, problem.metric_name

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, cfg.space)
        seed = cfg.seed + trial.number
        trial.set_user_attr("seed", seed)
        run_id = tracker.start_trial(trial.number, params, {
            "study": trial.study.study_name, "seed": seed, "device": str(problem.data.device)})
        if run_id:
            trial.set_user_attr("mlflow_run_id", run_id)
        pruning = Pruning(trial)
        stoppers = [EarlyStopping(cfg.training.patience), Heartbeat(trial)]
        if len(cfg.objectives) == 1:  # Optuna prunes single-objective studies only
            stoppers.append(pruning)
        try:
            model, head, history = train_params(
                params, problem.data, problem.metric, seed=seed, grad_clip=cfg.training.grad_clip,
                callbacks=stoppers, init_state=problem.init_state)
        except BaseException as exc:
            reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
            trial.set_user_attr("fail_reason", reason)
            interrupted = isinstance(exc, KeyboardInterrupt)
            tracker.end_trial(trial.number, "KILLED" if interrupted else "FAIL",
                              tags={"fail_reason": "interrupted" if interrupted else reason},
                              traceback=None if interrupted else traceback.format_exc())
            raise
        finally:
            release_memory(problem.data.device)
        facts = {"n_params": count_parameters(model), "train_seconds": round(history.seconds, 4),
                 "epochs_run": len(history.val_metric)}
        extra = {name: measure(name, model, problem.data.x_val) for name in cfg.objectives[1:]}
        facts.update({k: v for k, v in extra.items() if k != "params"})
        for key, value in facts.items():
            trial.set_user_attr(key, value)
        curves = {"train_loss": history.train_loss, f"val_{metric}": history.val_metric}
        if pruning.pruned_epoch is not None:
            trial.set_user_attr("pruned_epoch", pruning.pruned_epoch)
            tracker.end_trial(trial.number, "PRUNED", curves=curves, metrics=facts,
                              tags={"pruned_epoch": pruning.pruned_epoch})
            raise optuna.TrialPruned(f"pruned at epoch {pruning.pruned_epoch}")
        tracker.end_trial(trial.number, "COMPLETE", curves=curves,
                          metrics={f"best_val_{metric}": history.best_value, **facts})
        keep(Winner(trial.number, history.best_value, params, model, head, history))
        if extra:
            return (history.best_value, *extra.values())
        return history.best_value

    return objective


def remaining_trials(study: optuna.Study, n_trials: int) -> int:
    """How many trials are still to run for the study to hold ``n_trials`` finished ones."""
    done = sum(t.state in COUNTED for t in study.get_trials(deepcopy=False))
    return max(0, n_trials - done)


def run_search(problem: Problem, storage: str | None = None, tracker: Tracker | None = None,
               callbacks: Sequence[Callable] = (), workers: int = 1
               ) -> tuple[optuna.Study, Winner | None]:
    """Run the study to ``n_trials`` finished trials (or the timeout) and score the winner on test.

    With ``workers`` > 1 the trials run in that many processes (``autonn.workers``); the best
    trial is then replayed here, with its seed, to score it and log its model.

    On Ctrl-C or SIGTERM the running trial ends FAIL (its run KILLED), finished trials stay in
    the storage, and the parent run is closed KILLED before the interruption propagates.
    """
    cfg, tracker = problem.config, tracker or NullTracker()
    study = create_study(problem, storage)
    tracker.start_study(study.study_name, study_settings(problem, storage))
    trials_before = len(study.get_trials(deepcopy=False))
    if not trials_before:
        starts = warm_starts(problem, storage, (tracker.spawn_args() or (None,))[0])
        if cfg.builtin_starts and not cfg.init_from:
            starts += builtin_starts(cfg.space)
        enqueue(study, starts[:cfg.n_trials])  # no start is left waiting after the study
    best: list[Winner] = []

    def keep(w: Winner) -> None:
        if not best or is_better(w.value, best[0].value, problem.metric.direction):
            best[:] = [w]

    def announce_best(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        w = best[0] if best else None
        if w is not None and w.trial_number == trial.number and _is_study_best(study, w):
            arch = architecture(w.params, problem.data.x_train.shape[1], w.head.n_outputs)
            tracker.new_best(w.trial_number, problem.metric_name, w.value, w.params, arch)

    status = "FAILED"
    try:
        with _signals_interrupt(), _helpers(cfg, workers, storage, tracker) as helpers:
            optimize_to_count(study, make_objective(problem, tracker, keep), cfg.n_trials,
                              storage=storage, timeout=cfg.timeout, catch=(Exception,),
                              callbacks=[announce_best, *callbacks], retries=cfg.retries,
                              max_failures=cfg.max_failures, on_orphan=tracker.fail_run)
            died = join_workers(helpers)
            if died:
                warnings.warn(f"worker(s) died: {', '.join(died)}; their trials were failed and "
                              "retried by the others.", RuntimeWarning, stacklevel=2)
        ran = len(study.get_trials(deepcopy=False)) > trials_before
        if ran and not (best and _is_study_best(study, best[0])):
            # the best trial ran in another worker or an earlier session: rebuild it here
            best[:] = [w for w in [replay_best(problem, study)] if w is not None]
            if best:
                announce_best(study, leading_trial(study))
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        winner = best[0] if best and _is_study_best(study, best[0]) else None
        if winner is not None:
            winner.test_score = test_score(problem, winner)
            if winner.test_score is not None:
                study.set_user_attr("test_score", winner.test_score)
        _close_study(study, problem, tracker, status, winner)
    return study, winner


def warm_starts(problem: Problem, storage: Any, tracking_uri: str | None) -> list[dict]:
    """The best trials of each ``warm_start`` source: a study in ``storage``, or an MLflow run
    (a study's run: its best trials; a trial's run: that trial)."""
    store = open_storage(storage)
    names = {s.study_name for s in store.get_all_studies()}
    n_features = int(problem.data.x_train.shape[1])
    starts: list[dict] = []
    for source in problem.config.warm_start:
        number = None
        if source not in names:
            from autonn.tracking import default_tracking_uri, trial_of_run

            source, number = trial_of_run(tracking_uri or default_tracking_uri(), source)
            if source not in names:
                raise StudyError(f"--warm-start: no study '{source}' in {describe_storage(storage)}.")
        study = optuna.load_study(study_name=source, storage=store)
        starts += study_starts(study, problem.config.space, n_features, number)
    return starts


def test_score(problem: Problem, winner: Winner) -> float | None:
    """``winner``'s metric on the problem's test split (None when there is no test split)."""
    data = problem.data
    if not len(data.y_test):
        return None
    return float(problem.metric.fn(data.y_test, predict(winner.model, winner.head, data,
                                                        data.x_test)))


def replay_best(problem: Problem, study: optuna.Study) -> Winner | None:
    """Train the study's best trial again, with its own seed: the same network, in this process."""
    try:
        trial = leading_trial(study)
    except ValueError:
        return None
    return replay(problem, trial)


def replay(problem: Problem, trial: optuna.trial.FrozenTrial) -> Winner:
    """Train ``trial``'s parameters with its seed and early stopping, as the search did."""
    cfg = problem.config
    model, head, history = train_params(
        trial.params, problem.data, problem.metric, seed=trial.user_attrs.get("seed", cfg.seed),
        callbacks=[EarlyStopping(cfg.training.patience)], grad_clip=cfg.training.grad_clip,
        init_state=problem.init_state)
    return Winner(trial.number, trial.values[0], trial.params, model, head, history)


def stored_config(config: Config) -> str:
    """The config as the study keeps it (data paths made absolute), so the study can be
    rebuilt later, by ``autonn export``, from any directory."""
    from pathlib import Path

    paths = {key: str(Path(value).resolve()) for key in ("data", "test_data")
             if (value := getattr(config, key))}
    return config.model_copy(update=paths).model_dump_json()


def config_of(study: optuna.Study) -> Config:
    """The config a study was created with (see ``stored_config``)."""
    if "config" not in study.user_attrs:
        raise StudyError(f"study '{study.study_name}' was created by an older autonn and does "
                         "not record its config; run the search again to export from it.")
    return Config.model_validate_json(study.user_attrs["config"])


def _close_study(study: optuna.Study, problem: Problem, tracker: Tracker, status: str,
                 winner: Winner | None) -> None:
    if not tracker.records:
        tracker.end_study(status)
        return
    import matplotlib.pyplot as plt

    finished = any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    figures = report_figures(study) if finished and status == "FINISHED" else {}
    model = example = None
    metrics = {}
    if winner is not None:
        metrics[f"test_{problem.metric_name}"] = winner.test_score
        if status == "FINISHED":
            model = make_bundle(problem, winner, {
                "study": study.study_name, "trial": winner.trial_number,
                "metric": problem.metric_name, "value": winner.value,
                "test_score": winner.test_score, "retrained": False})
            example = raw_rows(problem, 5)
    texts = {"trials.csv": trials_csv(study)}
    if len(study.directions) > 1 and finished:
        texts["pareto.csv"] = pareto_csv(study)
    try:
        tracker.end_study(status, metrics=metrics, texts=texts, figures=figures, model=model,
                          example=example)
    finally:
        plt.close("all")


@contextlib.contextmanager
def _helpers(cfg: Config, workers: int, storage: Any, tracker: Tracker):
    """Worker processes 1..N-1 beside this one (worker 0), with the CPU threads shared out."""
    if workers <= 1:
        yield []
        return
    import torch

    processes = start_workers(cfg, range(1, workers), workers, storage, tracker.spawn_args())
    threads = torch.get_num_threads()
    torch.set_num_threads(threads_per_worker(workers))
    try:
        yield processes
    except BaseException:
        join_workers(processes, interrupted=True)
        raise
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _signals_interrupt():
    """Turn SIGTERM (and SIGINT) into SearchInterrupted while a search runs in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SearchInterrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _is_study_best(study: optuna.Study, winner: Winner) -> bool:
    try:
        return leading_trial(study).number == winner.trial_number
    except ValueError:
        return False


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    """The study's best trial, or a StudyError naming the trial states it has."""
    try:
        return leading_trial(study)
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
