"""The final model of a search: an ensemble of the best trials (or the best alone with
``ensemble`` 0); each chosen trial either refitted on every non-test row or shipped as its fold
networks (``refit``); scored on the test split, which nothing else sees; and packaged as an
exportable bundle.

``refit`` "auto" refits after a one-split search. A cross-validated search ships each chosen
trial's k fold networks averaged instead (bagging, as AutoGluon does): together they trained on
every non-test row, and their mean beat one refitted network on the test rows of the benchmark
tables (benchmarks/RESULTS.md).

Also replays a stored trial (its seed, its folds) for exports and for leaders that ran elsewhere.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import optuna
import torch
from torch import nn

from autonn.data.features import from_column_transformer, identity_encoder
from autonn.export.bundle import LIMITS, Bundle, Member
from autonn.export.pipeline import EnsembleModule, ScoringModule, scoring_module
from autonn.losses import Head
from autonn.params import Params
from autonn.search.deadline import PARTIAL
from autonn.search.ensemble import ensemble_selection, row_loss, scorer
from autonn.search.lifecycle import FOLD_EPOCHS, out_of_training
from autonn.search.problem import Fit, Problem, Winner
from autonn.search.racing import early_stopping
from autonn.search.sizing import MARGIN, trained_params
from autonn.tasks import REGRESSION
from autonn.training.loop import train_params
from autonn.training.timing import thread_speedup
from autonn.training.weights import state_tensors


@dataclass
class FinalModel:
    """What a search ends with: one network or an ensemble, as a module from encoded rows to
    probabilities or values (CPU, evaluation mode)."""

    module: ScoringModule | EnsembleModule
    members: list[Member]  # one per network, with its weight in the mean
    trials: dict[int, int]  # trial number -> its weight (ensemble selection counts)
    trial_number: int  # the best trial
    value: float  # the best trial's validation score
    params: Params  # the best trial's parameters
    selection_score: float  # the shipped model's score on the selection rows
    refit: bool  # some or all of its trials were refitted
    test_score: float | None = None
    folds: int = 1  # fold networks per trial when not refitted (a bag when more than one)
    refit_skipped: list[int] = field(default_factory=list)  # due, but the budget had no time
    all_folds: int = 1  # the study's folds per trial
    partial: bool = False  # one trial that finished only some folds (none finished them all)

    @property
    def is_ensemble(self) -> bool:
        """Several trials (one trial's fold networks, shipped as trained, are not)."""
        return len(self.trials) > 1


def finish(problem: Problem, candidates: list[Winner], ensemble: int,
           refit: bool | str = "auto", until: float | None = None) -> FinalModel:
    """The final model from the trials kept in memory (best first), scored on the test split.
    ``refit`` "auto": refit after a one-split search, ship the fold networks after a
    cross-validated one (``refits``). Trials are refitted best first, each while its refit
    (predicted from its own training passes) can end by ``until`` (a ``time.time()`` value); the
    others ship their networks as trained. Trials the deadline left with fewer folds (no
    out-of-fold predictions) are left out, unless no trial finished every fold: then the best
    of them ships alone, as its finished folds."""
    plan = _plan(problem, candidates, ensemble, refit, until)
    networks, skipped = _networks(problem, plan.chosen, plan.refit, until)
    members = [Member(dict(params), head.n_outputs, head.output, weight)
               for params, head, _, weight in networks]
    best, refitted = plan.ranked[0], plan.refit and len(skipped) < len(plan.chosen)
    final = FinalModel(assemble(networks), members,
                       {w.trial_number: n for w, n in plan.chosen}, best.trial_number,
                       best.value, best.params, plan.score, refitted,
                       folds=1 if plan.refit and not skipped else plan.per_trial,
                       refit_skipped=skipped, all_folds=len(problem.folds),
                       partial=best.predictions is None)
    final.test_score = score_test_split(problem, final.module)
    return final


class _Plan(NamedTuple):
    ranked: list[Winner]  # the candidates the final model draws on, best first
    chosen: list[tuple[Winner, int]]  # the trials it ships, with their ensemble counts
    score: float  # the chosen ensemble's score on the selection rows
    refit: bool  # whether the chosen trials are due a refit
    per_trial: int  # networks a trial ships as trained


def _plan(problem: Problem, candidates: list[Winner], ensemble: int, refit: bool | str,
          until: float | None) -> _Plan:
    """What ``finish`` builds from ``candidates``: the trials it chooses, and whether it
    refits them."""
    ranked = sorted(candidates, key=lambda w: (_sort_key(problem, w.value), w.trial_number))
    # trials that finished every fold; the best partial one only when none did
    ranked = [w for w in ranked if w.predictions is not None] or ranked[:1]
    refit = refits(len(problem.folds), refit)
    per_trial = max(len(w.fits) for w in ranked)  # networks a trial ships as trained
    # an ensemble holds at most 2 x size trials (the mean, then the additions), each shipping
    # at most per_trial networks: keep it within the members an export may hold
    ensemble = min(ensemble, LIMITS["members"] // (2 * (1 if refit and until is None
                                                         else per_trial)))
    chosen, score = _choose(problem, ranked, ensemble)
    return _Plan(ranked, chosen, score, refit, per_trial)


def refit_due(problem: Problem, candidates: list[Winner], ensemble: int,
              refit: bool | str = "auto") -> float:
    """Seconds that refitting the final model ``finish`` would build now from ``candidates``
    would take (``refit_seconds``; 0 when it refits nothing)."""
    if not candidates:
        return 0.0
    plan = _plan(problem, candidates, ensemble, refit, until=time.time())
    return refit_seconds(problem, plan.chosen) if plan.refit else 0.0


def refits(folds: int, refit: bool | str) -> bool:
    """Whether the final model is refitted: ``refit``, or with "auto" after a one-split search
    (of ``folds`` 1)."""
    return folds == 1 if refit == "auto" else bool(refit)


def _networks(problem: Problem, chosen: list[tuple[Winner, int]], refit: bool,
              until: float | None) -> tuple[list[Network], list[int]]:
    """The chosen trials' networks, and the trials whose refit was due but skipped: with
    ``refit``, best first, each trial is refitted when its refit can end by ``until``, else it
    ships as trained (a later, cheaper one may still fit); without it, all ship as trained."""
    networks, skipped = [], []
    for winner, count in chosen:
        cost = refit_seconds(problem, [(winner, count)]) if refit else 0.0  # may time epochs
        if refit and (until is None or time.time() + cost <= until):
            networks += _refit(problem, [(winner, count)])
        else:
            skipped += [winner.trial_number] if refit else []
            networks += _as_trained([(winner, count)])
    return networks, skipped


def refit_seconds(problem: Problem, chosen: list[tuple[Winner, int]]) -> float:
    """What refitting ``chosen`` on every non-test row would take: each trial's measured
    seconds per epoch (its training passes: a refit validates nothing), times its refit epochs,
    scaled by the rows it would train on, by the speed of torch's threads now against those it
    trained on (a worker's one thread, timed: ``_speed``), and by the margin that epochs
    predicted from timed ones take longer (``sizing.MARGIN``)."""
    rows = len(problem.splits.y_train) + len(problem.splits.y_val)
    total = 0.0
    for winner, _ in chosen:
        epochs = sum(len(f.history.train_loss) for f in winner.fits) or 1
        per_epoch = (sum(f.history.pass_seconds for f in winner.fits) / epochs
                     * _speed(problem, winner))
        trained = len(winner.fits[0].data.y_train) or 1
        total += per_epoch * winner.refit_epochs * rows / trained
    return total * MARGIN


def _speed(problem: Problem, winner: Winner) -> float:
    """An epoch of ``winner`` on torch's threads now, as a share of its epochs' time in its
    fits (``timing.thread_speedup``; 1.0 where that timing fails), timed once per thread count.
    Never under ideal scaling (the ratio of the counts), nor under 1 on fewer threads: a
    timing that promises more would not hold for a whole refit. Folds that trained on
    different counts count as the most threads (their epochs the quickest)."""
    threads, fitted = torch.get_num_threads(), max(f.history.threads for f in winner.fits)
    if threads not in winner.speed:
        try:
            speedup = thread_speedup(winner.params, winner.fits[0].data, problem.metric, fitted,
                                     problem.config.training.grad_clip)
        except Exception:  # noqa: BLE001 - the trial's own epoch times stand, as measured
            speedup = 1.0
        winner.speed[threads] = max(speedup, min(1.0, fitted / threads))  # 0: none recorded
    return winner.speed[threads]


def _sort_key(problem: Problem, value: float) -> float:
    return -value if problem.metric.direction == "maximize" else value


def _choose(problem: Problem, ranked: list[Winner], size: int
            ) -> tuple[list[tuple[Winner, int]], float]:
    """The trials to ship with their counts: ``ensemble_selection`` over the ranked trials
    (trials clearly worse than the best stay out of its initial mean).

    The ensemble ships even where the best trial alone scores better on the selection rows:
    that trial was picked for its score on those rows, so there it looks better than it is, and
    shipping the ensemble only when it beat it there lost on the test rows (benchmarks/RESULTS.md).
    """
    metric, classifier = problem.metric, problem.config.task != REGRESSION
    if ranked[0].predictions is None:  # a partial trial: scored on the folds it finished
        return [(ranked[0], 1)], ranked[0].value
    counts, together = ensemble_selection([w.predictions for w in ranked],
                                          scorer(metric, problem.selection_y, classifier),
                                          metric.direction, size,
                                          row_loss(problem.selection_y, classifier))
    return [(w, c) for w, c in zip(ranked, counts) if c], together[0]


Network = tuple[Params, Head, ScoringModule, float]  # parameters, head, module, weight


def assemble(networks: list[Network]) -> ScoringModule | EnsembleModule:
    """One network's module, or the weighted mean of several (evaluation mode)."""
    modules = [module for _, _, module, _ in networks]
    if len(modules) == 1:
        return modules[0].eval()
    return EnsembleModule(modules, [weight for *_, weight in networks]).eval()


def _refit(problem: Problem, chosen: list[tuple[Winner, int]]) -> list[Network]:
    """Each chosen trial trained again on every non-test row for its best epoch count."""
    data, cfg = problem.refit_data(), problem.config
    out = []
    for winner, count in chosen:
        model, head, _ = train_params(winner.params, data, problem.metric,
                                      seed=cfg.seed + winner.trial_number,
                                      grad_clip=cfg.training.grad_clip,
                                      epochs=winner.refit_epochs, keep_best=False,
                                      init_state=problem.init_state)
        out.append((winner.params, head, scoring_module(model, head, data), float(count)))
    return out


def _as_trained(chosen: list[tuple[Winner, int]]) -> list[Network]:
    """Each chosen trial's networks as the search trained them (one per fold, sharing its
    weight)."""
    return [(w.params, f.head, scoring_module(f.model, f.head, f.data), count / len(w.fits))
            for w, count in chosen for f in w.fits]


def score_test_split(problem: Problem, module: nn.Module) -> float | None:
    """``module``'s metric on the test split (None when there is none), as an export scores:
    from the encoded rows, on the CPU."""
    splits = problem.splits
    if not len(splits.y_test):
        return None
    y = splits.y_test
    y = torch.as_tensor(y.reshape(len(y), -1) if problem.config.task == REGRESSION else y)
    with torch.inference_mode():
        out = module(torch.as_tensor(splits.X_test, dtype=torch.float32))
    return float(problem.metric.fn(y, out))


def replay(problem: Problem, trial: optuna.trial.FrozenTrial) -> Winner:
    """Train ``trial``'s parameters on the folds it finished (every fold, unless the deadline
    left it fewer) with its seed, the epochs its time afforded, early stopping and its folds'
    time caps, as the search did: the same networks on the same machine."""
    cfg, fits, params = problem.config, [], trained_params(trial)
    folds = problem.folds[:trial.user_attrs.get(PARTIAL, len(problem.folds))]
    # the epochs each fold ran, where the candidate's time cap stopped one (None: as sized)
    epochs = trial.user_attrs.get(FOLD_EPOCHS) or [None] * len(folds)
    for index, (data, fold_epochs) in enumerate(zip(folds, epochs)):
        model, head, history = train_params(
            params, data, problem.metric, seed=trial.user_attrs.get("seed", cfg.seed),
            callbacks=[early_stopping(problem, params, index)], grad_clip=cfg.training.grad_clip,
            epochs=fold_epochs, init_state=problem.init_state)
        fits.append(Fit(model, head, history, data))
    whole = len(fits) == len(problem.folds)
    return Winner(trial.number, trial.values[0], params, fits,
                  out_of_training(problem, fits) if whole else None)


def now() -> str:
    """The time, UTC, as a manifest records it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def make_bundle(problem: Problem, final: FinalModel, info: dict[str, Any]) -> Bundle:
    """The exportable pipeline of ``final``: column encoding, network(s), class labels."""
    dataset, cfg = problem.dataset, problem.config
    encoder = (from_column_transformer(problem.preprocessor) if problem.preprocessor is not None
               else identity_encoder(dataset.feature_names))
    first, shape = final.members[0], problem.data.input_shape
    info = {**info, "exported_at": now()}  # signed with the rest: tells one export from another
    n_targets = problem.data.n_outputs if cfg.task == REGRESSION else 1
    return Bundle(cfg.task, dict(first.params), first.n_outputs, first.output, encoder,
                  list(dataset.classes), cfg.target or "target", n_targets,
                  [int(s) for s in shape] if shape else None, info,
                  state_tensors(final.module), problem.data.feature_scaler.clip,
                  final.members if len(final.members) > 1 else [],
                  list(problem.data.continuous) if problem.data.continuous is not None else None)
