"""Creating, reopening and identifying studies: the seeded sampler and pruner, what a study
cannot change once it has trials, and the config it keeps so it can be rebuilt later."""

from __future__ import annotations

import base64
import json
import logging
import re
import warnings
import zlib
from pathlib import Path
from typing import Any

import optuna

from autonn.config import Config
from autonn.errors import StudyError
from autonn.measures import directions
from autonn.samplers import make_pruner, make_sampler
from autonn.search.batching import PopulationSampler
from autonn.search.problem import Problem
from autonn.search.racing import study_pruner
from autonn.search.storage import describe_storage, keep_attr, kept_attrs, open_storage

WORKER_SEED_STRIDE = 1_000_003  # worker k's sampler seed: seed + k * stride


def study_name(config: Config) -> str:
    """The study's name: the config's, else the dataset's or the data file's stem (made safe
    for a file name: other characters become '-')."""
    if config.study:
        return config.study
    name = str(config.dataset or Path(str(config.data)).stem)
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name).lstrip(".")[:128] or "study"


def study_settings(problem: Problem, storage: Any) -> dict[str, Any]:
    """What defines a study, as recorded on its MLflow parent run (passwords masked)."""
    cfg = problem.config
    return {"dataset": cfg.dataset, "task": cfg.task, "metric": problem.metric_name,
            "direction": problem.metric.direction, "sampler": cfg.sampler, "pruner": cfg.pruner,
            "n_trials": "until timeout" if cfg.until_timeout else cfg.n_trials,
            "timeout": cfg.timeout, "seed": cfg.seed,
            "objectives": ",".join(cfg.objectives),
            "device": str(problem.data.device), "storage": describe_storage(storage),
            "n_features": problem.data.x_train.shape[1], "n_train": len(problem.data.x_train),
            "space": cfg.space.model_dump_json()}


def create_study(problem: Problem, storage: Any = None, worker: int = 0) -> optuna.Study:
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
        sampler=PopulationSampler(make_sampler(sampler, cfg.seed + WORKER_SEED_STRIDE * worker)),
        pruner=study_pruner(problem, make_pruner("none" if many else cfg.pruner)))
    identity = study_identity(problem)
    stored = _unpack(_kept(study, IDENTITY_KEY, "identity"))
    if stored is not None:
        _refuse_changes(study, stored, identity)
    else:
        _describe(study, problem, identity)
    return study


# Optuna's `optuna studies` and optuna-dashboard print every user attribute: the few that read
# well stay there; the config and the identity, zlib-compressed under one key each, are system
# attributes, which neither prints (studies made before 0.3 kept them as user attributes).
CONFIG_KEY, IDENTITY_KEY = "autonn.config.zlib", "autonn.identity.zlib"


def _kept(study: optuna.Study, key: str, older: str) -> str | None:
    """A packed attribute where this autonn keeps it, or where an older one did."""
    return (kept_attrs(study).get(key) or study.user_attrs.get(key)
            or study.user_attrs.get(older))


def _describe(study: optuna.Study, problem: Problem, identity: dict[str, Any]) -> None:
    """A new study's short, readable attributes and metric names, and its packed config."""
    cfg = problem.config
    for key in ("task", "metric", "direction"):
        study.set_user_attr(key, identity[key])
    study.set_user_attr("objectives", ",".join(cfg.objectives))
    study.set_user_attr("dataset", cfg.dataset or Path(str(cfg.data)).name)
    study.set_user_attr("seed", cfg.seed)
    study.set_user_attr("n_features", int(problem.data.x_train.shape[1]))
    keep_attr(study, IDENTITY_KEY, _pack(identity))
    keep_attr(study, CONFIG_KEY, _pack(json.loads(stored_config(cfg))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([f"val_{problem.metric_name}", *cfg.objectives[1:]])


def _pack(value: Any) -> str:
    return base64.b64encode(zlib.compress(json.dumps(value, sort_keys=True).encode())).decode()


def _unpack(text: str | None) -> Any:
    if text is None:
        return None
    if text.lstrip().startswith("{"):  # studies made before packing kept plain JSON
        return json.loads(text)
    return json.loads(zlib.decompress(base64.b64decode(text)))


# Settings a study made before they existed ran with: it encoded every near-constant column.
BEFORE = {"training.near_constant_rows": 0}


def study_identity(problem: Problem) -> dict[str, Any]:
    """What a study cannot change once it has trials: task, metric, direction, the columns its
    rows keep, and space."""
    return {"task": problem.config.task, "metric": problem.metric_name,
            "direction": problem.metric.direction, "objectives": problem.config.objectives,
            "training.near_constant_rows": problem.config.training.near_constant_rows,
            "space": json.loads(problem.config.space.model_dump_json())}


def _refuse_changes(study: optuna.Study, stored: dict[str, Any], now: dict[str, Any]) -> None:
    """Optuna would silently mix trials of different spaces, rows or directions: refuse
    instead."""
    was = lambda key: stored.get(key, BEFORE.get(key))
    changed = [f"{key}: was {was(key)!r}, now {now[key]!r}"
               for key in ("task", "metric", "direction", "objectives",
                           "training.near_constant_rows") if was(key) != now[key]]
    old_space, new_space = stored.get("space", {}), now["space"]
    changed += [f"space.{key}: was {old_space.get(key)!r}, now {new_space.get(key)!r}"
                for key in sorted(set(old_space) | set(new_space))
                if old_space.get(key) != new_space.get(key)]
    if changed:
        raise StudyError(f"study '{study.study_name}' exists with other settings ("
                         f"{'; '.join(changed)}). Resume it with its own settings, or start a new "
                         "study with --study NAME.")


def stored_config(config: Config) -> str:
    """The config as the study keeps it (data paths made absolute), so the study can be
    rebuilt later, by ``autonn export``, from any directory."""
    paths = {key: str(Path(value).resolve()) for key in ("data", "test_data")
             if (value := getattr(config, key))}
    return config.model_copy(update=paths).model_dump_json()


def config_of(study: optuna.Study) -> Config:
    """The config a study was created with (see ``stored_config``)."""
    packed = _kept(study, CONFIG_KEY, "config")
    if packed is None:
        raise StudyError(f"study '{study.study_name}' was created by an older autonn and does "
                         "not record its config; run the search again to export from it.")
    values = _unpack(packed)
    training = values.setdefault("training", {})
    for key, value in BEFORE.items():
        training.setdefault(key.removeprefix("training."), value)
    return Config.model_validate(values)
