"""The scikit-learn estimators, held to scikit-learn's own contract."""

import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from autonn import AutoNNClassifier, AutoNNRegressor

TINY = {"n_trials": 2, "max_epochs": 25, "random_state": 0}
# scikit-learn's ~100 checks fit each estimator ~150 times on toy data: one small hidden layer
# keeps that to seconds (the default space's 256-256-256 starts took minutes)
CHECKED = {**TINY, "space": {"n_layers": 1, "width": 32}}
# Checks that cannot apply, and why. None at present: every check runs.
NOT_APPLICABLE: dict[str, str] = {}


@parametrize_with_checks([AutoNNClassifier(**CHECKED), AutoNNRegressor(**CHECKED)],
                         expected_failed_checks=lambda est: NOT_APPLICABLE)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_fitted_attributes_and_string_labels():
    X, y = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = AutoNNClassifier(**TINY).fit(X, labels)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert clf.n_features_in_ == 4 and set(clf.predict(X[:10])) <= set(clf.classes_)
    assert clf.predict_proba(X[:5]).shape == (5, 3)
    assert 0.8 <= clf.best_score_ <= 1 and "n_layers" in clf.best_params_
    assert len(clf.study_.trials) >= 2 and clf.score(X, labels) > 0.8


def test_fit_leaves_no_file_and_a_read_only_array_predicts_without_a_warning(tmp_path):
    import warnings
    from pathlib import Path

    X, y = load_iris(return_X_y=True)
    clf = AutoNNClassifier(**TINY).fit(X, y)
    assert not list(Path.cwd().rglob("*")), "fit wrote files into the working directory"
    X.setflags(write=False)  # as a DataFrame's values or a memory map can be
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert clf.predict_proba(X[:5]).shape == (5, 3)


def test_pipeline_cross_val_and_clone():
    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), AutoNNClassifier(**TINY))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() > 0.85
    twin = clone(AutoNNRegressor(n_trials=3, space={"activation": "tanh"}))
    assert twin.get_params()["space"] == {"activation": "tanh"} and not hasattr(twin, "model_")


def test_feature_names_are_kept_from_dataframes():
    X, y = load_iris(return_X_y=True, as_frame=True)
    clf = AutoNNClassifier(**TINY).fit(X, y)
    assert list(clf.feature_names_in_) == list(X.columns)


def test_a_config_file_gives_the_space(tmp_path):
    cfg = tmp_path / "space.yaml"
    cfg.write_text("space:\n  n_layers: 1\n  activation: relu\n  optimizer: adam\n")
    clf = AutoNNClassifier(n_trials=2, max_epochs=5, space=str(cfg), random_state=0)
    clf.fit(*load_iris(return_X_y=True))
    assert all(t.params["n_layers"] == 1 and t.params["activation"] == "relu" for t in clf.study_.trials)
