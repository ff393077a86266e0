"""A budget that holds: --timeout bounds the whole command; no trial starts that cannot finish,
nor one its time affords too few epochs; a trial whose later folds cannot end in time ends with
the folds it finished; a refitting search keeps the refit's share, and the finishing steps that
would overrun (a trial's refit, a replay) are skipped; and the first built-in start is a cheap
default MLP."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time

import optuna
import pytest
import torch
from conftest import working_dir

from autonn.cli.models import _retrained
from autonn.cli.progress import describe_final
from autonn.config import make_config
from autonn.search.claims import _too_late
from autonn.search.deadline import (
    FINISH_SECONDS,
    PARTIAL,
    REFIT_SHARE,
    TRACKING_SECONDS,
    final_deadline,
    last_deadline,
    trials_deadline,
)
from autonn.search.exporting import export_model
from autonn.search.final import FinalModel, _as_trained, _networks, finish, replay
from autonn.search.handoff import Best
from autonn.search.lifecycle import FOLD_EPOCHS, run_trials
from autonn.search.problem import prepare
from autonn.search.racing import study_pruner
from autonn.search.ranking import leading_whole_trial, state_of
from autonn.search.run import _save, run_search
from autonn.search.sizing import (
    AFFORDED,
    MIN_EPOCHS,
    afford,
    sized,
    trained_params,
    unaffordable,
)
from autonn.search.storage import open_storage
from autonn.search.warmstart import BUILTIN
from autonn.space import suggest
from autonn.tracking.tracker import NullTracker
from autonn.training.callbacks import Deadline, TimeCap
from autonn.training.loop import History, fit_each, train_params
from autonn.training.timing import epoch_seconds


def test_trials_end_early_enough_for_the_finishing_steps():
    assert trials_deadline(100.0, None, True) is None
    assert trials_deadline(100.0, 60, False) == pytest.approx(100 + 60 - FINISH_SECONDS - 1.8)
    tracked = trials_deadline(100.0, 60, True)
    assert tracked == pytest.approx(100 + 60 - FINISH_SECONDS - 1.8 - TRACKING_SECONDS)
    assert trials_deadline(100.0, 4, True) == 102.0  # a tiny budget keeps half for trials
    refitting = trials_deadline(100.0, 60, False, refit=True)
    assert refitting == pytest.approx(100 + 60 - FINISH_SECONDS - 1.8 - REFIT_SHARE * 60)


@pytest.mark.parametrize(("cv_folds", "kept"), [(0, REFIT_SHARE), (3, 0.0)])
def test_a_search_that_refits_keeps_the_refits_share_of_its_budget(cv_folds, kept):
    storage = optuna.storages.InMemoryStorage()
    problem = prepare(make_config(dataset="iris", study="share", n_trials=1, seed=0, timeout=40,
                                  training={"cv_folds": cv_folds},
                                  space={"epochs": 2, "n_layers": 1, "width": 4}))
    started = time.time()
    study, final = run_search(problem, storage=storage, started=started)
    assert final.refit == (cv_folds == 0)
    assert last_deadline(study) - started == pytest.approx(
        40 - FINISH_SECONDS - 0.03 * 40 - kept * 40)


def test_a_fold_whose_later_folds_cannot_end_in_time_is_the_trials_last_and_goes_on():
    hopeless = Deadline(time.time() + 5, epochs=100, later=1000)  # 1000 epochs still to come
    steady = Deadline(time.time() + 5, epochs=100, later=0)
    said, judged = [], []
    for epoch in range(4):
        time.sleep(0.05)  # 1000 x 0.05 s is far past the deadline 5 s away
        said.append((hopeless.on_epoch_end(epoch, History()), steady.on_epoch_end(epoch, History())))
        judged.append(hopeless.last_fold)
    # the fold itself goes on (it may finish and count); the first epoch pays one-off costs, so
    # the rate is measured on the epochs after it
    assert said == [(None, None)] * 4 and judged == [False, False, True, True]
    assert not steady.last_fold


def test_a_trial_the_deadline_leaves_with_two_folds_is_ranked_on_them_and_ships_only_alone():
    """Time runs out after a candidate's second fold: it completes on those two (marked, its
    value their mean), replays to them, and the final model ships it only when no trial
    finished every fold."""
    cfg = make_config(dataset="iris", n_trials=2, seed=0, pruner="none",
                      space={"epochs": 6, "n_layers": 1, "width": 8, "family": "mlp"})
    problem = prepare(cfg)
    study = optuna.create_study(direction=problem.metric.direction,
                                pruner=study_pruner(problem, optuna.pruners.NopPruner()))
    kept, folds_trained = [], []

    def engine(trainees, data, metric, **options):
        fit_each(trainees, data, metric, **options)
        folds_trained.append(data)
        if len(folds_trained) == 2:
            problem.deadline = time.time() - 1  # the budget ends between folds 2 and 3

    for deadline in (time.time() + 3600, None):  # the first candidate is cut, the second not
        problem.deadline = deadline
        trial = study.ask()
        outcome = run_trials(problem, [trial], [suggest(trial, problem.config.space)], NullTracker(),
                             kept.append, engine)[0]
        study.tell(trial, outcome)
    partial, whole = study.trials
    assert partial.state.name == whole.state.name == "COMPLETE"
    assert partial.user_attrs[PARTIAL] == 2 and PARTIAL not in whole.user_attrs
    assert (state_of(partial), state_of(whole)) == ("PARTIAL", "COMPLETE")  # as autonn shows them
    assert len(partial.user_attrs["fold_values"]) == 2 and len(whole.user_attrs["fold_values"]) == 5
    assert partial.value == pytest.approx(sum(partial.user_attrs["fold_values"]) / 2)
    assert kept[0].predictions is None and len(kept[0].fits) == 2
    replayed = replay(problem, partial)
    assert [f.history.best_value for f in replayed.fits] == partial.user_attrs["fold_values"]
    alone = finish(problem, kept[:1], ensemble=5)
    assert alone.trials == {0: 1} and alone.folds == 2 and len(alone.members) == 2
    assert alone.test_score is not None
    assert finish(problem, kept, ensemble=5).trials == {1: 1}  # the finished one, whatever scored
    assert alone.partial and not finish(problem, kept, ensemble=5).partial
    # what a final model replays and an export trains by default: the whole one
    assert leading_whole_trial(study).number == 1
    best = Best(problem.metric.direction, 1)
    for winner in kept:
        best.keep(winner)
    assert [w.trial_number for w in best.winners] == [1]


def test_a_fold_stops_before_an_epoch_that_would_end_after_its_time_cap():
    now = [100.0]
    cap = TimeCap(3.5, clock=lambda: now[0])
    said = []
    for epoch in range(8):
        now[0] += 5.0 if epoch == 0 else 1.0  # a slow first epoch (or a wait) is not counted
        said.append(cap.on_epoch_end(epoch, History()))
        if said[-1]:
            break
    # the clock starts as the first epoch ends: after 2 s (two epochs of 1 s) a third would end
    # at 3 s, in time; after 3 s one more would end at 4 s, past the 3.5 s cap
    assert said == [None, None, None, "time_cap"]


LONG = {"epochs": 500, "n_layers": 1, "width": 32, "embedding": "none", "batch_size": 32,
        "lr": 1e-3, "optimizer": "adam"}  # 500 epochs on 5 folds of digits: minutes


def test_a_candidate_is_sized_to_its_share_of_the_time_left_and_replays_to_the_same_networks():
    config = make_config(dataset="digits", n_trials=2, seed=0, timeout=10, pruner="none",
                         device="cpu",  # a GPU affords all 500 epochs in its share
                         builtin_starts=False, training={"patience": 500}, space=LONG)
    problem = prepare(config)
    study, _ = run_search(problem, storage=optuna.storages.InMemoryStorage())
    first = study.trials[0]
    assert first.state.name == "COMPLETE", first.user_attrs
    # its share of 10 s afforded far fewer than 500 epochs: sized before it trained
    assert first.user_attrs[AFFORDED] < 500
    assert trained_params(first) == {**first.params, "epochs": first.user_attrs[AFFORDED]}
    replayed = replay(problem, first)
    assert [f.history.best_value for f in replayed.fits] == first.user_attrs["fold_values"]


def test_a_prediction_that_was_short_leaves_the_time_cap_to_stop_each_fold(monkeypatch):
    import autonn.training.timing as timing

    monkeypatch.setattr(timing, "epoch_seconds", lambda *args: 1e-9)  # 500 epochs "fit"
    config = make_config(dataset="digits", n_trials=1, seed=0, timeout=10, pruner="none",
                         builtin_starts=False, training={"patience": 500}, space=LONG)
    problem = prepare(config)
    study, _ = run_search(problem, storage=optuna.storages.InMemoryStorage())
    first = study.trials[0]
    assert first.state.name == "COMPLETE" and AFFORDED not in first.user_attrs
    epochs = first.user_attrs[FOLD_EPOCHS]  # its time cap stopped it far short of 500 epochs
    assert len(epochs) == len(problem.folds) and max(epochs) < 500
    replayed = replay(problem, first)
    assert [len(f.history.val_metric) for f in replayed.fits] == epochs
    assert [f.history.best_value for f in replayed.fits] == first.user_attrs["fold_values"]


def test_without_a_budget_a_candidate_keeps_its_epochs_and_stops_at_its_fixed_allowance():
    config = make_config(dataset="digits", n_trials=1, seed=0, pruner="none",
                         builtin_starts=False, training={"patience": 500, "candidate_seconds": 2},
                         space=LONG)
    problem = prepare(config)
    assert problem.deadline is None
    started = time.time()
    study, _ = run_search(problem, storage=optuna.storages.InMemoryStorage())
    assert time.time() - started < 60
    trial = study.trials[0]
    assert trial.state.name == "COMPLETE" and AFFORDED not in trial.user_attrs  # not sized
    epochs = trial.user_attrs[FOLD_EPOCHS]
    assert len(epochs) == len(problem.folds) and max(epochs) < 500
    replayed = replay(problem, trial)
    assert [len(f.history.val_metric) for f in replayed.fits] == epochs


def test_a_candidate_trains_the_whole_epochs_its_time_affords(monkeypatch):
    import autonn.training.timing as timing

    problem = prepare(make_config(dataset="digits", n_trials=1, seed=0, space=LONG))
    trial = optuna.create_study().ask()
    params = suggest(trial, problem.config.space)
    assert afford(problem, trial, params, 1.0) is params  # no --timeout: as sampled
    problem.deadline = time.time() + 600
    assert afford(problem, trial, params, None) is params  # no allowance: as sampled
    monkeypatch.setattr(timing, "epoch_seconds", lambda *args: 0.01)
    assert afford(problem, trial, params, 1e3) is params and AFFORDED not in trial.user_attrs
    sized = afford(problem, trial, params, 0.2)  # 0.2 s / (0.01 s x MARGIN 1.1): 18 epochs
    assert sized == {**params, "epochs": 18} and trial.user_attrs[AFFORDED] == 18
    _, _, history = train_params(sized, problem.folds[0], problem.metric, seed=0)
    assert len(history.val_metric) == 18  # patience 500: every afforded epoch, none more


def test_a_candidate_afforded_too_few_epochs_is_pruned_untrained_once_a_trial_finished(
        monkeypatch):
    import autonn.training.timing as timing

    monkeypatch.setattr(timing, "epoch_seconds", lambda *args: 10.0)  # 29 s a fold buys 2 epochs
    problem = prepare(make_config(dataset="iris", n_trials=2, seed=0, timeout=600, pruner="none",
                                  builtin_starts=False, device="cpu",  # CUDA: populations
                                  space={"epochs": 64, "n_layers": 1, "width": 8}))
    study, final = run_search(problem, storage=optuna.storages.InMemoryStorage())
    first, second = study.trials
    # the first has no finished trial to fall back on: it trains what its time affords
    assert first.state.name == "COMPLETE" and first.user_attrs[AFFORDED] == 2
    assert final.trial_number == first.number
    assert second.state.name == "PRUNED" and "epochs_run" not in second.user_attrs
    assert second.user_attrs["pruned"] == ("not trained: the time left affords 2 of its 64 "
                                           f"epochs, fewer than {MIN_EPOCHS}")
    trial = study.ask()
    assert unaffordable(trial, {"epochs": 64}, {"epochs": MIN_EPOCHS}) is None
    assert unaffordable(trial, {"epochs": 4}, {"epochs": 4}) is None  # all it sampled
    assert unaffordable(trial, {"epochs": 5}, {"epochs": 3}) is None  # most of a short one
    assert unaffordable(trial, {"epochs": 5}, {"epochs": 2}) is not None
    assert unaffordable(trial, {"epochs": 64}, {"epochs": MIN_EPOCHS - 1}) is not None


@pytest.mark.parametrize(("timeout", "trains"), [(100, True), (20, False)])
def test_late_in_the_budget_a_candidate_its_share_cannot_train_takes_the_rest(
        monkeypatch, timeout, trains):
    import autonn.training.timing as timing

    monkeypatch.setattr(timing, "epoch_seconds", lambda *args: 0.1)  # 0.11 s with the margin
    problem = prepare(make_config(dataset="iris", n_trials=2, seed=0, timeout=timeout,
                                  training={"cv_folds": 0}, space={"epochs": 64, "width": 8}))
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(value=0.9))  # a finished trial to ship
    trial = study.ask()
    params = suggest(trial, problem.config.space)
    problem.deadline = time.time() + 3  # its share, 0.75 s, buys 6 epochs: fewer than 8
    sizing = sized(problem, trial, params, 0.25 * 3, NullTracker())
    if trains:  # 3 s is in the last tenth of a 100 s budget: it takes 0.8 of them
        assert sizing[0] == {**params, "epochs": trial.user_attrs[AFFORDED]}
        assert 18 <= trial.user_attrs[AFFORDED] <= 21 and sizing[1] == pytest.approx(2.4, abs=0.2)
    else:  # of a 20 s budget 3 s is more than the last tenth: the share stands
        assert isinstance(sizing, optuna.TrialPruned) and trial.user_attrs[AFFORDED] == 6


def test_an_epoch_is_timed_without_touching_the_random_state():
    problem = prepare(make_config(dataset="iris", n_trials=1, seed=0))
    params = suggest(optuna.create_study().ask(), problem.config.space)
    torch.manual_seed(7)
    before = torch.random.get_rng_state()
    assert 0 < epoch_seconds(params, problem.folds[0], problem.metric, grad_clip=1.0) < 30
    assert torch.equal(torch.random.get_rng_state(), before)


def test_a_ctrl_c_while_a_candidate_is_timed_fails_its_trial_and_goes_on_up(monkeypatch):
    import autonn.training.timing as timing

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(timing, "epoch_seconds", interrupted)
    storage = optuna.storages.InMemoryStorage()
    problem = prepare(make_config(dataset="iris", study="ctrl-c", n_trials=1, seed=0,
                                  timeout=60, space={"epochs": 3}))
    with pytest.raises(KeyboardInterrupt):
        run_search(problem, storage=storage)
    trial = optuna.load_study(study_name="ctrl-c", storage=storage).trials[0]
    assert trial.state.name == "FAIL" and trial.user_attrs["fail_reason"] == "KeyboardInterrupt"


def test_no_trial_starts_once_the_time_left_is_less_than_the_quickest_finished_trial():
    study = optuna.create_study()
    since = time.time() - 1
    study.optimize(lambda trial: time.sleep(0.3) or 1.0, n_trials=1)
    trials = study.get_trials(deepcopy=False)
    assert _too_late(time.time() + 0.1, trials, since)
    assert not _too_late(time.time() + 10, trials, since)
    assert not _too_late(time.time() + 0.1, trials, time.time() + 1)  # none since: no estimate
    assert not _too_late(None, trials, since)


def test_a_refit_that_cannot_end_by_the_budget_is_skipped():
    cfg = make_config(dataset="iris", n_trials=1, seed=0, training={"cv_folds": 0},
                      space={"epochs": 4, "n_layers": 1, "width": 8})
    problem = prepare(cfg)
    study, _ = run_search(problem, storage=optuna.storages.InMemoryStorage())
    winner = replay(problem, study.best_trial)
    late = finish(problem, [winner], ensemble=0, refit="auto", until=time.time())
    assert late.refit_skipped == [winner.trial_number] and not late.refit
    assert late.test_score is not None
    in_time = finish(problem, [winner], ensemble=0, refit="auto", until=time.time() + 600)
    assert in_time.refit and not in_time.refit_skipped


def test_a_refit_short_of_time_refits_the_trials_it_has_time_for():
    cfg = make_config(dataset="iris", n_trials=2, seed=0, training={"cv_folds": 0},
                      builtin_starts=False, space={"epochs": 4, "n_layers": 1, "width": 8})
    problem = prepare(cfg)
    study, _ = run_search(problem, storage=optuna.storages.InMemoryStorage())
    slow, quick = (replay(problem, t) for t in study.trials)
    slow.fits[0].history.pass_seconds = 1e6  # as if its epochs had taken hours: no time to refit
    networks, skipped = _networks(problem, [(slow, 1), (quick, 1)], True, time.time() + 600)
    assert skipped == [slow.trial_number]  # the first is skipped, the cheaper one after it not
    x = torch.as_tensor(problem.splits.X_test, dtype=torch.float32)
    as_trained = [module for _, _, module, _ in _as_trained([(slow, 1), (quick, 1)])]
    with torch.inference_mode():
        assert torch.equal(networks[0][2](x), as_trained[0](x))  # shipped as it trained
        assert not torch.equal(networks[1][2](x), as_trained[1](x))  # trained again, on more rows


def test_an_export_names_the_trials_the_budget_left_unrefitted(tmp_path):
    storage = str(tmp_path / "short.journal")
    with working_dir(tmp_path):
        problem = prepare(make_config(dataset="iris", study="short", n_trials=1, seed=0,
                                      training={"cv_folds": 0}, builtin_starts=False,
                                      space={"epochs": 4, "n_layers": 1, "width": 8}))
        study, searched = run_search(problem, storage=storage)
        assert searched.refit and searched.refit_skipped == []  # no budget: refitted
        winner = replay(problem, study.trials[0])
        final = finish(problem, [winner], ensemble=0, refit=True, until=time.time())  # no time
        _save(study, problem, final, storage)
        done = export_model("onnx", "short.onnx", study="short", storage=storage)
    assert not done.retrained and done.not_retrained == final.refit_skipped == [winner.trial_number]
    assert _retrained(done) == ""  # what `autonn export` prints after "Exported trial 0"
    partly = dataclasses.replace(done, retrained=True)  # another trial of it was refitted
    assert _retrained(partly) == (" (retrained on train + validation, but for trial "
                                  f"{winner.trial_number})")
    several = dataclasses.replace(done, retrained=True, not_retrained=[4, 7])
    assert _retrained(several) == " (retrained on train + validation, but for trials 4, 7)"


def test_the_final_model_is_due_before_scoring_saving_and_tracking():
    assert final_deadline(None, True) is None
    assert final_deadline(100.0, False) == 100 - FINISH_SECONDS
    assert final_deadline(100.0, True) == 100 - FINISH_SECONDS - TRACKING_SECONDS


def test_the_search_says_which_trials_ship_unrefitted():
    final = FinalModel(None, [], {3: 2, 5: 1}, 3, 0.9, {}, 0.9, refit=True, refit_skipped=[5])
    assert describe_final(final) == ("ensemble of trials 3 x2, 5 x1, refitted on every non-test "
                                     "row but for 5 (as searched: the budget had no time "
                                     "left to refit)")


def test_the_first_built_in_start_is_a_cheap_default_mlp():
    first = BUILTIN[0]
    assert (first["n_layers"], first["width_0"], first["activation"], first["optimizer"]) == (
        1, 100, "relu", "adam")


@pytest.mark.slow
def test_the_whole_command_holds_its_budget_and_ships_only_finished_trials(tmp_path):
    budget = 20
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "autonn", "search", "--dataset", "digits",
                           "--study", "budget", "--timeout", str(budget), "--quiet"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    # the bound, budget x 1.05 + 5 s, plus the interpreter's own start
    assert wall <= budget * 1.05 + 5 + 2, wall
    study = optuna.load_study(study_name="budget", storage=open_storage(root=tmp_path / "mlruns"))
    ran = [t for t in study.trials if t.state != optuna.trial.TrialState.WAITING]
    assert all(t.datetime_start.timestamp() < last_deadline(study) for t in ran)
    assert any(t.state == optuna.trial.TrialState.COMPLETE for t in ran)  # the cheap start
    assert (tmp_path / "mlruns" / "models" / "budget.safetensors").is_file()


def test_a_search_joining_a_running_one_keeps_the_earlier_deadline(tmp_path):
    from autonn.search.deadline import fix_deadline, release_deadline

    storage = str(tmp_path / "s.journal")
    study = optuna.create_study(study_name="joined", storage=open_storage(storage))
    first = fix_deadline(study, time.time() + 100, storage)  # this process runs a search
    assert fix_deadline(study, time.time() + 50, storage) < first  # its own is earlier
    assert fix_deadline(study, time.time() + 500, storage) == first
    assert fix_deadline(study, None, storage) == first  # no budget of its own: it joins
    release_deadline(study, first)
    assert fix_deadline(study, None, storage) is None  # that search ended
    assert last_deadline(study) == first


def test_a_leader_that_cannot_be_trained_again_in_time_ships_no_new_model():
    from autonn.search.run import _Kept
    from autonn.tracking.tracker import NullTracker

    cfg = make_config(dataset="iris", n_trials=1, seed=0, space={"epochs": 2, "n_layers": 1,
                                                                 "width": 8})
    problem = prepare(cfg)
    study, _ = run_search(problem, storage=optuna.storages.InMemoryStorage())
    said = []
    kept = _Kept(problem, NullTracker(), lambda study, text: said.append(text))
    assert kept.candidates(study, until=time.time() - 1) == []  # it ran elsewhere, no time
    assert said and "no new final model" in said[0]
    assert [w.trial_number for w in kept.candidates(study, until=None)] == [0]  # replayed


def test_one_trial_whose_run_cannot_open_fails_alone(monkeypatch):
    from autonn.errors import TrackingError
    from autonn.search.lifecycle import run_trials
    from autonn.space import suggest
    from autonn.tracking.tracker import NullTracker
    from autonn.training.loop import fit_each

    class Refusing(NullTracker):
        def start_trial(self, number, params, tags):
            if number == 1:
                raise TrackingError("the tracking store went away")
            return None

    cfg = make_config(dataset="iris", n_trials=2, seed=0, pruner="none",
                      space={"epochs": 2, "n_layers": 1, "width": 8})
    problem = prepare(cfg)
    study = optuna.create_study(direction="maximize",
                                pruner=study_pruner(problem, optuna.pruners.NopPruner()))
    trials = [study.ask(), study.ask()]
    params = [suggest(t, problem.config.space) for t in trials]
    outcomes = run_trials(problem, trials, params, Refusing(), lambda w: None, fit_each)
    assert isinstance(outcomes[0], float)
    assert isinstance(outcomes[1], TrackingError)
    assert "went away" in trials[1].user_attrs["fail_reason"]


@pytest.mark.parametrize(("value", "said"), [
    ("0", "give a positive number of seconds, e.g. --timeout 300"),
    ("inf", "give a positive number of seconds"),
    ("60s", "'60s' is not a number of seconds: give a plain number, e.g. --timeout 300"),
])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_refused(value, said):
    from click.testing import CliRunner

    from autonn.cli import main

    result = CliRunner().invoke(main, ["search", "--dataset", "iris", "--timeout", value])
    assert result.exit_code == 2 and "--timeout" in result.output and said in result.output


@pytest.mark.slow
def test_a_search_given_only_a_timeout_is_ended_by_it_and_a_rerun_searches_on(tmp_path):
    command = [sys.executable, "-m", "autonn", "search", "--dataset", "iris", "--study", "timed",
               "--timeout", "12", "--no-tracking"]
    first = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "Searching for 12 s" in first.stderr and "nothing to do" not in first.stdout
    before = _ran(tmp_path)
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "nothing to do" not in again.stdout, again.stdout
    assert _ran(tmp_path) > before  # the count did not end it: the budget did


def _ran(root) -> int:
    """The trials of study 'timed' that ran (a queued start that has not is no search)."""
    study = optuna.load_study(study_name="timed", storage=open_storage(root=root / "mlruns"))
    return sum(t.state != optuna.trial.TrialState.WAITING for t in study.trials)
