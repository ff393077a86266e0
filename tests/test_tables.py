"""Messy tables in: each bad input ends with one clear error before any study or run exists."""

import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from autonn.cli import main
from autonn.config import TrainingConfig, make_config
from autonn.data.datasets import dataset_from_files, dataset_from_frame
from autonn.data.split import split
from autonn.data.tables import NEAR_CONSTANT_ROWS, infer_task, preprocessor
from autonn.errors import DataWarning
from autonn.search.problem import make_problem


def messy_frame(n=240, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(n)],
        "age": rng.integers(18, 80, n).astype(float),
        "income": rng.normal(50_000, 15_000, n),
        "city": rng.choice(["Paris", "Lyon", "Nice", "Lille", "Metz"], n, p=[.4, .3, .2, .08, .02]),
        "plan": rng.choice(["basic", "pro"], n),
        "member": rng.choice([True, False], n),
        "constant": 7,
        "empty": np.nan,
        "signup": pd.date_range("2020-01-01", periods=n, freq="D").astype(str),
    })
    df.loc[rng.choice(n, 15, replace=False), "age"] = np.nan
    df.loc[rng.choice(n, 10, replace=False), "city"] = np.nan
    df["churn"] = np.where((df["income"] < 48_000) ^ (df["plan"] == "pro"), "yes", "no")
    return df


def search(*args, tracking=False):
    flags = [] if tracking else ["--no-tracking"]
    return CliRunner().invoke(main, ["search", *args, "--n-trials", "2", "--epochs", "4",
                                     "--quiet", *flags])


def assert_nothing_created(tmp_path):
    mlruns = tmp_path / "mlruns"
    assert not (mlruns / "optuna.journal").exists() and not (mlruns / "mlflow.db").exists()


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_messy_files_search_end_to_end(tmp_path, suffix):
    df = messy_frame()
    path = tmp_path / f"churn{suffix}"
    if suffix == ".parquet":
        df.to_parquet(path)
    else:
        df.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")
    result = search("--data", str(path), "--target", "churn")
    assert result.exit_code == 0, result.output
    for column, why in [("customer_id", "looks like an ID"), ("constant", "is constant"),
                        ("empty", "has no values")]:
        assert f"dropped column '{column}': it {why}" in result.output


def test_preprocessing_is_fitted_on_training_rows_and_handles_unknown_levels(tmp_path):
    df = messy_frame()
    df.to_csv(tmp_path / "train.csv", index=False)
    test = messy_frame(n=60, seed=1)
    test.loc[0, "city"] = "Atlantis"  # a level never seen in training
    test.to_csv(tmp_path / "test.csv", index=False)
    data = dataset_from_files(str(tmp_path / "train.csv"), "churn", test_path=str(tmp_path / "test.csv"))
    assert data.task == "binary" and data.classes == ("no", "yes")
    with pytest.warns(DataWarning, match="dropped column 'customer_id'"):
        splits = split(data, 0.25, 0.2, seed=0)
    names = list(splits.preprocessor.get_feature_names_out())
    assert "city_Paris" in names and "city_infrequent_sklearn" in names  # Metz is rare: grouped
    assert {"signup_year", "signup_month", "signup_day_of_week"} <= set(names)
    assert not any(n.startswith(("customer_id", "constant", "empty")) for n in names)
    assert len(splits.X_test) == 60 and np.isfinite(splits.X_test).all()
    scaled = splits.X_train[:, names.index("income")]
    assert abs(scaled.mean()) < 1e-5 and abs(splits.X_val[:, names.index("income")].mean()) > 1e-4


def near_constant_frame(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    rare = lambda k, fill=1.0: np.where(np.arange(n) < k, fill, 0.0)  # k rows differ
    gaps = np.array([None] * (n // 2) + [np.nan] * (n - n // 2), dtype=object)
    gaps[:NEAR_CONSTANT_ROWS - 1] = "x"  # None and NaN are one value: a gap
    return pd.DataFrame({
        "signal": rng.normal(size=n),
        "flag_19": rare(NEAR_CONSTANT_ROWS - 1),
        "flag_20": rare(NEAR_CONSTANT_ROWS),  # kept: exactly the bound
        "count_19": rare(NEAR_CONSTANT_ROWS - 1) * rng.integers(1, 5, n),  # three or more values
        "gaps_19": gaps,
        "level_19": np.where(np.arange(n) < NEAR_CONSTANT_ROWS - 1, "rare", "common"),
    })


def test_near_constant_columns_are_dropped_with_one_warning():
    # 1% of 3000 rows is 30, so the 20-row bound is the one that holds
    with pytest.warns(DataWarning) as caught:
        fitted = preprocessor(near_constant_frame(), "wide.csv")
    assert [str(w.message) for w in caught] == [
        "wide.csv: dropped 4 near-constant column(s) ('flag_19', 'count_19', 'gaps_19', "
        "'level_19'): each has one value (a gap counts as one) on all but fewer than 20 (and under "
        "1%) of the 3000 training rows, too few to learn from without fitting them by heart; "
        "training.near_constant_rows: 0 in the config keeps them."]
    assert list(fitted.get_feature_names_out()) == ["signal", "flag_20"]
    assert TrainingConfig().near_constant_rows == NEAR_CONSTANT_ROWS


def test_the_share_bound_keeps_a_small_tables_columns_and_zero_keeps_every_column():
    small = near_constant_frame(n=300)  # 19 of 300 rows is 6%: kept; 2 of 300 is under 1%
    small["flag_2"] = np.where(np.arange(300) < 2, 1.0, 0.0)
    with pytest.warns(DataWarning, match=r"dropped 1 near-constant column\(s\) \('flag_2'\)"):
        names = list(preprocessor(small).get_feature_names_out())
    assert {"flag_19", "count_19", "level_19_rare"} <= set(names) and "flag_2" not in names
    every = list(preprocessor(near_constant_frame(), near_constant_rows=0).get_feature_names_out())
    assert {"flag_19", "count_19", "level_19_rare", "gaps_19_x"} <= set(every)


def test_the_warning_names_five_near_constant_columns_and_counts_the_rest():
    frame = near_constant_frame()[["signal"]]
    for k in range(7):
        frame[f"flag_{k}"] = np.where(np.arange(len(frame)) == k, 1.0, 0.0)
    with pytest.warns(DataWarning, match=r"dropped 7 near-constant column\(s\) \('flag_0', "
                                         r"'flag_1', 'flag_2', 'flag_3', 'flag_4' and 2 more\)"):
        assert list(preprocessor(frame).get_feature_names_out()) == ["signal"]


def test_near_constant_columns_are_kept_when_nothing_else_is_usable(tmp_path):
    frame = near_constant_frame()[["flag_19", "level_19"]]
    frame["target"] = np.arange(len(frame)) % 2
    path = tmp_path / "rare.csv"
    frame.to_csv(path, index=False)
    data = dataset_from_files(str(path), "target")
    with pytest.warns(DataWarning, match=r"kept 2 near-constant column\(s\).*no other column"):
        splits = split(data, 0.2, 0.2, seed=0)
    assert splits.X_train.shape[1] == 3  # flag_19, level_19_common, level_19_rare


def test_the_config_setting_reaches_the_search_encoding():
    frame = near_constant_frame()
    frame["target"] = (frame["signal"] > 0).astype(int)
    data = dataset_from_frame(frame, "target")
    widths = {}
    for rows in (20, 0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            problem = make_problem(make_config(training={"near_constant_rows": rows}), data)
        widths[rows] = set(problem.preprocessor.get_feature_names_out())
    assert widths[20] == {"signal"}  # 60% of the rows train: flag_20 has 12 or so of its 20
    assert {"signal", "flag_19", "flag_20", "count_19", "level_19_rare"} <= widths[0]


def test_string_and_boolean_targets_and_task_inference():
    assert infer_task(pd.Series(["a", "b", "a"])) == "binary"
    assert infer_task(pd.Series([True, False, True])) == "binary"
    assert infer_task(pd.Series([1, 2, 3, 1])) == "multiclass"
    assert infer_task(pd.Series(np.linspace(0, 1, 50))) == "regression"
    assert infer_task(pd.Series([0.5, 1.5, 0.5])) == "regression"


def test_grouped_split_keeps_groups_apart(tmp_path):
    df = messy_frame()
    df["household"] = np.arange(len(df)) // 4
    df.to_csv(tmp_path / "g.csv", index=False)
    data = dataset_from_files(str(tmp_path / "g.csv"), "churn", group_column="household")
    assert "household" not in data.feature_names
    from autonn.data.split import _split_off
    rest, test = _split_off(np.arange(len(data.y)), data, 0.2, seed=0)
    train, val = _split_off(rest, data, 0.25, seed=0)
    parts = [set(data.groups[rows]) for rows in (train, val, test)]
    assert all(parts) and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])


def write(tmp_path, name, content, mode="w"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(content)
    else:
        path.write_text(content)
    return str(path)


BAD = [
    ("missing file", lambda t: str(t / "nope.csv"), "y", "nope.csv: no such file"),
    ("empty file", lambda t: write(t, "e.csv", ""), "y", "e.csv: the file is empty"),
    ("header only", lambda t: write(t, "h.csv", "a,b,y\n"), "y", "h.csv: the file has a header but no data rows"),
    ("missing target", lambda t: write(t, "m.csv", "a,b\n1,2\n3,4\n"), "y",
     "m.csv: no target column 'y'. Columns: a, b."),
    ("one class", lambda t: write(t, "o.csv", "a,y\n" + "1,cat\n" * 12), "y",
     "o.csv: target column 'y' has one class ('cat'); a classifier needs at least two."),
    ("rare class", lambda t: write(t, "r.csv", "a,y\n" + "".join(f"{i},{'a' if i < 10 else 'b' if i < 20 else 'c'}\n" for i in range(22))), "y",
     "r.csv: class 'c' has 2 row(s); the train/validation/test split needs at least 3 per class."),
    ("target all missing", lambda t: write(t, "n.csv", "a,y\n1,\n2,\n"), "y", "n.csv: target column 'y' has no values."),
    ("typo in numeric column", lambda t: write(t, "t.csv", "a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(8)) + "1O,1\n3,0\n"), "y",
     "t.csv: column 'a' is numeric but line 10 holds '1O'; fix or blank that value."),
    ("duplicate columns", lambda t: write(t, "d.csv", "a,a,y\n1,2,0\n3,4,1\n"), "y",
     "d.csv: duplicate column names: a; rename them"),
    ("not UTF-8", lambda t: write(t, "u.csv", "a,y\n".encode() + "caf\xe9,1\n".encode("latin-1"), "wb"), "y",
     "u.csv: not valid UTF-8 (byte"),
    ("not a table", lambda t: write(t, "b.parquet", b"\x00\x01garbage", "wb"), "y",
     "b.parquet: not a readable Parquet file"),
]


@pytest.mark.parametrize("case,make,target,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_and_creates_nothing(tmp_path, case, make, target, message):
    result = search("--data", make(tmp_path), "--target", target, tracking=True)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert_nothing_created(tmp_path)


def test_rows_without_target_are_dropped_with_a_count(tmp_path):
    df = messy_frame()
    df.loc[:4, "churn"] = np.nan
    df.to_csv(tmp_path / "m.csv", index=False)
    result = search("--data", str(tmp_path / "m.csv"), "--target", "churn")
    assert result.exit_code == 0, result.output
    assert "dropped 5 rows with no value in target column 'churn'" in result.output


def test_data_needs_a_target_and_excludes_dataset(tmp_path):
    path = write(tmp_path, "x.csv", "a,y\n1,2\n")
    assert "needs --target COLUMN" in search("--data", path).output
    assert "not both" in search("--data", path, "--target", "y", "--dataset", "iris").output


def test_the_logged_model_takes_raw_table_rows(tmp_path, monkeypatch):
    import mlflow
    from mlflow.tracking import MlflowClient

    from autonn.tracking.runs import default_tracking_uri

    messy_frame().to_csv(tmp_path / "churn.csv", index=False)
    result = search("--data", str(tmp_path / "churn.csv"), "--target", "churn", tracking=True)
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("MLFLOW_TRACKING_URI", default_tracking_uri())
    client = MlflowClient(default_tracking_uri())
    exp = client.get_experiment_by_name("churn")
    parent = [r for r in client.search_runs([exp.experiment_id])
              if r.data.tags.get("autonn.role") == "study"][0]
    model = mlflow.pyfunc.load_model(f"runs:/{parent.info.run_id}/model")
    rows = messy_frame(n=40, seed=3).head(5).drop(columns=["churn"])  # text, gaps, dates
    labels = model.predict(rows)["churn"]
    assert len(labels) == 5 and set(labels) <= {"yes", "no"}
    signature = model.metadata.signature
    assert [c["name"] for c in signature.inputs.to_dict()] == list(rows.columns)
