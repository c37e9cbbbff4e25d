"""Engine, sessions and migrations; :func:`open_store` is the one entry point.

SQLite (default, a file in the data directory) runs in WAL mode with a busy timeout and foreign keys
on, and every transaction starts with ``BEGIN IMMEDIATE``: writers queue up instead of failing with
"database is locked" halfway through a transaction. PostgreSQL is used by URL
(``postgresql+psycopg://...``; plain ``postgresql://`` is read as psycopg 3).

The store API is synchronous and every call is one short transaction. From async code call it
directly (calls take milliseconds) or through ``asyncio.to_thread`` when a call may wait on a lock.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from .paths import (
    db_path,
    default_data_dir,
    ensure_data_dir,
    private_file,
    sqlite_files,
    wider_than_private,
)

if TYPE_CHECKING:
    from .crypto import Cipher

__all__ = [
    "MIGRATIONS_DIR",
    "Store",
    "StoreError",
    "create_store_engine",
    "current_revision",
    "head_revision",
    "make_revision",
    "migrate",
    "open_store",
    "to_url",
]

log = structlog.get_logger("shopbridge.store")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
PING_IDLE_S = 10.0  # a pooled PostgreSQL connection unused this long is checked before it is used
_PG_MIGRATION_LOCK = 7_215_493_611  # pg_advisory_lock key for "shopbridge migrations"


class StoreError(RuntimeError):
    """The store cannot be opened or used (plain words in the message)."""


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


_json_dumps = partial(json.dumps, default=_json_default, ensure_ascii=False)


def to_url(url_or_path: str | Path | None) -> URL:
    """A database URL from a URL, a SQLite file path, a directory, or None (the default data dir)."""
    if url_or_path is None:
        return make_url(f"sqlite:///{db_path(default_data_dir())}")
    raw = str(url_or_path)
    if "://" not in raw:
        path = Path(raw).expanduser()
        if path.is_dir():
            path = db_path(path)
        return make_url(f"sqlite:///{path.resolve()}")
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use when it sat unused for `PING_IDLE_S` (a restarted server
    or a dropped link shows there; the pool then opens a new one). A connection in steady use is not
    pinged: `pool_pre_ping` would add a round trip to each of an order's transactions."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_IDLE_S:
            return
        try:
            with dbapi_conn.cursor() as cur:
                cur.execute("SELECT 1")
            dbapi_conn.rollback()
        except Exception as exc:
            raise DisconnectionError(f"pooled connection is gone: {type(exc).__name__}") from exc


def create_store_engine(url: URL, *, schema: str | None = None) -> Engine:
    """An Engine with shopbridge's connection settings (SQLite pragmas, PG search_path, JSON encoding)."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file::memory:"):
            raise StoreError("an in-memory SQLite database cannot be shared: use a file (tests: tmp_path)")
        _private_sqlite(Path(database))
        engine = create_engine(
            url,
            json_serializer=_json_dumps,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if backend == "postgresql":
        engine = create_engine(url, json_serializer=_json_dumps)
        _ping_when_idle(engine)
        if schema:
            if not schema.replace("_", "").isalnum():
                raise StoreError(f"bad schema name {schema!r}")

            @event.listens_for(engine, "connect")
            def _pg_connect(dbapi_conn: Any, _record: Any) -> None:
                with dbapi_conn.cursor() as cur:
                    # IF NOT EXISTS still races between sessions: serialize with the migration lock
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_MIGRATION_LOCK,))
                    cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                    cur.execute(f'SET search_path TO "{schema}"')
                dbapi_conn.commit()

        return engine
    raise StoreError(f"unsupported database {backend!r}: use a SQLite file or a postgresql:// URL")


def _private_sqlite(database: Path) -> None:
    """Create the SQLite file 0600 before SQLite does (its WAL and SHM files take its mode); narrow
    an existing file or companion that other users could read, with a warning."""
    if not database.parent.exists():
        ensure_data_dir(database.parent)
    elif not database.parent.is_dir():
        ensure_data_dir(database.parent)  # raises DataDirError naming it
    for path in [database, *(p for p in sqlite_files(database) if p != database)]:
        wider = wider_than_private(path) if path.exists() else None
        private_file(path)
        if wider:
            log.warning("store.file_narrowed", path=str(path), was=wider, now="0600")


def _alembic_config(connection: Any | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    """The newest migration this version of shopbridge knows."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Apply Alembic migrations up to ``revision`` (idempotent; serialized between processes)."""
    script = ScriptDirectory.from_config(_alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        current = MigrationContext.configure(conn).get_current_revision()
        if current is not None and current not in known:
            raise StoreError(
                f"the database is at schema version {current}, which this version of shopbridge does not "
                "know: it was written by a newer shopbridge. Upgrade shopbridge."
            )
        command.upgrade(_alembic_config(conn), revision)


def make_revision(message: str, scratch_url: str) -> None:
    """Developers: autogenerate a new migration from the models against a scratch database.

    The scratch database is first upgraded to head, then compared with ``schema.py``. Review the
    generated file in ``store/migrations/versions/`` before committing it.
    """
    engine = create_store_engine(to_url(scratch_url))
    try:
        migrate(engine)
        with engine.begin() as conn:
            command.revision(_alembic_config(conn), message=message, autogenerate=True)
    finally:
        engine.dispose()


class Store:
    """The store: repositories for each concern over one Engine.

    Attributes: ``connections``, ``secrets``, ``bindings``, ``cursors``, ``transfers``, ``leases``,
    ``journal``, ``webhooks``, ``usage``, ``events`` (order status events),
    ``order_lines`` and ``catalog_issues`` (catalogue flows), ``tenants``, ``users``, ``web_sessions``
    and ``notifications`` (the portal). Use :func:`open_store` to get one.
    """

    def __init__(
        self, engine: Engine, *, data_dir: Path | None = None, key: bytes | str | None = None
    ) -> None:
        from .bindings import Bindings
        from .catalog import CatalogIssues, OrderLines
        from .connections import Connections
        from .crypto import Secrets
        from .cursors import Cursors
        from .events import StatusEvents
        from .journal import Journal
        from .leases import Leases
        from .notifications import Notifications
        from .tenants import Tenants, Users
        from .transfers import Transfers
        from .usage import UsageCounter
        from .web_sessions import WebSessions
        from .webhooks import WebhookEvents

        self.engine = engine
        self.data_dir = data_dir
        self._key = key.encode() if isinstance(key, str) else key
        self._cipher: Cipher | None = None
        self._cipher_lock = threading.Lock()
        self._sessionmaker = sessionmaker(engine, expire_on_commit=False)
        self.connections = Connections(self.session)
        self.secrets = Secrets(self.session, self.cipher)
        self.bindings = Bindings(self.session)
        self.cursors = Cursors(self.session)
        self.usage = UsageCounter(self.session)
        self.transfers = Transfers(self.session)
        self.leases = Leases(self.session)
        self.journal = Journal(self.session)
        self.webhooks = WebhookEvents(self.session)
        self.events = StatusEvents(self.session)
        self.order_lines = OrderLines(self.session)
        self.catalog_issues = CatalogIssues(self.session)
        self.tenants = Tenants(self.session)
        self.users = Users(self.session)
        self.web_sessions = WebSessions(self.session)
        self.notifications = Notifications(self.session, self.cipher)

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: commits on normal exit, rolls back on an exception."""
        with self._sessionmaker.begin() as s:
            yield s

    def cipher(self) -> Cipher:
        """The secrets cipher, loaded on first use (key from ``SHOPBRIDGE_KEY`` or the key file).

        Refuses to create a new key file when the database already holds secrets: they could never
        be decrypted with it.
        """
        from .crypto import Cipher, SecretKeyError, load_key
        from .schema import Secret

        with self._cipher_lock:
            if self._cipher is None:
                if self._key is not None:
                    keys = [self._key]
                else:
                    try:
                        keys = load_key(self.data_dir, create=False)
                    except SecretKeyError:
                        with self.session() as s:
                            has_secrets = bool(s.scalar(select(func.count()).select_from(Secret)))
                        if has_secrets:
                            raise SecretKeyError(
                                "the database holds encrypted secrets but the key is missing: restore "
                                "secret.key in the data directory or set SHOPBRIDGE_KEY"
                            ) from None
                        keys = load_key(self.data_dir, create=True)
                try:
                    self._cipher = Cipher(keys)
                except SecretKeyError:
                    raise SecretKeyError(
                        f"the encryption key in {self._key_source()} is not a valid key (32 url-safe base64 "
                        "bytes): restore the original key file or SHOPBRIDGE_KEY"
                    ) from None
            return self._cipher

    def use_keys(self, keys: list[bytes]) -> None:
        """Encrypt with the first of `keys` from now on, decrypt with any (key rotation)."""
        from .crypto import Cipher

        with self._cipher_lock:
            self._cipher = Cipher(keys)

    def _key_source(self) -> str:
        import os

        from .crypto import ENV_KEY
        from .paths import KEY_FILENAME

        if self._key is not None:
            return "the key given"
        if os.environ.get(ENV_KEY, "").strip():
            return ENV_KEY
        return str(Path(self.data_dir or ".") / KEY_FILENAME)

    def ensure_key(self) -> None:
        """Load or create the encryption key now (``init`` calls this) instead of on first use."""
        self.cipher()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url})"


def open_store(
    url_or_path: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    key: bytes | str | None = None,
    schema: str | None = None,
    migrate_db: bool = True,
) -> Store:
    """Open (and create or upgrade) the store.

    * ``url_or_path``: None for ``<data_dir>/shopbridge.sqlite``; a SQLite file or directory path; or a
      URL (``sqlite:///...``, ``postgresql://...`` / ``postgresql+psycopg://...``).
    * ``data_dir``: where the key file lives; defaults to the SQLite file's directory, or
      :func:`~shopbridge.store.paths.default_data_dir` for PostgreSQL.
    * ``key``: a Fernet key to use instead of ``SHOPBRIDGE_KEY`` / the key file.
    * ``schema``: PostgreSQL only: work inside this schema (created if missing), e.g. for tests.
    * ``migrate_db``: apply migrations (default True).
    """
    if url_or_path is None and data_dir is not None:
        url_or_path = db_path(data_dir)
    url = to_url(url_or_path)
    if data_dir is not None:
        ddir: Path = ensure_data_dir(data_dir)
    elif url.get_backend_name() == "sqlite" and url.database:
        ddir = ensure_data_dir(Path(url.database).parent)
    else:
        ddir = default_data_dir()
    engine = create_store_engine(url, schema=schema)
    try:
        if migrate_db:
            migrate(engine)
    except Exception:
        engine.dispose()
        raise
    return Store(engine, data_dir=ddir, key=key)
