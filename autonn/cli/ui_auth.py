"""What ``autonn ui --auth`` hands MLflow's basic-auth app: a user store, the first admin
password and the session key, kept in a mode-700 folder under AUTONN_HOME.

MLflow ships no admin password and no session key; its app refuses to start without them. They
are made once per user, at random, and reach the server through its environment (never its
command line, which every local user can read in ``ps``).
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from autonn.errors import StudyError
from autonn.export.integrity import create_once, private_home

ADMIN = "admin"


def auth_folder() -> Path:
    """``$AUTONN_HOME/ui-auth``, mode 700."""
    folder = private_home() / "ui-auth"
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700, follow_symlinks=False)
    return folder


def auth_environment() -> dict[str, str]:
    """The MLFLOW_* variables that start the basic-auth app on this user's private settings.
    An admin password already set in MLFLOW_AUTH_ADMIN_PASSWORD is kept. Either is only the
    first password: MLflow creates the admin user with it once, and ignores it afterwards."""
    folder = auth_folder()
    settings = folder / "basic_auth.ini"
    users = str(folder / "users.db").replace("%", "%%")  # ConfigParser reads % as interpolation
    settings.write_text("[mlflow]\ndefault_permission = READ\n"
                        f"database_uri = sqlite:///{users}\n"
                        f"admin_username = {ADMIN}\n"
                        "authorization_function = "
                        "mlflow.server.auth:authenticate_request_basic_auth\n")
    password = os.environ.get("MLFLOW_AUTH_ADMIN_PASSWORD") or _secret(folder / "admin-password")
    return {"MLFLOW_AUTH_CONFIG_PATH": str(settings), "MLFLOW_AUTH_ADMIN_PASSWORD": password,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": _secret(folder / "session-key")}


def _secret(path: Path) -> str:
    """The random text kept at ``path`` (mode 600), made whole on first use (``create_once``:
    a second start at the same moment reads the first one's)."""
    if not path.exists():
        create_once(path, (secrets.token_urlsafe(18) + "\n").encode())
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd) as kept:
        info = os.fstat(kept.fileno())
        text = kept.read(4096).strip() if stat.S_ISREG(info.st_mode) else ""
    if not text or info.st_mode & 0o077:
        raise StudyError(f"{path} must be a plain, non-empty file only you can read (mode 600); "
                         f"remove it, and {path.parent / 'users.db'} with it (MLflow keeps the "
                         "admin's first password there), then run `autonn ui --auth` again.")
    return text
