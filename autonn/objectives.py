"""What a study optimises: the validation metric, and optionally size, latency and FLOPs.

With one objective a study has one best trial. With several it has a Pareto front: the trials no
other trial beats on every objective. Everything that needs "the best trial" asks ``leading_trial``:
the best on the metric (always a Pareto member), so single- and multi-objective studies read alike.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import optuna
import torch
from torch import nn

from autonn.model import count_parameters

OBJECTIVES = ("val_metric", "params", "latency", "flops")  # all but the metric are minimised
LATENCY_ROWS = 256  # rows per timed forward pass
LATENCY_REPEATS = 5
COMPLETE = optuna.trial.TrialState.COMPLETE


def directions(objectives: list[str], metric_direction: str) -> list[str]:
    """Optuna directions, one per objective."""
    return [metric_direction if name == "val_metric" else "minimize" for name in objectives]


def measure(name: str, model: nn.Module, x: torch.Tensor) -> float:
    """``params`` (trainable), ``latency`` (ms per forward pass of 256 rows, on the model's
    device, median of 5) or ``flops`` (per row, as torch's FLOP counter counts them)."""
    if name == "params":
        return float(count_parameters(model))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            if name == "flops":
                from torch.utils.flop_counter import FlopCounterMode

                with FlopCounterMode(display=False) as counter:
                    model(x[:1])
                return float(counter.get_total_flops())
            batch = x[:LATENCY_ROWS]
            model(batch)  # warm-up
            times = []
            for _ in range(LATENCY_REPEATS):
                _synchronize(x.device)
                start = time.perf_counter()
                model(batch)
                _synchronize(x.device)
                times.append((time.perf_counter() - start) * 1000)
            return statistics.median(times)
    finally:
        model.train(was_training)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def objectives_of(study: optuna.Study) -> list[str]:
    return list(study.user_attrs.get("objectives", ["val_metric"]))


def leading_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    """The completed trial with the best metric, a Pareto member (ValueError when none)."""
    if len(study.directions) == 1:
        return study.best_trial
    front = pareto_front(study)  # of trials tied on the metric, one no other beats
    if not front:
        raise ValueError("no completed trial")
    return front[0]


def pareto_front(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The Pareto-optimal trials, best metric first (rank 1)."""
    return _ranked(study, study.best_trials)


def ranked_by_metric(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Completed trials, best metric first."""
    return _ranked(study, study.get_trials(deepcopy=False, states=(COMPLETE,)))


def _ranked(study: optuna.Study, trials: list) -> list[optuna.trial.FrozenTrial]:
    sign = -1 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1
    return sorted(trials, key=lambda t: (sign * t.values[0], t.number))


def pareto_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """The Pareto front as JSON-ready rows: rank, trial, each objective's value, architecture."""
    from autonn.report import summary

    names = objectives_of(study)
    plain = lambda v: int(v) if float(v).is_integer() else v  # noqa: E731  (counts stay whole)
    return [{"rank": i + 1, "trial": t.number, **{n: plain(v) for n, v in zip(names, t.values)},
             "architecture": summary(t.params) if "n_layers" in t.params else "",
             "mlflow_run_id": t.user_attrs.get("mlflow_run_id")}
            for i, t in enumerate(pareto_front(study))]


def pareto_csv(study: optuna.Study) -> str:
    """The Pareto front as CSV text (what the MLflow parent run stores as pareto.csv)."""
    import pandas as pd

    return pd.DataFrame(pareto_rows(study)).to_csv(index=False)


def pick_pareto(study: optuna.Study, rank: int | None = None,
                max_params: int | None = None) -> optuna.trial.FrozenTrial:
    """A Pareto member by rank (1 = best metric), or the best metric within ``max_params``.
    A single-objective study ranks all its completed trials by the metric."""
    from autonn.errors import StudyError

    front = pareto_front(study) if len(study.directions) > 1 else ranked_by_metric(study)
    if max_params is not None:
        fits = [t for t in front if t.user_attrs.get("n_params", float("inf")) <= max_params]
        if not fits:
            smallest = min(t.user_attrs.get("n_params", 0) for t in front) if front else None
            raise StudyError(f"study '{study.study_name}': no Pareto member has at most "
                             f"{max_params} parameters (the smallest has {smallest}).")
        front = fits
    rank = rank or 1
    if not 1 <= rank <= len(front):
        raise StudyError(f"study '{study.study_name}': Pareto rank {rank} does not exist; the "
                         f"front has {len(front)} member(s) (see `autonn trials --pareto`).")
    return front[rank - 1]
