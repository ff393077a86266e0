"""A new embedded MLflow store without MLflow's two seconds of schema migrations.

MLflow creates a SQLite tracking store by running its whole history of schema migrations
(about 2 s on 2 cores, paid by the first search in every folder). autonn migrates one empty
database per MLflow version, once per machine, keeps it in the user's cache
(``$XDG_CACHE_HOME/autonn``, else ``~/.cache/autonn``) and starts each new store as a copy:
a fresh folder's search ends 1.7 s sooner quiet, 2.3 s busy (benchmarks/new_store.py). The copy
holds the tables and no experiment: MLflow adds its Default experiment, with this store's
artifact location, when it first opens it, as it does for a store it migrated itself. Where
the cache cannot be written, MLflow creates the store as usual.

mlflow and sqlalchemy are imported inside the functions: the command line imports this module
without them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

SQLITE = "sqlite:///"


def seed_store(tracking_uri: str) -> None:
    """Start the embedded SQLite store at ``tracking_uri`` as a copy of the migrated empty one,
    when it does not exist yet; any other store, or one already there, is left to MLflow."""
    path = tracking_uri.removeprefix(SQLITE)
    plain_file = (tracking_uri.startswith(SQLITE) and "?" not in path
                  and path not in ("", ":memory:") and not path.startswith("file:"))
    store = Path(path)
    if not plain_file or store.exists():  # MLflow's to open as it is
        return
    try:
        store.parent.mkdir(parents=True, exist_ok=True)  # as MLflow makes a store's folders
        _place(store, lambda part: shutil.copyfile(template(), part))
    except Exception:  # noqa: BLE001 - no cache, a full disk: MLflow migrates the store itself
        return


def template() -> Path:
    """The migrated empty database for the installed MLflow, made on first use."""
    import mlflow

    path = cache_dir() / f"mlflow-{mlflow.__version__}.db"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _place(path, _migrate, replace=True)
    return path


def cache_dir() -> Path:
    """Where autonn keeps what it can make again: ``$XDG_CACHE_HOME/autonn``, else
    ``~/.cache/autonn``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "autonn"


def _migrate(path: Path) -> None:
    """An empty database at ``path`` with MLflow's current schema (its own migrations)."""
    import sqlalchemy
    from mlflow.store.db.utils import _initialize_tables

    engine = sqlalchemy.create_engine(f"{SQLITE}{path}")
    try:
        _initialize_tables(engine)
    finally:
        engine.dispose()


def _place(path: Path, make, replace: bool = False) -> None:
    """Make ``path`` whole or not at all: ``make`` writes a part file beside it, which is then
    linked into place unless another process got there first (concurrent workers, searches).
    Where the file system has no hard links, a ``replace``-able file (the template: any copy
    is as good as another) is moved into place instead; a store is then left to MLflow."""
    part = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        make(part)
        try:
            os.link(part, path)  # atomic, and never over a store another process created
        except FileExistsError:
            pass
        except OSError:
            if not replace:
                raise
            os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
