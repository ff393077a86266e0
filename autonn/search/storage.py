"""Where Optuna keeps studies: by default a journal file under ``./mlruns``.

The journal file takes several worker processes at once without "database is locked" errors;
a ``sqlite:///`` or ``postgresql://`` URL selects Optuna's RDB storage instead. Its writers lock
it with an flock (``JournalFlock``), which the kernel drops when a writer dies; a script that
writes to it alongside a search opens it with ``open_storage`` too (Optuna's own lock is another
file, which the flock does not see).
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from autonn.errors import StudyError, unknown_name
from autonn.masking import mask
from autonn.names import checked_name

DEFAULT_ROOT = Path("mlruns")
JOURNAL_NAME = "optuna.journal"


def open_storage(url: str | optuna.storages.BaseStorage | None = None,
                 root: str | Path = DEFAULT_ROOT) -> optuna.storages.BaseStorage:
    """Open ``url`` (an RDB URL or a journal file path), or the journal file under ``root``.

    A storage object passes through unchanged (an InMemoryStorage, say).
    """
    if isinstance(url, optuna.storages.BaseStorage):
        return url
    if url and "://" in url:
        return RDBStorage(url)
    path = Path(url) if url else Path(root) / JOURNAL_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFlock(path)))


class JournalFlock:
    """The journal's write lock, as Optuna's ``lock_obj`` (``acquire``, ``release``): an flock
    on ``<journal>.flock``, which the kernel releases when its holder dies. Optuna's own lock
    is a symlink that a worker killed while writing leaves behind; every other process then
    waits on it (for ever, with a relative journal path, whose lock link dangles)."""

    def __init__(self, journal: Path) -> None:
        self._journal = journal
        self._threads = threading.Lock()  # the flock excludes other processes; this, threads
        self._held: contextlib.ExitStack | None = None

    def __reduce__(self) -> tuple:  # a storage travels to spawned workers: the path alone
        return JournalFlock, (self._journal,)

    def acquire(self) -> bool:
        held = contextlib.ExitStack()
        self._threads.acquire()
        try:
            held.enter_context(file_lock(self._journal.with_name(self._journal.name + ".flock")))
        except BaseException:
            self._threads.release()
            raise
        self._held = held
        return True

    def release(self) -> None:
        held, self._held = self._held, None
        try:
            if held is not None:
                held.close()
        finally:
            self._threads.release()


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on ``path`` (made if missing) for the block; a holder that dies
    releases it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def describe_storage(storage: str | optuna.storages.BaseStorage | None) -> str:
    """Where a study lives, fit to print or log: URLs masked, objects by their type."""
    if isinstance(storage, optuna.storages.BaseStorage):
        return type(storage).__name__
    return mask(storage or str(DEFAULT_ROOT / JOURNAL_NAME))


def final_model_path(storage: str | optuna.storages.BaseStorage | None, study: str
                     ) -> Path | None:
    """Where a study's final model is saved: ``models/<study>.safetensors`` beside a journal or
    SQLite file, else under ``./mlruns``; None for a study kept in this process's memory only
    (the scikit-learn estimators' own), which leaves no file behind."""
    if isinstance(storage, optuna.storages.InMemoryStorage):
        return None
    study = _stored_name(study)
    root = DEFAULT_ROOT
    if isinstance(storage, str) and (storage.startswith("sqlite:///") or "://" not in storage):
        root = Path(storage.removeprefix("sqlite:///")).parent
    return root / "models" / f"{study}.safetensors"


def example_path(storage: str | optuna.storages.BaseStorage | None, study: str) -> Path | None:
    """Where the final model's input example (a few raw rows, JSON) is kept beside it."""
    model = final_model_path(storage, study)
    return None if model is None else model.with_name(f"{study}.example.json")


def kept_attrs(study: optuna.Study) -> dict:
    """The study's own bookkeeping (its packed config, identity and deadline): Optuna's system
    attributes, which ``optuna studies`` and optuna-dashboard do not print."""
    return study._storage.get_study_system_attrs(study._study_id)


def keep_attr(study: optuna.Study, key: str, value: object) -> None:
    """Store ``value`` under ``key`` among the study's ``kept_attrs``."""
    study._storage.set_study_system_attr(study._study_id, key, value)


def load_study(name: str | None, storage: Any = None) -> optuna.Study:
    """Open an existing study; with no name, the only study in the store."""
    store = open_storage(storage)
    names = [s.study_name for s in store.get_all_studies()]
    if name is None and len(names) == 1:
        name = names[0]
    if name not in names:
        if not names:
            raise StudyError("no studies in the store yet; run `autonn search` first.")
        raise StudyError(unknown_name("study", name, names) if name
                         else "several studies, pick one with --study.")
    return optuna.load_study(study_name=_stored_name(name), storage=store)


def _stored_name(name: str) -> str:
    """A study name read back from a store, checked before any path is built from it: a store
    others can write may hold ``../../x``, an absolute path or terminal escapes."""
    try:
        return checked_name(name, "a study name")
    except ValueError as exc:
        raise StudyError(f"the store holds a study named {ascii(name)}, which autonn will not "
                         f"use: {str(exc).split(';')[0]}. Rename or delete it with Optuna.") from None
