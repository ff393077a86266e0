"""The Optuna objective: sample a trial's parameters, train them with pruning and early stopping,
report everything to the tracker, and return the validation score (plus any other objectives)."""

from __future__ import annotations

import traceback
from collections.abc import Callable

import optuna

from autonn.callbacks import EarlyStopping, Heartbeat, Pruning
from autonn.device import release_memory
from autonn.measures import count_parameters, measure
from autonn.search.problem import Problem, Winner
from autonn.space import suggest
from autonn.tracking.tracker import Tracker
from autonn.train import train_params


def make_objective(problem: Problem, tracker: Tracker, keep: Callable[[Winner], None]
                   ) -> Callable[[optuna.Trial], float | tuple[float, ...]]:
    """The objective of ``problem``'s study; ``keep`` receives every completed trial's network."""
    cfg, metric = problem.config, problem.metric_name

    def objective(trial: optuna.Trial) -> float | tuple[float, ...]:
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
            _report_failure(trial, tracker, exc)
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
        return (history.best_value, *extra.values()) if extra else history.best_value

    return objective


def _report_failure(trial: optuna.Trial, tracker: Tracker, exc: BaseException) -> None:
    """A failed or interrupted trial: its reason on the trial, its run ended FAIL or KILLED."""
    reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
    trial.set_user_attr("fail_reason", reason)
    interrupted = isinstance(exc, KeyboardInterrupt)
    tracker.end_trial(trial.number, "KILLED" if interrupted else "FAIL",
                      tags={"fail_reason": "interrupted" if interrupted else reason},
                      traceback=None if interrupted else traceback.format_exc())
