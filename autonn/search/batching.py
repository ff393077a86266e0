"""Trials in populations: K trials claimed at once, trained together in batched passes.

The first trial of a claim (the leader) is sampled freely; the others (followers) take the
leader's values of ``GROUP_KEY`` (family, depth, loss, optimizer, batch size, embedding) through
``PopulationSampler`` and are sampled freely in every other dimension (widths, activations,
initializer, norm, dropout, learning rate, weight decay, schedule, label smoothing, epochs), so
a claim can train as one population. On the CPU followers also take the leader's norm and
activations (``CPU_GROUP_KEY``): each kind in a pass is its own slice of kernels, and a CPU
step pays for every kernel where a GPU step hides them (benchmarks/RESULTS.md). Trials that
still cannot share a pass (a family or block the population network does not batch, an enqueued
start of another key) train one at a time.
This module is the policy (who trains together, how many at once); the training is the trial
lifecycle's (``search.lifecycle``), with the population engine (``training.population``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import optuna
from optuna.samplers import BaseSampler

from autonn.params import Params
from autonn.search.claims import Outcome
from autonn.search.lifecycle import run_trials
from autonn.search.problem import Problem, Winner
from autonn.space import suggest
from autonn.tracking.tracker import Tracker
from autonn.training.loop import fit_each
from autonn.training.population.fit import can_batch, fit_population

GROUP_KEY = ("family", "attention", "n_layers", "loss", "optimizer", "batch_size", "embedding",
             "embedding_dim")
CPU_GROUP_KEY = ("norm", "activation")  # and per-layer activations: activation_0, ...
LEADER = "population_key"  # the user attribute a follower carries: its leader's key values
# Members per pass by default (benchmarks/RESULTS.md, "Populations"). On the CPU one at a time:
# with packs and shared norms and activations, 8 members ran a 4000-row table's study at 1.9x the
# trials per minute of one at a time but digits at 0.8x, with a lower best score on both (one
# core, 48 trials of 20 epochs): padding the default space's widths (16-256 per layer) to a
# pack's widest is arithmetic a CPU core pays for, so packs stay small. On CUDA, 64: step
# throughput grows ~18x from 1 to 64 members and barely beyond.
CPU_POPULATION = 1
CUDA_POPULATION = 64


def population_size(setting: int | str, device: Any) -> int:
    """Members per population: ``setting``, or for ``auto`` what the device keeps busy."""
    if setting != "auto":
        return max(1, int(setting))
    return CUDA_POPULATION if getattr(device, "type", "cpu") == "cuda" else CPU_POPULATION


def populations(problem: Problem, tracker: Tracker, keep: Callable[[Winner], None]
                ) -> dict[str, Any]:
    """``optimize_to_count``'s population settings for ``problem`` (none for one at a time)."""
    size = population_size(problem.config.population, problem.data.device)
    if size == 1:
        return {}
    return {"population": size, "run_batch": make_population_runner(problem, tracker, keep)}


def group_key(params: Params, device: Any) -> tuple[str, ...]:
    """The parameters that members of one population share on ``device``."""
    if getattr(device, "type", "cpu") != "cpu":
        return GROUP_KEY
    layered = sorted(k for k in params if k.startswith("activation_"))
    return GROUP_KEY + CPU_GROUP_KEY + tuple(layered)


class PopulationSampler(BaseSampler):
    """``base``, except that a follower trial takes its leader's values of ``group_key``."""

    def __init__(self, base: BaseSampler) -> None:
        self.base = base

    def infer_relative_search_space(self, study, trial):
        return self.base.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        fixed = trial.user_attrs.get(LEADER) or {}
        return {k: v for k, v in self.base.sample_relative(study, trial, search_space).items()
                if k not in fixed}

    def sample_independent(self, study, trial, name, distribution):
        fixed = trial.user_attrs.get(LEADER) or {}
        if name in fixed and _allows(distribution, fixed[name]):
            return fixed[name]
        return self.base.sample_independent(study, trial, name, distribution)

    def before_trial(self, study, trial):
        self.base.before_trial(study, trial)

    def after_trial(self, study, trial, state, values):
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()


def _allows(distribution: Any, value: Any) -> bool:
    try:
        return distribution._contains(distribution.to_internal_repr(value))
    except (ValueError, TypeError):
        return False


def make_population_runner(problem: Problem, tracker: Tracker, keep: Callable[[Winner], None]
                           ) -> Callable[[list[optuna.Trial]], list[Outcome]]:
    """What ``claims.optimize_to_count`` calls with each claim of several trials: the claim's
    groups, each through the trial lifecycle (``search.lifecycle``) with the population engine,
    or one trial at a time where the population network cannot train them together. Under a
    deadline the runs of a claim with a population share one candidate's time: a first claim
    of 64 on an H200 ran its built-in starts one after another, each with a whole share, and
    filled 25 s of the 41 s a 60 s search had for trials (benchmarks/RESULTS.md)."""
    said = []

    def run(trials: list[optuna.Trial]) -> list[Outcome]:
        params = _sample(problem, trials)
        outcomes: list[Outcome] = [None] * len(trials)
        runs = []  # (trial indices, engine): trained one after another
        for group in _groups(params, group_key(params[0], problem.data.device)):
            if len(group) > 1 and can_batch(params[group[0]]):
                runs.append((group, fit_population))
                continue
            runs += [([i], fit_each) for i in group]
            if len(group) == 1 and not can_batch(params[group[0]]) and not said:
                said.append(True)
                warnings.warn(f"{params[group[0]].get('family', 'mlp')} trials (and attention "
                              "blocks) train one at a time; populations batch mlp trials.",
                              RuntimeWarning, stacklevel=2)
        # a claim with a population takes one candidate's share of the time left, all its runs
        # together; one of lone trials (a family that cannot batch) gives each a whole share,
        # as one at a time does
        share = 1 / len(runs) if any(engine is fit_population for _, engine in runs) else 1.0
        for batch, engine in runs:
            done = run_trials(problem, [trials[i] for i in batch], [params[i] for i in batch],
                              tracker, keep, engine, share=share)
            for i, outcome in zip(batch, done):
                outcomes[i] = outcome
        return outcomes

    return run


def _sample(problem: Problem, trials: list[optuna.Trial]) -> list[Params]:
    """The leader's parameters first; each follower then takes the leader's group key."""
    leader = suggest(trials[0], problem.config.space)
    key = {k: leader[k] for k in group_key(leader, problem.data.device) if k in leader}
    for trial in trials[1:]:
        trial.set_user_attr(LEADER, key)
    return [leader] + [suggest(t, problem.config.space) for t in trials[1:]]


def _groups(params: list[Params], key: tuple[str, ...]) -> list[list[int]]:
    """Trials that share ``key``'s values, in claim order."""
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(params):
        groups.setdefault(tuple(p.get(k) for k in key), []).append(i)
    return list(groups.values())
