import time

import optuna
import pytest

from autonn.config import make_config
from autonn.errors import ConfigError, DataError, StudyError, TrialStopped
from autonn.search.problem import prepare
from autonn.search.racing import study_pruner
from autonn.search.ranking import best_trial, remaining_trials, state_of
from autonn.search.report import ranked_trials
from autonn.search.run import run_search
from autonn.search.storage import keep_attr, kept_attrs, load_study
from autonn.search.study import CONFIG_KEY, IDENTITY_KEY, _pack, _unpack, config_of

FAST = {"epochs": 8, "n_layers": [1, 2], "width": {"low": 8, "high": 32}}


def search(dataset, n_trials=4, storage=None, **kw):
    cfg = make_config({"dataset": dataset, "n_trials": n_trials, "space": kw.pop("space", FAST) or {}, **kw})
    return run_search(prepare(cfg), storage=storage)


def test_short_studies_on_three_tasks_finish_within_a_minute():
    start = time.perf_counter()
    for dataset, metric, good in [("iris", "accuracy", 0.8), ("breast_cancer", "accuracy", 0.9),
                                  ("diabetes", "rmse", 80)]:
        study, winner = search(dataset, n_trials=5)
        assert study.user_attrs["metric"] == metric
        done = [t for t in study.trials if t.state.is_finished()]
        assert len(done) >= 5
        assert winner is not None and winner.test_score is not None
        assert study.best_value >= good if metric == "accuracy" else study.best_value <= good
    assert time.perf_counter() - start < 60


def test_seed_fixes_the_studys_values(tmp_path):
    runs = [search("wine", n_trials=6, seed=3, storage=str(tmp_path / f"s{i}.journal"))[0]
            for i in range(2)]
    values = [[(t.state, t.value, t.params) for t in s.trials] for s in runs]
    assert values[0] == values[1]
    other = search("wine", n_trials=6, seed=4, storage=str(tmp_path / "s2.journal"))[0]
    assert [t.params for t in other.trials] != [t.params for t in runs[0].trials]


def test_running_again_continues_to_the_requested_total():
    search("iris", n_trials=3)
    study, _ = search("iris", n_trials=5)
    counted = [t for t in study.trials if t.state in (optuna.trial.TrialState.COMPLETE,
                                                      optuna.trial.TrialState.PRUNED)]
    assert len(counted) == 5
    again, _ = search("iris", n_trials=5)
    assert len(again.trials) == len(study.trials)  # a finished study runs nothing more


def test_a_resume_says_what_it_does_after_the_trials_and_a_finished_study_does_nothing(tmp_path):
    def run(n_trials):
        said = []
        cfg = make_config(dataset="iris", n_trials=n_trials, seed=0, space=FAST, pruner="none")
        study, final = run_search(prepare(cfg), on_stage=lambda study, text: said.append(text))
        return said, final, best_trial(study).number

    run(2)
    saved = tmp_path / "mlruns" / "models" / "iris.safetensors"
    mtime = saved.stat().st_mtime_ns
    said, final, leader = run(3)  # a best trial of the first search is trained again here
    assert final is not None
    replay = f"Training trial {leader} again, the best, which ran in another process"
    assert any(t.startswith(replay) for t in said) == (leader < 2)
    assert "Building the final model ..." in said
    assert saved.stat().st_mtime_ns != mtime
    mtime = saved.stat().st_mtime_ns
    said, final, _ = run(3)  # nothing to do: no replay, no final model, the saved one stands
    assert said == [] and final is None and saved.stat().st_mtime_ns == mtime


def test_storage_defaults_to_mlruns(tmp_path):
    search("iris", n_trials=2)
    assert (tmp_path / "mlruns" / "optuna.journal").stat().st_size > 0
    assert load_study("iris").study_name == "iris"


def test_diverging_trials_fail_with_a_reason_and_the_study_goes_on():
    space = {**FAST, "optimizer": "sgd", "lr": [1e5, 1e-2], "loss": "mse"}
    study, _ = search("diabetes", n_trials=4, space=space, max_failures=50, sampler="random",
                      builtin_starts=False)  # sampled trials, some at the diverging rate
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed and all("training diverged" in t.user_attrs["fail_reason"] for t in failed)
    assert all(t.params["lr"] == 1e5 for t in failed)
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials) >= 1
    assert all(t.value is None for t in failed)


def test_trial_records_seed_size_and_time():
    study, _ = search("iris", n_trials=2, seed=10)
    t = best_trial(study)
    assert t.user_attrs["seed"] == 10 + t.number
    assert t.user_attrs["n_params"] > 0 and t.user_attrs["train_seconds"] > 0


def test_bad_requests_fail_before_training():
    with pytest.raises(DataError, match="unknown dataset 'irs'. Did you mean 'iris'"):
        prepare(make_config({"dataset": "irs"}))
    with pytest.raises(ConfigError, match="space.loss: 'bce' does not fit a multiclass task"):
        prepare(make_config({"dataset": "iris", "space": {"loss": "bce"}}))
    with pytest.raises(ConfigError, match="metric 'rmse' does not score a multiclass task"):
        prepare(make_config({"dataset": "iris", "metric": "rmse"}))
    with pytest.raises(StudyError, match="no studies in the store yet"):
        load_study("iris")


@pytest.mark.slow
def test_digits_reaches_97_percent_in_10_cheap_trials():
    """The default space, each candidate held to 6 s of training (its folds together)."""
    study, final = search("digits", n_trials=10, space=None, seed=0,
                          training={"candidate_seconds": 6})
    assert study.best_value >= 0.97
    assert final.test_score >= 0.97


def test_resuming_with_a_changed_space_or_metric_is_refused():
    search("iris", n_trials=1)
    with pytest.raises(StudyError, match=r"study 'iris' exists with other settings \(space.epochs: "
                                         r"was 8.0, now 9.0\)"):
        search("iris", n_trials=2, space={**FAST, "epochs": 9})
    with pytest.raises(StudyError, match="metric: was 'accuracy', now 'log_loss'; direction: was "
                                         "'maximize', now 'minimize'"):
        search("iris", n_trials=2, metric="log_loss")
    study, _ = search("iris", n_trials=2)  # the original settings resume
    assert len(study.trials) == 2


def test_a_study_made_before_near_constant_columns_were_dropped_keeps_every_column():
    search("iris", n_trials=1)
    study = load_study("iris")
    for key in (IDENTITY_KEY, CONFIG_KEY):  # as an older autonn stored them: user attributes,
        values = _unpack(kept_attrs(study)[key])  # without this setting
        values.pop("training.near_constant_rows", None)
        values.get("training", {}).pop("near_constant_rows", None)
        keep_attr(study, key, None)
        study.set_user_attr(key, _pack(values))
    assert config_of(study).training.near_constant_rows == 0  # export rebuilds its columns
    with pytest.raises(StudyError, match=r"\(training.near_constant_rows: was 0, now 20\)"):
        search("iris", n_trials=2)
    study, _ = search("iris", n_trials=2, training={"near_constant_rows": 0})
    assert len(study.trials) == 2


def test_a_run_of_failures_stops_the_study_with_a_summary():
    space = {**FAST, "optimizer": "sgd", "lr": 1e5, "loss": "mse"}
    with pytest.raises(StudyError, match=r"study 'diabetes' stopped after 3 failed trials in a row "
                                         r"\(trial 0: TrialDiverged: training diverged"):
        search("diabetes", n_trials=4, space=space, max_failures=3)


@pytest.mark.parametrize("population", [1, 8])
def test_the_time_budget_stops_running_trials_and_records_them_as_stopped(population):
    # trials of 100000 epochs would run for hours: without a candidate's time cap the deadline
    # stops them, and a trial it cut is not a finished trial: FAIL with its reason, unranked,
    # outside --n-trials, no final model
    start = time.monotonic()
    cfg = make_config(dataset="digits", n_trials=1000, timeout=3, seed=0, refit=False,
                      ensemble=0, population=population, pruner="none",
                      training={"candidate_share": None},
                      space={"epochs": 100000, "n_layers": 1, "width": 16, "family": "mlp"})
    study, final = run_search(prepare(cfg), storage=optuna.storages.InMemoryStorage())
    seconds = time.monotonic() - start
    ran = [t for t in study.trials if t.state != optuna.trial.TrialState.WAITING]
    assert ran and final is None
    assert {t.state for t in ran} == {optuna.trial.TrialState.FAIL}
    assert all(state_of(t) == "STOPPED" for t in ran)
    # the first trial ran into the deadline; a population's later groups never began
    assert "fold 1 of 5 after" in ran[0].user_attrs["stopped"]
    assert remaining_trials(study, 1000) == 1000
    assert ranked_trials(study)[0]["state"] == "STOPPED"
    assert seconds < 3 + 20, seconds  # data set-up, not more training


def test_a_fold_whose_last_epoch_ends_after_the_deadline_has_finished(iris_data):
    from autonn.training.callbacks import Deadline
    from autonn.training.loop import History

    passed = Deadline(time.time() - 1, epochs=5)  # one fold left (none after it), time is up
    said = [passed.on_epoch_end(epoch, History()) for epoch in range(5)]
    assert said == ["deadline"] * 4 + [None]  # the fifth and last epoch finishes the fold
    assert Deadline(time.time() + 60, epochs=5).on_epoch_end(0, History()) is None
    assert Deadline(None).on_epoch_end(0, History()) is None


def test_a_trial_claimed_at_the_deadline_trains_no_fold():
    # a trial whose process claimed it just before the deadline must not train a fold after it
    # (each such fold used to train one epoch and the trial ended COMPLETE)
    from autonn.search.objective import make_objective
    from autonn.tracking.tracker import NullTracker

    cfg = make_config(dataset="iris", n_trials=1, seed=0, pruner="none",
                      space={"epochs": 3, "n_layers": 1, "width": 8, "family": "mlp"})
    problem = prepare(cfg)
    problem.deadline = time.time() - 0.01
    trial = optuna.create_study(storage=optuna.storages.InMemoryStorage(),
                                pruner=study_pruner(problem, optuna.pruners.NopPruner())).ask()
    with pytest.raises(TrialStopped, match="before it began"):
        make_objective(problem, NullTracker(), lambda w: pytest.fail("kept a cut trial"))(trial)
    assert "stopped" in trial.user_attrs
