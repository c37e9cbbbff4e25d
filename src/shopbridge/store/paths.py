"""Where shopbridge keeps its data, and who may read it.

The data directory holds the SQLite database (``shopbridge.sqlite``) and, unless ``SHOPBRIDGE_KEY``
is set, the encryption key (``secret.key``). It is ``$SHOPBRIDGE_HOME`` when that is set, otherwise
``.shopbridge/`` in the current directory: demo-friendly (everything next to where you ran the
command, easy to delete), and explicit for services (set ``SHOPBRIDGE_HOME`` or pass ``--data-dir``).

Permissions: a directory shopbridge creates gets mode 0700 and a ``.gitignore`` of ``*``, so a key
never lands in a repository by accident; an existing directory open to other users is left as it
is, with a warning (`wider_than_private`). The database, its WAL/SHM files and every file holding
customer data are created 0600 whatever the directory's mode (`private_file`); SQLite gives its
WAL and SHM files the mode of the database file.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import structlog

__all__ = [
    "DB_FILENAME",
    "ENV_HOME",
    "KEY_FILENAME",
    "db_path",
    "default_data_dir",
    "ensure_data_dir",
    "private_file",
    "sqlite_files",
    "wider_than_private",
]

log = structlog.get_logger("shopbridge.store")

ENV_HOME = "SHOPBRIDGE_HOME"
DB_FILENAME = "shopbridge.sqlite"
KEY_FILENAME = "secret.key"


class DataDirError(OSError):
    """The data directory cannot be used (it is a file, or cannot be created)."""


def default_data_dir() -> Path:
    """``$SHOPBRIDGE_HOME`` if set, else ``./.shopbridge`` (absolute, not created)."""
    env = os.environ.get(ENV_HOME)
    base = Path(env).expanduser() if env else Path.cwd() / ".shopbridge"
    return base.resolve()


def ensure_data_dir(data_dir: Path | str | None = None) -> Path:
    """Create the data directory if missing and return it.

    A directory created here gets mode 0700 and a catch-all ``.gitignore``; an existing directory is
    left as it is (a warning is logged when other users may read it). A path that is a file is
    refused with a `DataDirError` naming it.
    """
    path = Path(data_dir).expanduser().resolve() if data_dir is not None else default_data_dir()
    if path.exists() and not path.is_dir():
        raise DataDirError(
            f"the data directory {path} is a file: give a directory with --data-dir or SHOPBRIDGE_HOME"
        )
    if not path.exists():
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except NotADirectoryError:
            raise DataDirError(
                f"the data directory {path} cannot be created: a part of its path is a file"
            ) from None
        os.chmod(path, 0o700)  # mkdir's mode is masked by the umask
        with contextlib.suppress(OSError):
            (path / ".gitignore").write_text("# shopbridge data: database and secret key, never commit\n*\n")
    else:
        wider = wider_than_private(path)
        if wider:
            log.warning("data_dir.open_to_others", path=str(path), mode=wider, fix=f"chmod 700 {path}")
    return path


def wider_than_private(path: Path) -> str | None:
    """The mode as text (e.g. "0755") when group or others have any access to `path`, else None."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return f"{mode:04o}" if mode & 0o077 else None


def private_file(path: Path | str) -> Path:
    """Make `path` a file only its owner can read and write: created empty with mode 0600 when
    missing, narrowed to 0600 when wider. Returns the path."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    except FileExistsError:
        pass
    if stat.S_IMODE(p.stat().st_mode) & 0o077:
        os.chmod(p, 0o600)
    return p


def sqlite_files(database: Path | str) -> list[Path]:
    """A SQLite database file with its WAL and SHM companions (those that exist)."""
    db = Path(database)
    return [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-journal")) if p.exists()]


def db_path(data_dir: Path | str | None = None) -> Path:
    """The default SQLite file inside the data directory."""
    base = Path(data_dir) if data_dir is not None else default_data_dir()
    return base / DB_FILENAME
