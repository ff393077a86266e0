"""The final model: cross-validated trials, greedy ensembles, refits, and what ships and scores."""

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from conftest import working_dir

from autonn import load, make_config
from autonn.cli import main
from autonn.data.features import identity_encoder
from autonn.data.split import Splits
from autonn.export.bundle import Bundle, Member
from autonn.export.formats import FORMATS
from autonn.export.pipeline import EnsembleModule, ScoringModule
from autonn.families.builder import build_model
from autonn.metrics import metric_for
from autonn.search.ensemble import clearly_worse, ensemble_selection, row_loss, scorer
from autonn.search.exporting import export_model
from autonn.search.final import finish, replay, score_test_split
from autonn.search.problem import (
    CV_FOLDS,
    CV_MAX_CELLS,
    CV_MAX_ROWS,
    CV_ROWS,
    make_problem,
    n_folds,
    prepare,
)
from autonn.search.run import run_search
from autonn.search.storage import load_study
from autonn.training.weights import state_tensors

FAST = {"epochs": 4, "n_layers": 1, "width": 16, "embedding": "none"}


def _select(predictions, y, metric_name, size, guard=True):
    classifier = metric_name != "rmse"
    metric = metric_for(metric_name, "multiclass" if classifier else "regression")
    return ensemble_selection(predictions, scorer(metric, y, classifier), metric.direction, size,
                              row_loss(y, classifier) if guard else None)


def test_ensemble_selection_starts_from_the_best_mean_and_adds_what_it_lacks():
    y = torch.tensor([0, 0, 1, 1])
    a = torch.tensor([[.9, .1], [.9, .1], [.6, .4], [.2, .8]])  # wrong on row 2
    b = torch.tensor([[.3, .7], [.9, .1], [.1, .9], [.1, .9]])  # wrong on row 0
    c = torch.tensor([[.6, .4], [.6, .4], [.6, .4], [.6, .4]])  # always class 0
    counts, (accuracy, _) = _select([a, b, c], y, "accuracy", size=2)
    assert counts[0] >= 1 and counts[1] >= 1 and counts[2] == 0 and accuracy == 1.0
    assert _select([a, b, c], y, "accuracy", size=0) == ([1, 0, 0], scorer(
        metric_for("accuracy", "multiclass"), y, True)(a))  # size 0: the best alone


def test_equal_accuracy_is_decided_by_log_loss():
    y = torch.tensor([0, 1])
    sure = torch.tensor([[.99, .01], [.45, .55]])  # both right, one barely
    other = torch.tensor([[.7, .3], [.1, .9]])  # both right too
    counts, (accuracy, loss) = _select([sure, other], y, "accuracy", size=2)
    assert accuracy == 1.0 and counts[1] >= 1  # same accuracy, lower log loss together
    assert loss < _select([sure], y, "accuracy", size=2)[1][1]


def test_a_clearly_worse_candidate_stays_out_of_the_start_and_one_round_matches_brute_force():
    rmse = metric_for("rmse", "regression")
    g = torch.Generator().manual_seed(0)
    y = torch.randn(200, 1, generator=g)
    preds = [y + torch.randn(200, 1, generator=g) * s for s in (0.3, 0.35, 5.0)]
    counts, (score, _) = _select(preds, y, "rmse", size=3)
    assert counts[0] >= 1 and counts[1] >= 1 and counts[2] == 0  # the paired test keeps it out
    assert score < rmse.fn(y, preds[0])  # the mean beats the best alone
    assert clearly_worse(row_loss(y, False), preds[0], preds[2])
    assert not clearly_worse(row_loss(y, False), preds[0], preds[1])
    unguarded, _ = _select(preds, y, "rmse", size=3, guard=False)
    assert min(unguarded) >= 1  # without the test the 3 best start the mean, the weak one too
    counts, (score, _) = _select(preds, y, "rmse", size=1)  # no mean to start; one addition
    options = [rmse.fn(y, preds[0])] + [rmse.fn(y, (preds[0] + p) / 2) for p in preds]
    assert score == pytest.approx(min(options))


def test_a_failed_classifier_stays_out_of_a_small_study_ensemble():
    y = torch.arange(60) % 3
    right = torch.nn.functional.one_hot(y, 3).float() * 0.8 + 0.2 / 3
    also = right.roll(1, dims=1) * 0.03 + right * 0.97  # nearly as sure, still right
    chance = torch.full((60, 3), 1 / 3)  # a trial that learned nothing
    counts, _ = _select([right, also, chance], y, "accuracy", size=5)
    assert counts[2] == 0 and counts[0] >= 1 and counts[1] >= 1


def test_small_tables_are_cross_validated_and_large_ones_split_once():
    iris = prepare(make_config(dataset="iris"))  # 120 training + validation rows
    assert len(iris.folds) == CV_FOLDS and 120 < CV_ROWS
    rows = np.concatenate(iris.fold_rows)
    assert sorted(rows) == list(range(len(iris.selection_y))) == list(range(120))
    for fold, val_rows in zip(iris.folds, iris.fold_rows):  # each fold validates its own rows
        assert torch.equal(fold.y_val.cpu(), iris.selection_y[torch.as_tensor(val_rows)])
    digits = prepare(make_config(dataset="digits", training={"cv_folds": 0}))
    assert len(digits.folds) == 1 and len(digits.selection_y) == len(digits.data.y_val)
    def table(rows, features):  # rows - 1 training rows and one validation row
        return Splits(*(np.zeros((n, features)) if i % 2 == 0 else np.zeros(n)
                        for i, n in enumerate((rows - 1, rows - 1, 1, 1, 10, 10))))

    assert n_folds(make_config(), table(CV_ROWS - 1, 5000)) == CV_FOLDS  # few rows: always
    assert n_folds(make_config(), table(CV_MAX_ROWS - 1, 8)) == CV_FOLDS  # cheap: still
    wide = CV_MAX_CELLS // 3000 + 1
    assert n_folds(make_config(), table(3000, wide)) == 1  # 3000 x wide > CV_MAX_CELLS values
    assert n_folds(make_config(), table(CV_MAX_ROWS, 2)) == 1
    big = table(CV_MAX_ROWS, 2)
    assert n_folds(make_config(training={"cv_folds": 3}), big) == 3
    assert n_folds(make_config(training={"cv_folds": 0}), iris.splits) == 1


def test_a_cross_validated_trial_scores_the_mean_of_its_folds():
    study, final = run_search(prepare(make_config(dataset="iris", n_trials=3, pruner="none",
                                                  space=FAST)))
    for trial in study.trials:
        folds = trial.user_attrs["fold_values"]
        assert len(folds) == CV_FOLDS and trial.value == pytest.approx(np.mean(folds))
    # the fold networks ship averaged (a bag over every non-test row), not refitted
    assert not final.refit and final.folds == CV_FOLDS and final.test_score is not None
    assert len(final.members) == CV_FOLDS * len(final.trials)


def test_only_the_first_fold_is_pruned_and_a_pruned_trial_trains_no_more_folds():
    config = make_config(dataset="wine", n_trials=12, seed=3, pruner="halving",
                         space={**FAST, "epochs": 12, "lr": {"low": 1e-5, "high": 1e-1, "log": True}},
                         builtin_starts=False)
    study, _ = run_search(prepare(config))
    pruned = [t for t in study.trials if t.user_attrs.get("pruned", "").startswith("pruned at")]
    assert pruned, "the halving pruner should prune some of 12 trials of lr 1e-5 .. 1e-1"
    for trial in pruned:
        assert "fold_values" not in trial.user_attrs  # its one fold did not finish: no scores


def _winners(problem, study, n):
    """The n best completed trials replayed, as the search keeps them."""
    ranked = sorted((t for t in study.trials if t.state.name == "COMPLETE"),
                    key=lambda t: (-t.value, t.number))
    return [replay(problem, t) for t in ranked[:n]]


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    root = tmp_path_factory.mktemp("wine")
    with working_dir(root):
        config = make_config(dataset="wine", study="wine", n_trials=6, seed=0, pruner="none",
                             space={**FAST, "epochs": 6}, builtin_starts=False)
        problem = prepare(config)
        study, final = run_search(problem, storage=str(root / "wine.journal"))
        return root, problem, study, final


def test_the_final_model_is_refitted_on_every_non_test_row(wine):
    _, problem, study, final = wine
    winner = _winners(problem, study, 1)[0]
    refitted = finish(problem, [winner], ensemble=0, refit=True)
    as_searched = finish(problem, [winner], ensemble=0, refit=False)
    assert refitted.refit and not as_searched.refit
    assert len(refitted.members) == 1  # one network trained on all non-test rows
    assert len(as_searched.members) == len(problem.folds)  # the fold networks, weighted alike
    assert {m.weight for m in as_searched.members} == {1 / len(problem.folds)}
    refit_rows = len(problem.refit_data().y_train)
    assert refit_rows == len(problem.splits.y_train) + len(problem.splits.y_val) == 142


def test_the_ensemble_starts_from_the_n_best_and_ships_what_it_scored(wine):
    _, problem, study, _ = wine
    winners = _winners(problem, study, 4)
    final = finish(problem, winners, ensemble=3, refit=False)
    loss = row_loss(problem.selection_y, classifier=True)
    start = [winners[0]] + [w for w in winners[1:] if not clearly_worse(
        loss, winners[0].predictions, w.predictions)][:2]
    assert {w.trial_number for w in start} <= set(final.trials)
    by_number = {w.trial_number: w for w in winners}
    mean = sum(n * by_number[t].predictions for t, n in final.trials.items()) / sum(
        final.trials.values())
    assert final.selection_score == pytest.approx(
        float(problem.metric.fn(problem.selection_y, mean)))
    assert final.members[0].weight == pytest.approx(
        final.trials[winners[0].trial_number] / len(winners[0].fits))
    alone = finish(problem, winners, ensemble=0, refit=False)
    assert list(alone.trials) == [winners[0].trial_number]


def test_the_test_split_scores_the_shipped_module(wine):
    _, problem, _, final = wine
    x = torch.as_tensor(problem.splits.X_test, dtype=torch.float32)
    with torch.inference_mode():
        expected = (final.module(x).argmax(1).numpy() == problem.splits.y_test).mean()
    assert final.test_score == pytest.approx(expected) == score_test_split(problem, final.module)


def test_export_writes_the_model_the_search_ended_with(wine):
    root, problem, study, final = wine
    rows = pd.DataFrame(problem.splits.X_test, columns=list(problem.dataset.feature_names))
    with torch.inference_mode():
        expected = final.module(torch.as_tensor(problem.splits.X_test)).numpy()
    with working_dir(root):
        done = export_model("onnx", "wine.onnx", study="wine", storage=str(root / "wine.journal"))
    assert done.test_score == pytest.approx(final.test_score)
    assert done.trial == final.trial_number and done.retrained == final.refit
    np.testing.assert_allclose(load(root / "wine.onnx").predict_proba(rows), expected, atol=1e-5)


def _ensemble_bundle(task="multiclass"):
    """Two networks of different architectures, averaged 3:1, as a bundle."""
    torch.manual_seed(0)
    base = {"n_layers": 1, "activation": "relu", "init": "he_uniform", "loss": "cross_entropy"}
    params = [{**base, "width": 6}, {**base, "family": "resmlp", "n_layers": 2, "width": 5,
                                     "embedding": "plr", "embedding_dim": 3,
                                     "embedding_scale": 0.5, "norm": "layer"}]
    modules = [ScoringModule(build_model(p, 4, 3), "softmax", 4).eval() for p in params]
    module = EnsembleModule(modules, [3.0, 1.0]).eval()
    members = [Member(p, 3, "softmax", w) for p, w in zip(params, (3.0, 1.0))]
    bundle = Bundle(task, params[0], 3, "softmax", identity_encoder(["a", "b", "c", "d"]),
                    ["x", "y", "z"], "label", tensors=state_tensors(module), members=members)
    return bundle, module


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_an_ensemble_round_trips_through_every_format(fmt, tmp_path):
    bundle, module = _ensemble_bundle()
    path = tmp_path / f"ensemble{FORMATS[fmt].suffix}"
    FORMATS[fmt].write(bundle, path)
    rows = pd.DataFrame(np.random.default_rng(0).normal(size=(9, 4)), columns=list("abcd"))
    with torch.inference_mode():
        expected = module(torch.as_tensor(rows.to_numpy(np.float32))).numpy()
    model = load(path, trust_model=True)
    np.testing.assert_allclose(model.predict_proba(rows), expected, atol=1e-5)
    assert len(model.bundle.members) == 2 and model.bundle.members[0].weight == 3.0


def test_an_ensemble_manifest_is_refused_by_a_reader_of_one_network_only():
    bundle, _ = _ensemble_bundle()
    assert bundle.manifest()["format_version"] == 2 and "members" in bundle.manifest()
    assert Bundle.from_manifest(bundle.manifest_json(), bundle.tensors).members == bundle.members


def test_the_estimator_predicts_with_the_final_model():
    from sklearn.datasets import load_wine

    from autonn import AutoNNClassifier

    X, y = load_wine(return_X_y=True)
    clf = AutoNNClassifier(n_trials=3, max_epochs=5, random_state=0).fit(X, y)
    with torch.inference_mode():
        expected = clf.model_(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(clf.predict_proba(X), expected)
    assert clf.model_.training is False


@pytest.mark.parametrize("flags, says", [
    ([], "its 5 fold networks averaged"),
    (["--refit"], "refitted on every non-test row"),
    (["--cv-folds", "0"], "refitted on every non-test row"),  # one split: refitted by default
    (["--no-refit", "--ensemble", "0", "--cv-folds", "0"], "as searched"),
])
def test_the_command_line_sets_refit_ensembles_and_folds(flags, says):
    result = CliRunner().invoke(main, ["search", "--dataset", "iris", "--n-trials", "2",
                                       "--epochs", "3", "--no-tracking", *flags])
    assert result.exit_code == 0, result.output
    assert "Final model: " in result.output and says in result.output
    study = load_study("iris")
    complete = sum(t.state.name == "COMPLETE" for t in study.trials)
    if "--ensemble" in flags or complete < 2:  # --ensemble 0, or nothing to average
        assert "Final model: trial " in result.output
    folds = study.trials[0].user_attrs.get("fold_values")
    assert (folds is None) == ("--cv-folds" in flags)


def test_an_explicit_fold_count_is_used():
    dataset = prepare(make_config(dataset="iris")).dataset
    problem = make_problem(make_config(dataset="iris", training={"cv_folds": 2}), dataset)
    assert len(problem.folds) == 2 and sum(len(r) for r in problem.fold_rows) == 120
