"""Racing over folds: a candidate trains on more folds only while it can reach the study's top."""

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.distributions import FloatDistribution

from autonn import make_config
from autonn.search.final import replay
from autonn.search.problem import CV_FOLDS, prepare
from autonn.search.racing import FOLD_VALUES, EpochSteps, FoldRace, epoch_cap, race
from autonn.search.run import run_search
from autonn.tracking.tracker import open_tracker
from autonn.training.callbacks import EarlyStopping

FAST = {"epochs": 6, "n_layers": 1, "width": 16, "embedding": "none",
        "lr": {"low": 1e-5, "high": 1e-1, "log": True}}


CAP = 10  # the epoch cap of the unit tests' studies: fold k's mean is reported at step 10 + k


def study_of(fold_values, direction="maximize", pool=2, folds=3, storage=None):
    """A real study, raced by FoldRace, holding one complete trial per list of fold values,
    recorded as a search records them: each fold's running mean at its fold step."""
    race_ = FoldRace(optuna.pruners.NopPruner(), CAP, folds, pool)
    study = optuna.create_study(direction=direction, pruner=race_, storage=storage)
    for values in fold_values:
        means = {CAP + k: sum(values[:k + 1]) / (k + 1) for k in range(len(values))}
        study.add_trial(optuna.trial.create_trial(
            value=sum(values) / len(values), params={"x": 0.5}, intermediate_values=means,
            distributions={"x": FloatDistribution(0, 1)}, user_attrs={FOLD_VALUES: values}))
    return study, race_


def test_every_candidate_runs_all_folds_until_the_pool_is_full():
    study, race_ = study_of([[0.9, 0.9, 0.9], [0.8, 0.8, 0.8]], pool=3)
    assert race_.threshold(study, finished=1) is None
    assert race_.behind(study, CAP, 0.1) is None


def test_the_bar_is_the_pools_last_mean_on_the_same_folds():
    # fold means over the first two folds: 0.85, 0.75, 0.65 (the third fold does not count yet)
    study, race_ = study_of([[0.9, 0.8, 0.0], [0.7, 0.8, 1.0], [0.6, 0.7, 1.0]])
    assert race_.threshold(study, finished=2) == pytest.approx(0.75)
    assert race_.behind(study, CAP + 1, 0.75) is None  # ties go on
    why = race_.behind(study, CAP + 1, 0.7)
    assert why.startswith("raced out after fold 2 of 3") and "2nd best complete trial" in why
    assert race_.behind(study, CAP + 2, 0.0) is None  # its last fold: done, not raced


def test_a_lower_is_better_metric_races_the_other_way_and_partial_trials_do_not_count():
    study, race_ = study_of([[1.0, 1.0], [2.0, 2.0], [3.0]], direction="minimize", folds=2)
    assert race_.threshold(study, finished=1) == 2.0  # [3.0]: the deadline left it one of two folds
    assert race_.behind(study, CAP, 1.5) is None
    assert race_.behind(study, CAP, 2.5).startswith("raced out")


def test_the_race_is_optunas_pruner_acting_on_fold_steps_in_a_real_storage(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study, _ = study_of([[0.9, 0.8, 0.7], [0.7, 0.8, 0.9]], storage=storage)
    ahead, behind = study.ask(), study.ask()
    assert race(ahead, [0.9], next_fold=True) is None  # 0.9 >= the 2nd best first fold, 0.7
    assert race(behind, [0.6], next_fold=True).startswith("raced out after fold 1 of 3")
    assert race(behind, [0.6, 0.5], next_fold=False) is None  # no next fold to race for
    study.tell(behind, state=optuna.trial.TrialState.PRUNED)
    stored = optuna.load_study(study_name=study.study_name, storage=storage).trials[behind.number]
    # Optuna holds the fold means at their steps, and ranks the pruned trial on the last one
    assert stored.intermediate_values == {CAP: 0.6, CAP + 1: pytest.approx(0.55)}
    assert stored.value == pytest.approx(0.55)


def test_the_epoch_pruner_sees_the_study_without_its_fold_steps():
    study, _ = study_of([[0.9, 0.8, 0.7]])
    trial = study.ask()
    for epoch, value in enumerate([0.5, 0.6, 0.7]):
        trial.report(value, epoch)
    race(trial, [0.7], next_fold=False)
    study.tell(trial, 0.7)
    seen = EpochSteps(study, CAP).get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert [t.last_step for t in seen] == [None, 2]  # Hyperband's max_resource comes from these
    assert study.trials[1].last_step == CAP  # the stored record keeps its fold step


def test_a_search_races_its_candidates_over_folds():
    config = make_config(dataset="wine", n_trials=14, seed=1, pruner="none", sampler="random",
                         ensemble=2, space=FAST, builtin_starts=False)
    study, final = run_search(prepare(config), storage=optuna.storages.InMemoryStorage())
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    raced = [t for t in study.trials if t.user_attrs.get("pruned", "").startswith("raced out")]
    assert raced, "random learning rates from 1e-5 to 0.1 should leave some candidates behind"
    cap = epoch_cap(config.space)
    for trial in complete:  # a finished candidate ran every fold, and told Optuna each mean
        values = trial.user_attrs[FOLD_VALUES]
        assert len(values) == CV_FOLDS
        assert {s for s in trial.intermediate_values if s >= cap} == {cap + k for k in range(CV_FOLDS)}
        assert [trial.intermediate_values[cap + k] for k in range(CV_FOLDS)] == pytest.approx(
            [sum(values[:k + 1]) / (k + 1) for k in range(CV_FOLDS)])
    for trial in raced:  # a raced-out one stopped early, and the record says after which fold
        assert trial.state.name == "PRUNED"
        folds = int(trial.user_attrs["pruned"].split("after fold ")[1].split(" ")[0])
        assert 1 <= folds < CV_FOLDS
        assert len(trial.user_attrs[FOLD_VALUES]) == folds
        assert trial.last_step == cap + folds - 1  # the fold step the race stopped it at
        assert trial.value == pytest.approx(sum(trial.user_attrs[FOLD_VALUES]) / folds)
    assert set(final.trials) <= {t.number for t in complete}  # only finished work ships
    again, _ = run_search(prepare(config), storage=optuna.storages.InMemoryStorage())
    # a seed fixes which candidates race out, and their scores
    assert [(t.state, t.value) for t in again.trials] == [(t.state, t.value) for t in study.trials]


def test_hyperband_sizes_its_brackets_from_the_epochs_not_the_fold_steps():
    config = make_config(dataset="wine", n_trials=4, seed=1, pruner="hyperband", space=FAST,
                         builtin_starts=False)
    study, _ = run_search(prepare(config), storage=optuna.storages.InMemoryStorage())
    assert max(t.last_step for t in study.trials) >= epoch_cap(config.space)  # fold steps held
    assert study.pruner.epochs._max_resource <= FAST["epochs"]  # "auto": the longest curve
    # Optuna's samplers learn from a trial's own bracket, as with Hyperband alone
    hyperband, last = study.pruner.epochs, study.trials[-1]
    bracket = optuna.pruners._filter_study(study, last)
    assert bracket is not study and {t.number for t in bracket.get_trials()} == {
        t.number for t in study.trials
        if hyperband._get_bracket_id(study, t) == hyperband._get_bracket_id(study, last)}


def test_the_configured_pruner_still_prunes_on_the_first_folds_epochs():
    race_ = FoldRace(optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0), CAP, 3, 2)
    study = optuna.create_study(direction="maximize", pruner=race_)
    study.add_trial(optuna.trial.create_trial(
        value=0.9, params={}, distributions={}, intermediate_values={0: 0.9, CAP: 0.9}))
    trial = study.ask()
    trial.report(0.1, 0)  # epoch 0 of its first fold, far below the median there
    assert trial.should_prune()


def test_a_raced_out_trial_is_a_pruned_run_in_mlflow_with_its_finished_folds(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = make_config(dataset="wine", n_trials=10, seed=1, pruner="none", sampler="random",
                         ensemble=2, space=FAST, builtin_starts=False, study="raced")
    tracker = open_tracker("mlflow", uri, "raced")
    study, _ = run_search(prepare(config), storage=optuna.storages.InMemoryStorage(), tracker=tracker)
    tracker.close()
    runs = {int(r.data.tags["autonn.trial"]): r for r in MlflowClient(uri).search_runs(
        [MlflowClient(uri).get_experiment_by_name("raced").experiment_id])
        if "autonn.trial" in r.data.tags}
    raced = [t for t in study.trials if t.user_attrs.get("pruned", "").startswith("raced out")]
    assert raced
    for trial in raced:
        run = runs[trial.number]
        assert run.info.status == "KILLED" and run.data.tags["autonn.pruned"] == trial.user_attrs["pruned"]
        assert [run.data.metrics[f"val_accuracy_fold{k}"] for k in range(len(
            trial.user_attrs[FOLD_VALUES]))] == pytest.approx(trial.user_attrs[FOLD_VALUES])


def test_later_folds_end_at_a_perfect_score_and_the_fold_the_pruner_watches_does_not():
    space = {**FAST, "epochs": 60, "width": 32, "optimizer": "adam", "lr": 0.01, "dropout": 0.0}
    problem = prepare(make_config(dataset="iris", n_trials=1, seed=0, builtin_starts=False,
                                  pruner="median", space=space))
    study, _ = run_search(problem, storage=optuna.storages.InMemoryStorage())
    trial = study.trials[0]
    assert trial.user_attrs[FOLD_VALUES][0] == trial.user_attrs[FOLD_VALUES][-1] == 1.0
    fits = replay(problem, trial).fits  # the search's own stopping rules, fold by fold
    first, last = fits[0].history, fits[-1].history
    # the first fold ran its patience past 1.0 (Optuna saw the curve it always saw); the last
    # stopped there, keeping the network that patience would have kept
    assert first.stop_reason == "early_stopping" and first.best_value == 1.0
    assert len(first.val_metric) == trial.user_attrs["epochs_run"] > first.best_epoch + 1
    assert last.stop_reason == EarlyStopping.PERFECT
    assert len(last.val_metric) == last.best_epoch + 1
