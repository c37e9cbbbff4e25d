"""Retention and file modes: what the store forgets after `retention_days`, the engine's daily purge,
and the database, its WAL/SHM and the data directory private to their owner."""

from __future__ import annotations

import asyncio
import io
import os
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shopbridge.engine.embedded import run_embedded
from shopbridge.logs import configure_logging
from shopbridge.store import Store, open_store, utcnow
from shopbridge.store.retention import purge
from shopbridge.store.schema import Attempt, Transfer
from store_backends import BACKENDS, store_for_test

OLD = timedelta(days=120)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    with store_for_test(request.param, tmp_path) as s:
        yield s


def _transfer(s: Store, cid: int, order: str, state: str, age: timedelta, **fields: Any) -> int:
    when = utcnow() - age
    with s.session() as db:
        row = Transfer(
            connection_id=cid,
            starweb_order_id=order,
            state=state,
            created_at=when,
            updated_at=when,
            **fields,
        )
        db.add(row)
        db.flush()
        return row.id


def _attempt(s: Store, transfer_id: int, age: timedelta) -> int:
    when = utcnow() - age
    with s.session() as db:
        row = Attempt(
            transfer_id=transfer_id, started_at=when, finished_at=when, outcome="x", request={"a": 1}
        )
        db.add(row)
        db.flush()
        return row.id


def _attempt_ids(s: Store, transfer_id: int) -> list[int]:
    return [a.id for a in s.journal.for_transfer(transfer_id)]


def seed(s: Store) -> dict[str, Any]:
    conn = s.connections.create("keep", settings={"retention_days": 90})
    other = s.connections.create("other")
    done = _transfer(
        s, conn.id, "1", "transferred", OLD, details={"shop": "x"}, warnings=[{"message": "m"}],
        last_error="customer@example.com was shortened", visma_document_id="D1",
    )  # fmt: skip
    waiting = _transfer(s, conn.id, "2", "waiting_for_fix", OLD, last_error="no postal code")
    fresh = _transfer(s, conn.id, "3", "transferred", timedelta(days=1), details={"shop": "y"})
    ids = {
        "done_old": _attempt(s, done, OLD),
        "waiting_old": _attempt(s, waiting, OLD + timedelta(days=1)),
        "waiting_newest": _attempt(s, waiting, OLD),
        "fresh_attempt": _attempt(s, fresh, timedelta(days=1)),
    }
    s.webhooks.record(conn.id, "old-hook", {"orderId": 1}, now=utcnow() - OLD)
    s.webhooks.record(conn.id, "new-hook", {"orderId": 2})
    s.webhooks.record(other.id, "other-old", {"orderId": 3}, now=utcnow() - OLD)
    return {"conn": conn, "other": other, "done": done, "waiting": waiting, "fresh": fresh, **ids}


def test_purge_forgets_old_journal_hooks_and_customer_data_but_keeps_what_prevents_doubles(
    store: Store,
) -> None:
    x = seed(store)
    done = purge(store, x["conn"].id, timedelta(days=90))
    assert (done.attempts, done.webhooks, done.transfers_cleared) == (2, 1, 1)
    assert _attempt_ids(store, x["done"]) == []
    assert _attempt_ids(store, x["waiting"]) == [x["waiting_newest"]]  # its reason stays readable
    assert _attempt_ids(store, x["fresh"]) == [x["fresh_attempt"]]
    old = store.transfers.get(x["done"])
    assert old is not None and old.visma_document_id == "D1" and old.state == "transferred"
    assert old.details is None and old.warnings == [] and old.last_error is None
    assert store.transfers.get(x["fresh"]).details == {"shop": "y"}
    assert store.transfers.get(x["waiting"]).last_error == "no postal code"
    assert not store.webhooks.seen("old-hook") and store.webhooks.seen("new-hook")
    assert store.webhooks.seen("other-old")  # another connection's: its own retention decides
    assert purge(store, x["conn"].id, timedelta(days=90)).total == 0  # nothing left to do


def test_the_engine_purges_at_start_and_then_daily(tmp_path: Path) -> None:
    store = open_store(data_dir=tmp_path)
    x = seed(store)
    store.connections.update_settings(x["other"].id, {"retention_days": 30})

    async def run() -> None:
        stop = asyncio.Event()
        ready = asyncio.Event()
        task = asyncio.create_task(
            run_embedded(
                store, port=0, ops_port=None, stop=stop, on_ready=lambda _p: ready.set(), purge_every_s=3600
            )
        )
        await asyncio.wait_for(ready.wait(), 30)
        for _ in range(200):
            if not store.webhooks.seen("other-old"):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 30)

    try:
        asyncio.run(run())
        assert not store.webhooks.seen("old-hook") and not store.webhooks.seen("other-old")
        assert _attempt_ids(store, x["done"]) == []
        assert store.webhooks.seen("new-hook")
    finally:
        store.close()


def test_database_wal_and_shm_are_private_whatever_the_directory(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    old = os.umask(0o022)
    try:
        store = open_store(data_dir=shared)
        store.connections.create("c")  # a write: the WAL and SHM files exist now
        files = [
            shared / "shopbridge.sqlite",
            shared / "shopbridge.sqlite-wal",
            shared / "shopbridge.sqlite-shm",
        ]
        assert all(f.exists() for f in files)
        assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {f.name: 0o600 for f in files}
        store.close()
        made = tmp_path / "new-home"
        open_store(data_dir=made).close()
        assert stat.S_IMODE(made.stat().st_mode) == 0o700  # created by us: private
    finally:
        os.umask(old)


def test_a_wider_database_file_is_narrowed_and_a_wider_directory_warned(tmp_path: Path) -> None:
    home = tmp_path / "home"
    open_store(data_dir=home).close()
    os.chmod(home, 0o755)
    os.chmod(home / "shopbridge.sqlite", 0o644)
    out = io.StringIO()
    configure_logging("WARNING", stream=out)
    try:
        open_store(data_dir=home).close()
    finally:
        configure_logging("WARNING")
    assert stat.S_IMODE((home / "shopbridge.sqlite").stat().st_mode) == 0o600
    assert "data_dir.open_to_others" in out.getvalue() and "chmod 700" in out.getvalue()
    assert "store.file_narrowed" in out.getvalue()


def test_webhooks_are_deduplicated_per_connection(store: Store) -> None:
    a = store.connections.create("a")
    b = store.connections.create("b")
    assert store.webhooks.record(a.id, "same-uuid", {})
    assert store.webhooks.record(b.id, "same-uuid", {})  # another shop's event: not a resend
    assert not store.webhooks.record(a.id, "same-uuid", {})


def test_files_with_customer_data_are_created_private(tmp_path: Path) -> None:
    from shopbridge.store.paths import private_file

    old = os.umask(0o022)
    try:
        new = private_file(tmp_path / "plan.csv")
        assert stat.S_IMODE(new.stat().st_mode) == 0o600
        wide = tmp_path / "old.csv"
        wide.write_text("sku\n")
        os.chmod(wide, 0o644)
        assert stat.S_IMODE(private_file(wide).stat().st_mode) == 0o600 and wide.read_text() == "sku\n"
    finally:
        os.umask(old)
