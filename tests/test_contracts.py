"""Contracts between registries that no single change sees: each name every registry lists works
end to end, and every dimension a family samples is known to the tables that read it."""

from __future__ import annotations

import optuna
import pytest

from autonn.config import INTEGER_DIMENSIONS, REAL_DIMENSIONS, SpaceConfig, make_config
from autonn.export.bundle import LIMITS
from autonn.families import FAMILIES
from autonn.params import PER_LAYER, dimension
from autonn.samplers import SAMPLERS
from autonn.search.problem import prepare
from autonn.search.run import run_search
from autonn.space import resolve_space, suggest

TRAINING_COUNTS = ("batch_size", "epochs")  # whole numbers that size no tensor
SHAPE = (8, 8)  # a row shape every family takes (cnn needs one)


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_every_sampler_runs_a_whole_study(sampler):
    # 12 trials: past the random start-up of the model-based samplers (gp samples its own after
    # 10), on one validation split so that it takes seconds
    cfg = make_config(dataset="iris", n_trials=12, seed=0, sampler=sampler, pruner="none",
                      builtin_starts=False, training={"cv_folds": 0}, ensemble=0,
                      space={"epochs": 2, "n_layers": [1, 2], "width": {"low": 4, "high": 16}})
    study, final = run_search(prepare(cfg), storage=optuna.storages.InMemoryStorage())
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 12 and final is not None
    assert len({tuple(sorted(t.params.items())) for t in done}) > 1  # it did sample


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_dimension_a_family_samples_is_typed_bounded_and_known_per_layer(family):
    space = resolve_space(SpaceConfig(family=family, per_layer_width=True,
                                      per_layer_activation=True), "multiclass", SHAPE, 64)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    sampled = [suggest(study.ask(), space) for _ in range(40)]
    missing = set()
    for params in sampled:
        for key, value in params.items():
            dim = dimension(key)
            if key != dim or any(k.startswith(f"{key}_") and k[len(key) + 1:].isdigit()
                                 for k in params):
                if dim not in PER_LAYER:
                    missing.add(f"{key}: per-layer, but {dim} is not in params.PER_LAYER")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            kind = INTEGER_DIMENSIONS if isinstance(value, int) else REAL_DIMENSIONS
            if dim not in kind:
                missing.add(f"{dim}: not in config.{'INTEGER' if kind is INTEGER_DIMENSIONS else 'REAL'}_DIMENSIONS")
            if isinstance(value, int) and dim not in TRAINING_COUNTS and dim not in LIMITS:
                missing.add(f"{dim}: a size with no bound in export.bundle.LIMITS (an untrusted "
                            "model file could ask for any size)")
    assert sorted(missing) == []


def test_every_integer_size_dimension_is_bounded_for_model_files():
    unbounded = [d for d in INTEGER_DIMENSIONS if d not in TRAINING_COUNTS and d not in LIMITS]
    assert unbounded == [], "add each to export.bundle.LIMITS"
