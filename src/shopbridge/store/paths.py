"""Where shopbridge keeps its data.

The data directory holds the SQLite database (``shopbridge.sqlite``) and, unless ``SHOPBRIDGE_KEY``
is set, the encryption key (``secret.key``). It is ``$SHOPBRIDGE_HOME`` when that is set, otherwise
``.shopbridge/`` in the current directory: demo-friendly (everything next to where you ran the
command, easy to delete), and explicit for services (set ``SHOPBRIDGE_HOME`` or pass ``--data-dir``).
When shopbridge creates the directory it gives it mode 0700 and a ``.gitignore`` of ``*``, so a key
never lands in a repository by accident.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["DB_FILENAME", "ENV_HOME", "KEY_FILENAME", "db_path", "default_data_dir", "ensure_data_dir"]

ENV_HOME = "SHOPBRIDGE_HOME"
DB_FILENAME = "shopbridge.sqlite"
KEY_FILENAME = "secret.key"


def default_data_dir() -> Path:
    """``$SHOPBRIDGE_HOME`` if set, else ``./.shopbridge`` (absolute, not created)."""
    env = os.environ.get(ENV_HOME)
    base = Path(env).expanduser() if env else Path.cwd() / ".shopbridge"
    return base.resolve()


def ensure_data_dir(data_dir: Path | str | None = None) -> Path:
    """Create the data directory if missing and return it.

    A directory created here gets mode 0700 and a catch-all ``.gitignore``; an existing directory is
    left as it is.
    """
    path = Path(data_dir).expanduser().resolve() if data_dir is not None else default_data_dir()
    if not path.exists():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            (path / ".gitignore").write_text("# shopbridge data: database and secret key, never commit\n*\n")
    return path


def db_path(data_dir: Path | str | None = None) -> Path:
    """The default SQLite file inside the data directory."""
    base = Path(data_dir) if data_dir is not None else default_data_dir()
    return base / DB_FILENAME
