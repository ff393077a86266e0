"""Writing files into place so that nobody else can touch them on the way.

A writer (safetensors, ONNX, TorchScript, MLflow) gets a path inside a fresh mode-700 folder in
``$AUTONN_HOME/staging``, where no other user can rename, replace or plant anything; what is
checked and signed is read from there. The result then lands at the target in one rename made
relative to the target folder's descriptor, opened once: a symlink or folder an attacker swaps in
meanwhile is replaced or ignored, never followed, and nothing is ever chmod-ed by name.

Where the target lies on another file system than ``$AUTONN_HOME`` (a rename cannot cross
them), the staging folder is made beside the target instead, but only in a folder no one else can
rename things in; otherwise the export is refused with the way out.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

from autonn.errors import ExportError
from autonn.export.integrity import private_home

STAGING = "staging"


def shared(info: os.stat_result) -> bool:
    """Whether another user can rename or replace entries of the folder ``info`` describes: it
    is theirs (root aside), or others may write it and it lacks the sticky bit (as /tmp has)."""
    foreign = info.st_uid not in (os.getuid(), 0)
    return foreign or bool(info.st_mode & 0o022) and not info.st_mode & stat.S_ISVTX


@contextlib.contextmanager
def staged(target: str | Path) -> Iterator[Path]:
    """Yield a private path to write ``target``'s file or folder at; on success it replaces
    ``target`` at once. On an error (or a kill) ``target`` is left as it was, the staging is
    removed, and a reader never sees half a file."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    parent = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        folder = _staging_folder(target, os.fstat(parent))
        path = folder / target.name
        try:
            yield path
            _seal(path, target)
            _move(path, target.name, parent, folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        os.close(parent)


def _staging_folder(target: Path, info: os.stat_result) -> Path:
    """A new mode-700 folder to stage ``target`` in: private staging on the target's file
    system, else beside the target where nobody else can rename entries."""
    root = private_home() / STAGING
    root.mkdir(exist_ok=True, mode=0o700)
    if shared(info):
        warnings.warn(f"{target.parent}: other users can rename and replace files in this folder "
                      "(it is writable by others and has no sticky bit), so they can swap what "
                      "lands there after autonn writes it; prefer a folder only you can write.",
                      UserWarning, stacklevel=4)
    if os.stat(root).st_dev == info.st_dev:
        return Path(tempfile.mkdtemp(prefix=f"{target.name[:64]}.", dir=root))
    if shared(info):
        raise ExportError(f"{target}: its folder is shared (see above) and lies on another file "
                          f"system than AUTONN_HOME ({root.parent}), so autonn cannot stage the "
                          "file privately and move it there in one step. Write it to a folder "
                          "only you can write, or set AUTONN_HOME on that file system.")
    return Path(tempfile.mkdtemp(prefix=f".{target.name[:64]}.", suffix=".partial",
                                 dir=target.parent))


def _seal(path: Path, target: Path) -> None:
    """Flush the staged file (or each file of a staged folder) to disk and give it the mode a
    plain ``open`` would, through descriptors; a link inside is refused."""
    if not os.path.lexists(path):
        raise FileNotFoundError(f"nothing was written for {target}")
    umask = os.umask(0)
    os.umask(umask)
    entries = [path] + (sorted(path.rglob("*")) if path.is_dir() and not path.is_symlink()
                        else [])
    for entry in entries:
        try:
            fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:  # ELOOP: a symlink (writers make none; a planted one is refused)
            raise ExportError(f"{target}: the export holds a link ({entry.name}); autonn writes "
                              "plain files only.") from None
        try:
            is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
            if not is_dir:
                os.fsync(fd)
            os.fchmod(fd, (0o777 if is_dir else 0o666) & ~umask)
        finally:
            os.close(fd)


def _move(path: Path, name: str, parent: int, folder: Path) -> None:
    """Rename the staged ``path`` to ``name`` in the folder open as ``parent``. A folder cannot
    replace a folder in one step: the old one moves into the staging folder first (and goes with
    it), and comes back if the new one does not land."""
    old = None
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
            old = f"old-{secrets.token_hex(4)}"
            os.rename(name, folder / old, src_dir_fd=parent)
    try:
        os.replace(path, name, dst_dir_fd=parent)
    except BaseException:
        if old is not None:
            os.rename(folder / old, name, dst_dir_fd=parent)
        raise
