"""Migrations from empty on SQLite and PostgreSQL; models and migrations agree; settings of the engine."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from shopbridge.store import StoreError, open_store
from shopbridge.store.db import current_revision, head_revision, migrate, to_url
from shopbridge.store.schema import Base
from store_backends import BACKENDS, pg_check, store_for_test

TABLES = {"connections", "secrets", "bindings", "cursors", "transfers", "attempts", "webhook_events", "usage"}


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    with store_for_test(request.param, tmp_path, fresh=True) as s:
        yield s


def test_migrates_from_empty_to_head(store):
    tables = set(inspect(store.engine).get_table_names())
    assert tables >= TABLES and "alembic_version" in tables
    assert current_revision(store.engine) == head_revision()


def test_models_match_migrations(store):
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"schema.py and the migrations disagree: {diff}"


def test_migrate_is_idempotent_and_reopen_keeps_data(store):
    c = store.connections.create("shop")
    migrate(store.engine)
    migrate(store.engine)
    assert store.connections.get(c.id).name == "shop"


def test_downgrade_and_upgrade_again(store):
    from alembic import command

    from shopbridge.store.db import _alembic_config

    with store.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "base")
    assert not (TABLES & set(inspect(store.engine).get_table_names()))
    migrate(store.engine)
    assert set(inspect(store.engine).get_table_names()) >= TABLES


def test_refuses_a_database_from_a_newer_shopbridge(store):
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(StoreError, match="newer shopbridge"):
        migrate(store.engine)


def test_sqlite_pragmas_and_file_location(tmp_path):
    store = open_store(data_dir=tmp_path / "data")
    try:
        assert store.engine.url.database == str(tmp_path / "data" / "shopbridge.sqlite")
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert (tmp_path / "data" / ".gitignore").read_text().strip().endswith("*")
    finally:
        store.close()


def test_default_data_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPBRIDGE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    with open_store() as store:
        assert store.data_dir == (tmp_path / "home").resolve()
        assert (tmp_path / "home" / "shopbridge.sqlite").exists()
    monkeypatch.delenv("SHOPBRIDGE_HOME")
    with open_store() as store:
        assert store.data_dir == (tmp_path / ".shopbridge").resolve()


def test_url_forms(tmp_path):
    assert to_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert to_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert to_url(tmp_path).database == str(tmp_path.resolve() / "shopbridge.sqlite")
    assert to_url(tmp_path / "x.db").database == str((tmp_path / "x.db").resolve())
    with pytest.raises(StoreError):
        open_store("sqlite://")
    with pytest.raises(StoreError):
        open_store("mysql://u@h/db")


def test_concurrent_first_starts_on_postgres_migrate_once():
    """Three stores opening one new schema at once: the advisory lock lets exactly one migrate."""
    import threading
    import uuid

    from cryptography.fernet import Fernet

    from store_backends import drop_pg_schema, pg_url

    pg_check()
    name = f"sbtest_race_{uuid.uuid4().hex[:8]}"
    errors: list[BaseException] = []
    key = Fernet.generate_key()

    def opener():
        try:
            open_store(pg_url(), schema=name, key=key).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with open_store(pg_url(), schema=name, key=key) as store:
            assert current_revision(store.engine) == head_revision()
    finally:
        drop_pg_schema(name)
