"""Helpers for tests that need a real store, on SQLite or PostgreSQL.

PostgreSQL comes from ``SHOPBRIDGE_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``,
trust auth). Each :func:`pg_store` works in a schema of its own that is dropped afterwards, so test
runs never clash. Tests should skip PostgreSQL only when :func:`pg_unreachable_reason` says the
server is unreachable; a missing driver is an error (add ``psycopg[binary]``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from shopbridge.store.db import Store, open_store, to_url
from shopbridge.store.paths import DB_FILENAME, ensure_data_dir
from shopbridge.store.schema import Base

__all__ = [
    "BACKENDS",
    "PG_URL_ENV",
    "drop_pg_schema",
    "pg_check",
    "pg_store",
    "pg_unreachable_reason",
    "pg_url",
    "rabbitmq_url",
    "redis_url",
    "services_check",
    "shared_pg_store",
    "sqlite_store",
    "store_for_test",
]

BACKENDS = ("sqlite", "postgresql")
REQUIRE_ENV = "SHOPBRIDGE_REQUIRE_SERVICES"

PG_URL_ENV = "SHOPBRIDGE_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def pg_url() -> str:
    return os.environ.get(PG_URL_ENV, DEFAULT_PG_URL)


def pg_unreachable_reason(url: str | None = None) -> str | None:
    """None when the PostgreSQL server answers; else why not. Raises ImportError without psycopg."""
    import psycopg  # noqa: F401  - a missing driver must fail loudly, not skip

    target = to_url(url or pg_url())
    engine = create_engine(target, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"PostgreSQL at {target.render_as_string(hide_password=True)} unreachable: {exc}"
    finally:
        engine.dispose()
    return None


def drop_pg_schema(schema: str, url: str | None = None) -> None:
    engine = create_engine(to_url(url or pg_url()))
    try:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        engine.dispose()


@contextmanager
def pg_store(
    data_dir: Path, *, schema: str | None = None, key: bytes | None = None, keep: bool = False
) -> Iterator[Store]:
    """A migrated store in a fresh PostgreSQL schema (dropped on exit unless ``keep``)."""
    schema = schema or f"sbtest_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    store = open_store(pg_url(), data_dir=data_dir, schema=schema, key=key or Fernet.generate_key())
    try:
        yield store
    finally:
        store.close()
        if not keep:
            drop_pg_schema(schema)


def pg_check() -> None:
    """In a test: skip when PostgreSQL is unreachable, fail instead under SHOPBRIDGE_REQUIRE_SERVICES=1."""
    import pytest

    reason = pg_unreachable_reason()
    if reason is None:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} (and {REQUIRE_ENV}=1)")
    pytest.skip(reason)


RABBITMQ_URL_ENV = "SHOPBRIDGE_TEST_BROKER_URL"
REDIS_URL_ENV = "SHOPBRIDGE_TEST_REDIS_URL"


def rabbitmq_url() -> str:
    return os.environ.get(RABBITMQ_URL_ENV, "amqp://guest:guest@127.0.0.1:5672//")


def redis_url() -> str:
    return os.environ.get(REDIS_URL_ENV, "redis://127.0.0.1:6379/0")


def _rabbitmq_unreachable() -> str | None:
    import kombu

    try:
        with kombu.Connection(rabbitmq_url(), connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        return f"RabbitMQ at {rabbitmq_url().split('@')[-1]} unreachable: {exc}"
    return None


def _redis_unreachable() -> str | None:
    import redis

    try:
        redis.Redis.from_url(redis_url(), socket_timeout=3).ping()
    except Exception as exc:
        return f"Redis at {redis_url()} unreachable: {exc}"
    return None


def services_check(*names: str) -> None:
    """In a test: skip unless every named service ("postgresql", "rabbitmq", "redis") answers;
    under SHOPBRIDGE_REQUIRE_SERVICES=1 fail instead of skipping."""
    import pytest

    probes = {
        "postgresql": pg_unreachable_reason,
        "rabbitmq": _rabbitmq_unreachable,
        "redis": _redis_unreachable,
    }
    for name in names:
        reason = probes[name]()
        if reason is None:
            continue
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason} (and {REQUIRE_ENV}=1)")
        pytest.skip(reason)


@contextmanager
def store_for_test(
    backend: str, data_dir: Path, *, key: bytes | None = None, fresh: bool = False
) -> Iterator[Store]:
    """An empty migrated store on ``"sqlite"`` or ``"postgresql"`` (skipping via :func:`pg_check`).

    By default it is fast: SQLite copies a database migrated once per process, PostgreSQL empties a
    schema migrated once per process. ``fresh=True`` migrates from nothing (for migration tests).
    """
    if backend == "sqlite":
        with sqlite_store(data_dir, key=key, fresh=fresh) as store:
            yield store
    elif backend == "postgresql":
        pg_check()
        if fresh:
            with pg_store(data_dir, key=key) as store:
                yield store
        else:
            with shared_pg_store(data_dir, key=key) as store:
                yield store
    else:
        raise ValueError(f"unknown backend {backend!r}")


_template: dict[str, Path | str] = {}
_template_lock = threading.Lock()


def _sqlite_template() -> Path:
    with _template_lock:
        if "sqlite" not in _template:
            folder = Path(tempfile.mkdtemp(prefix="sbtest-template-"))
            open_store(data_dir=folder, key=Fernet.generate_key()).close()  # closing checkpoints the WAL
            atexit.register(shutil.rmtree, folder, True)
            _template["sqlite"] = folder / DB_FILENAME
        return Path(_template["sqlite"])


@contextmanager
def sqlite_store(data_dir: Path, *, key: bytes | None = None, fresh: bool = False) -> Iterator[Store]:
    """A migrated store in ``<data_dir>/shopbridge.sqlite`` (a copy of a template unless ``fresh``)."""
    if not fresh:
        target = ensure_data_dir(data_dir) / DB_FILENAME
        if not target.exists():
            shutil.copyfile(_sqlite_template(), target)
    store = open_store(data_dir=data_dir, key=key or Fernet.generate_key())
    try:
        yield store
    finally:
        store.close()


def _shared_pg_schema() -> str:
    with _template_lock:
        if "pg" not in _template:
            _drop_orphan_schemas()
            name = f"sbtest_{os.getpid()}_{uuid.uuid4().hex[:8]}"
            open_store(pg_url(), schema=name, key=Fernet.generate_key()).close()
            atexit.register(drop_pg_schema, name)
            _template["pg"] = name
        return str(_template["pg"])


def _drop_orphan_schemas() -> None:
    """Drop ``sbtest_<pid>_*`` schemas left by test processes that no longer run (on this machine)."""
    engine = create_engine(to_url(pg_url()))
    try:
        with engine.begin() as conn:
            names = conn.execute(
                text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'sbtest\\_%'")
            ).scalars()
            for name in list(names):
                parts = name.split("_")
                if len(parts) >= 3 and parts[1].isdigit() and not _pid_alive(int(parts[1])):
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    finally:
        engine.dispose()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def shared_pg_store(data_dir: Path, *, key: bytes | None = None) -> Iterator[Store]:
    """A store on this process's shared test schema, emptied first (``TRUNCATE ... RESTART IDENTITY``)."""
    schema = _shared_pg_schema()
    store = open_store(pg_url(), data_dir=data_dir, schema=schema, key=key or Fernet.generate_key())
    try:
        tables = ", ".join(f'"{t.name}"' for t in reversed(Base.metadata.sorted_tables))
        with store.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        yield store
    finally:
        store.close()
