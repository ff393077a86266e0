"""A new embedded MLflow store starts as a copy of a migrated empty one (autonn.tracking.new_store)."""

import multiprocessing
import os
import sqlite3

import mlflow
from mlflow.tracking import MlflowClient

from autonn.tracking.mlflow_tracker import MlflowTracker
from autonn.tracking.new_store import seed_store, template


def schema(path):
    """A SQLite database's tables and indexes, each with the lines of its SQL in sorted order
    (MLflow's migrations order a table's constraints differently from run to run), and its
    alembic revision."""
    with sqlite3.connect(path) as db:
        tables = sorted((kind, name, sorted(line.strip().rstrip(",") for line in (sql or "").splitlines()))
                        for kind, name, sql in db.execute("SELECT type, name, sql FROM sqlite_master"))
        return tables, db.execute("SELECT version_num FROM alembic_version").fetchall()


def test_a_seeded_store_is_the_store_mlflow_makes_with_its_own_default_experiment(
        tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    MlflowClient(f"sqlite:///{tmp_path / 'mlflow-made.db'}").search_experiments()  # migrated
    tracker = MlflowTracker(f"sqlite:///{tmp_path / 'seeded' / 'mlflow.db'}", "study")
    kept = tmp_path / "cache" / "autonn" / f"mlflow-{mlflow.__version__}.db"
    assert kept.is_file() and template() == kept
    with sqlite3.connect(kept) as db:  # the tables only: no experiment, no run
        assert db.execute("SELECT COUNT(*) FROM experiments").fetchone() == (0,)
    assert schema(tmp_path / "seeded" / "mlflow.db") == schema(tmp_path / "mlflow-made.db")
    default = tracker.client.get_experiment("0")  # made on first open, for this store
    assert default.name == "Default" and str(tmp_path) in default.artifact_location
    assert tracker.client.get_experiment_by_name("study") is not None


def test_a_store_already_there_is_never_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    store = tmp_path / "mlflow.db"
    client = MlflowClient(f"sqlite:///{store}")
    client.create_experiment("kept")
    seed_store(f"sqlite:///{store}")
    assert MlflowClient(f"sqlite:///{store}").get_experiment_by_name("kept") is not None


def test_only_a_plain_file_path_is_seeded(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    for uri in ("sqlite:///:memory:", "sqlite:///mlflow.db?timeout=30",
                "sqlite:///file:mlflow.db?mode=ro&uri=true", "postgresql://h/db"):
        seed_store(uri)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing made, not even a cache


def test_without_a_cache_mlflow_makes_the_store_itself(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    tracker = MlflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "study")
    assert tracker.client.get_experiment_by_name("study") is not None
    assert (tmp_path / "mlflow.db").is_file() and not list(tmp_path.glob(".*.part"))


def _seed(uri, cache, start):
    os.environ["XDG_CACHE_HOME"] = cache
    start.wait()
    seed_store(uri)


def test_processes_seeding_one_store_at_once_leave_one_whole_store(tmp_path):
    """Four processes released together make the template and the store: one of each, whole,
    with no part file left behind."""
    uri, cache = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}", str(tmp_path / "cache")
    context = multiprocessing.get_context("fork")  # mlflow already imported
    start = context.Barrier(4)
    racers = [context.Process(target=_seed, args=(uri, cache, start)) for _ in range(4)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(120)
        assert racer.exitcode == 0
    kept = tmp_path / "cache" / "autonn" / f"mlflow-{mlflow.__version__}.db"
    assert schema(tmp_path / "store" / "mlflow.db") == schema(kept)
    assert not list(tmp_path.rglob("*.part"))
    assert MlflowClient(uri).get_experiment("0").name == "Default"
