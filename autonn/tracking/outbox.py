"""Tags for a study's MLflow run that a command records at once and sends later.

``autonn export`` tags the study's parent run with each file's sha256 and path. Opening MLflow's
client takes seconds (it imports MLflow and opens its store), which a user would wait for after
the file is written. So the tags are appended, one JSON line fsync'd to disk, to an outbox under
``$AUTONN_HOME/outbox`` (one file per tracking store, named by a hash of its URI, which is never
written down), and a detached process delivers them at once. A record that process did not send
(it died, the server was down) is sent by the next search on the same store: nothing is lost.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from autonn.export.integrity import private_home
from autonn.masking import mask
from autonn.tracking.runs import existing_client, store_exists, study_run

URI_VARIABLE = "AUTONN_OUTBOX_URI"  # how the delivering process is told the store (not argv,
# which every local user can read in `ps`: the URI may hold a password)


def outbox_path(tracking_uri: str) -> Path:
    """The outbox file of the store at ``tracking_uri``."""
    # the masked URI: a hash of one holding a password could be tested against guesses
    name = hashlib.sha256(mask(tracking_uri).encode()).hexdigest()[:24]
    return private_home() / "outbox" / f"{name}.jsonl"


def post(tracking_uri: str, study: str, tags: dict[str, str], deliver_now: bool = True) -> bool:
    """Record ``tags`` for ``study``'s parent run at ``tracking_uri``, then (``deliver_now``)
    start a detached process that sends them. False, recording nothing, when the store is the
    embedded SQLite file and there is none (the search ran without tracking)."""
    if not store_exists(tracking_uri):
        return False
    path = outbox_path(tracking_uri)
    line = (json.dumps({"study": study, "tags": tags}) + "\n").encode()
    with _locked(path) as fh:
        end = fh.seek(0, os.SEEK_END)
        if end and os.pread(fh.fileno(), 1, end - 1) != b"\n":
            fh.write(b"\n")  # a line cut short stays a line of its own, set aside when read
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
    if deliver_now:
        subprocess.Popen([sys.executable, "-m", "autonn.tracking.outbox"],
                         env={**os.environ, URI_VARIABLE: tracking_uri},
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    return True


def deliver(tracking_uri: str, client: Any = None) -> int:
    """Send every record waiting for ``tracking_uri`` (with ``client``, an MlflowClient, or a
    new one); returns how many were sent. Records of studies this store does not track are
    dropped; on an error the rest wait for the next delivery."""
    path = outbox_path(tracking_uri)
    if not path.is_file():
        return 0
    if client is None:
        client = existing_client(tracking_uri)
    with _locked(path) as fh:
        records = [r for r in map(_record, fh.read().decode(errors="replace").splitlines())
                   if r is not None]
        sent = 0
        try:
            for record in records:
                run_id = study_run(client, record["study"])
                for key, value in record["tags"].items() if run_id else ():
                    client.set_tag(run_id, key, value)
                sent += 1
        finally:
            fh.seek(0)
            fh.truncate()
            fh.writelines((json.dumps(r) + "\n").encode() for r in records[sent:])
            fh.flush()
            os.fsync(fh.fileno())
    return sent


def _record(line: str) -> dict | None:
    """One outbox line, or None for a blank or damaged one (a write cut short by a full
    disk): it is dropped at the next rewrite instead of blocking every record after it."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and "study" in record else None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[Any]:
    """The outbox file, open (binary) for reading and writing, under an exclusive lock."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "r+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield fh
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


if __name__ == "__main__":  # the detached process ``post`` starts
    os.nice(10)  # the user's next command comes first: these tags can wait a few seconds
    deliver(os.environ[URI_VARIABLE])
