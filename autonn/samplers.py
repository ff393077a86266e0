"""Optuna samplers and pruners by name, as the command line and configs spell them.

optuna is imported on first use (``_lazy``): the config validates these names without loading it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autonn._lazy import optuna
from autonn.errors import lookup

SAMPLERS: dict[str, Callable[[int], Any]] = {
    # constant liar: trials asked while others run (a population, other workers) spread out
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed, constant_liar=True),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    "gp": lambda seed: optuna.samplers.GPSampler(seed=seed),
    "cmaes": lambda seed: optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False),
    "qmc": lambda seed: optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False),
    "nsga2": lambda seed: optuna.samplers.NSGAIISampler(seed=seed),
}

PRUNERS: dict[str, Callable[[], Any]] = {
    "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=3),
    "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=3),
    "halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=3),
    "none": lambda: optuna.pruners.NopPruner(),
}


def make_sampler(name: str, seed: int) -> Any:
    """The sampler ``name``, seeded."""
    return lookup(SAMPLERS, "sampler", name)(seed)


def make_pruner(name: str) -> Any:
    """The pruner ``name``."""
    return lookup(PRUNERS, "pruner", name)()
