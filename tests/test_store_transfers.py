"""The transfer state machine: claims, intents, outcomes, fencing, stale release, restarts."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta

import pytest

from shopbridge.domain.models import Warning
from shopbridge.store import (
    BindingConflict,
    ClaimLost,
    DuplicateDocument,
    IntentConflict,
    InvalidTransition,
    TransferState,
    backoff,
    open_store,
)
from store_backends import BACKENDS, pg_url, store_for_test

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def store(backend, tmp_path):
    with store_for_test(backend, tmp_path) as s:
        yield s


@pytest.fixture
def conn(store):
    return store.connections.create("shop")


def test_upsert_pending_is_idempotent(store, conn):
    t1 = store.transfers.upsert_pending(conn.id, 101, starweb_order_number=1001, now=T0)
    t2 = store.transfers.upsert_pending(conn.id, "101", now=T0 + timedelta(minutes=5))
    assert t1.id == t2.id and t2.state == "pending" and t2.next_attempt_at == T0
    assert t2.starweb_order_number == "1001"
    assert store.transfers.counts(conn.id)["pending"] == 1
    assert store.transfers.find(conn.id, "1001").id == t1.id


def test_happy_path_records_document_binding_and_usage(store, conn):
    store.transfers.upsert_pending(conn.id, 101, starweb_order_number="1001", now=T0)
    [t] = store.transfers.claim_due(conn.id, T0, worker="w1")
    assert t.state == TransferState.IN_PROGRESS and t.attempts == 1 and t.claim_token and t.claimed_by == "w1"
    assert store.transfers.claim_due(conn.id, T0) == []  # already taken
    t = store.transfers.record_intent(t, "shopbridge:1:1001", document_type="invoice_draft", now=T0)
    assert t.intent_key == "shopbridge:1:1001" and t.intent_at == T0
    w = Warning(code="shortened", message="name shortened", field="name")
    done = store.transfers.mark_transferred(t, "doc-uuid-1", 5001, warnings=[w], now=T0)
    assert done.state == "transferred" and done.visma_document_number == "5001" and done.claim_token is None
    assert done.warnings == [w.model_dump(mode="json")]
    b = store.bindings.get(conn.id, "order", 101)
    assert b.visma_id == "doc-uuid-1" and b.visma_number == "5001"
    assert store.usage.get(conn.id, "2026-11").transferred_orders == 1
    # idempotent, counted once
    store.transfers.mark_transferred(done.id, "doc-uuid-1", 5001, now=T0)
    assert store.usage.get(conn.id, "2026-11").transferred_orders == 1
    with pytest.raises(DuplicateDocument, match="should be removed"):
        store.transfers.mark_transferred(done.id, "doc-uuid-2", 5002, now=T0)
    with pytest.raises(InvalidTransition):
        store.transfers.retry(done.id)


def test_due_rules_and_order(store, conn):
    for i, delay in enumerate([30, 0, 10]):
        store.transfers.upsert_pending(conn.id, i, now=T0 + timedelta(minutes=delay))
    assert [t.starweb_order_id for t in store.transfers.claim_due(conn.id, T0 + timedelta(minutes=15))] == [
        "1",
        "2",
    ]
    assert store.transfers.next_due_at(conn.id) == T0 + timedelta(minutes=30)
    assert len(store.transfers.claim_due(conn.id, T0 + timedelta(hours=1), limit=5)) == 1


def test_waiting_states(store, conn):
    for oid in ("a", "b", "c"):
        store.transfers.upsert_pending(conn.id, oid, now=T0)
    a, b, c = store.transfers.claim_due(conn.id, T0, limit=3)
    store.transfers.mark_waiting(a, "Visma did not answer in time", T0 + backoff(a.attempts))
    store.transfers.mark_waiting(
        b, "Article 'X-1' does not exist in Visma", None, state=TransferState.WAITING_FOR_FIX
    )
    store.transfers.mark_waiting(
        c, "The monthly limit is reached", T0 + timedelta(days=30), state=TransferState.WAITING_FOR_QUOTA
    )
    with pytest.raises(ValueError):
        store.transfers.mark_waiting(a.id, "x", None)  # pending without retry time would be lost
    with pytest.raises(InvalidTransition):
        store.transfers.mark_waiting(a.id, "x", T0, state=TransferState.SKIPPED)
    assert store.transfers.get(b.id).last_error == "Article 'X-1' does not exist in Visma"
    [again] = store.transfers.claim_due(conn.id, T0 + timedelta(minutes=2), limit=10)
    assert again.id == a.id and again.attempts == 2
    # a web hook wakes the one waiting for a fix; a retry by a person resets attempts
    store.transfers.upsert_pending(conn.id, "b", wake=True, now=T0 + timedelta(minutes=3))
    [woken] = store.transfers.claim_due(conn.id, T0 + timedelta(minutes=3))
    assert woken.id == b.id and woken.attempts == 2
    store.transfers.mark_waiting(woken, "still missing", None, state=TransferState.WAITING_FOR_FIX)
    assert store.transfers.retry_all(conn.id, now=T0 + timedelta(minutes=4)) == 1
    assert store.transfers.get(b.id).attempts == 0


def test_backoff():
    assert backoff(1) == timedelta(minutes=1)
    assert backoff(3) == timedelta(minutes=4)
    assert backoff(50) == timedelta(hours=6)
    assert backoff(10_000) == timedelta(hours=6)


def test_needs_review_records_the_document(store, conn):
    store.transfers.upsert_pending(conn.id, 7, now=T0)
    [t] = store.transfers.claim_due(conn.id, T0)
    details = {"starweb": {"total": "100.00"}, "visma": {"total": "100.05"}}
    r = store.transfers.mark_needs_review(
        t, "Totals differ", details, visma_document_id="d7", visma_document_number=7
    )
    assert r.state == "needs_review" and r.details == details and r.next_attempt_at is None
    assert store.bindings.get(conn.id, "order", 7).visma_id == "d7"
    assert store.transfers.claim_due(conn.id, T0 + timedelta(days=1)) == []  # never retried by itself
    retried = store.transfers.retry(r.id, now=T0)
    assert retried.state == "pending" and retried.visma_document_id == "d7"  # the flow must see it exists


def test_skip(store, conn):
    store.transfers.upsert_pending(conn.id, 8, now=T0)
    [t] = store.transfers.claim_due(conn.id, T0)
    assert store.transfers.mark_skipped(t, "Created before the start date").state == "skipped"


def test_intent_rules(store, conn):
    store.transfers.upsert_pending(conn.id, 9, now=T0)
    [t] = store.transfers.claim_due(conn.id, T0)
    store.transfers.record_intent(t, "k1", now=T0)
    assert store.transfers.record_intent(t, "k1", now=T0 + timedelta(minutes=1)).intent_at == T0
    with pytest.raises(IntentConflict):
        store.transfers.record_intent(t, "k2")
    assert store.transfers.record_intent(t, "k2", replace=True).intent_key == "k2"


def test_claims_are_fenced_after_a_stale_release(store, conn):
    store.transfers.upsert_pending(conn.id, 10, now=T0)
    [old] = store.transfers.claim_due(conn.id, T0, worker="slow")
    store.transfers.record_intent(old, "key-10", now=T0)
    assert store.transfers.release_stale(timedelta(minutes=10), now=T0 + timedelta(minutes=5)) == 0
    assert store.transfers.release_stale(timedelta(minutes=10), now=T0 + timedelta(minutes=11)) == 1
    stale = store.transfers.get(old.id)
    assert stale.state == "pending" and stale.intent_key == "key-10" and "restarted" in stale.last_error
    [new] = store.transfers.claim_due(conn.id, T0 + timedelta(minutes=11), worker="fresh")
    assert new.intent_key == "key-10" and new.attempts == 2  # the new worker knows to reconcile first
    with pytest.raises(ClaimLost):
        store.transfers.record_intent(old, "key-10")
    with pytest.raises(ClaimLost):
        store.transfers.mark_waiting(old, "timeout", T0)
    # a document the slow worker did create is still recorded: facts are never dropped
    store.transfers.mark_transferred(old, "doc-10", 10)
    with pytest.raises(ClaimLost):
        store.transfers.mark_waiting(new, "x", T0)


def test_release_gives_back_without_counting(store, conn):
    store.transfers.upsert_pending(conn.id, 11, now=T0)
    [t] = store.transfers.claim_due(conn.id, T0)
    back = store.transfers.release(t, now=T0)
    assert back.state == "pending" and back.attempts == 0 and back.claim_token is None


def test_binding_conflict_rolls_back_the_transfer(store, conn):
    store.bindings.bind(conn.id, "order", "other-order", "doc-x")
    store.transfers.upsert_pending(conn.id, 12, now=T0)
    [t] = store.transfers.claim_due(conn.id, T0)
    with pytest.raises(BindingConflict):
        store.transfers.mark_transferred(t, "doc-x", 1)
    assert store.transfers.get(t.id).state == "in_progress"
    assert store.usage.get(conn.id, "2026-11") is None


def test_claim_due_from_two_threads_never_hands_out_a_row_twice(store, conn, backend, tmp_path):
    n = 60
    for i in range(n):
        store.transfers.upsert_pending(conn.id, i, now=T0)
    # each worker gets its own Store (own engine and connections), like a separate process
    if backend == "sqlite":
        urls = [str(store.engine.url)] * 2
        kwargs = {}
    else:
        urls = [pg_url()] * 2
        kwargs = {"schema": store.engine.dialect.default_schema_name}
        with store.engine.connect() as c:
            kwargs["schema"] = c.exec_driver_sql("SELECT current_schema()").scalar()
    got: dict[str, list[int]] = {"a": [], "b": []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker(name: str, url: str) -> None:
        try:
            s = open_store(url, migrate_db=False, key=b"x" * 43 + b"=", **kwargs)
            start.wait()
            while True:
                batch = s.transfers.claim_due(conn.id, T0, limit=3, worker=name)
                if not batch:
                    break
                got[name].extend(t.id for t in batch)
                assert all(t.claimed_by == name and t.state == "in_progress" for t in batch)
            s.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=(name, url)) for name, url in zip("ab", urls, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    both = got["a"] + got["b"]
    assert len(both) == len(set(both)) == n
    assert set(got["a"]).isdisjoint(got["b"])
    assert all(t.attempts == 1 for t in store.transfers.all(conn.id, limit=n))


def test_intent_survives_a_killed_worker(store, conn, backend, tmp_path):
    """A worker process records its intent and dies before answering: a new Store sees the intent."""
    store.transfers.upsert_pending(conn.id, 500, starweb_order_number="1500", now=T0)
    if backend == "sqlite":
        target, schema = str(store.engine.url), None
    else:
        target = pg_url()
        with store.engine.connect() as c:
            schema = c.exec_driver_sql("SELECT current_schema()").scalar()
    script = textwrap.dedent(
        f"""
        import os
        from datetime import datetime, UTC
        from shopbridge.store import open_store
        s = open_store({target!r}, schema={schema!r}, migrate_db=False, key=b"y" * 43 + b"=")
        [t] = s.transfers.claim_due({conn.id}, datetime(2026, 11, 1, 12, 0, tzinfo=UTC), worker="doomed")
        s.transfers.record_intent(t, "shopbridge:{conn.id}:1500")
        s.journal.start(t.id, {{"create": "invoice_draft", "YourReference": "1500"}})
        os._exit(137)  # killed right before the remote create answers
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 137, proc.stderr
    store.close()
    with (
        open_store(target, schema=schema, migrate_db=False, key=b"z" * 43 + b"=")
        if schema
        else open_store(target, key=b"z" * 43 + b"=")
    ) as fresh:
        t = fresh.transfers.get_by_order(conn.id, 500)
        assert t.state == "in_progress" and t.intent_key == f"shopbridge:{conn.id}:1500"
        [attempt] = fresh.journal.for_transfer(t.id)
        assert attempt.finished_at is None  # where it died shows in the journal
        assert fresh.transfers.release_stale(timedelta(0), now=datetime.now(UTC) + timedelta(seconds=1)) == 1
        [again] = fresh.transfers.claim_due(conn.id, datetime.now(UTC) + timedelta(seconds=2), worker="w2")
        assert again.intent_key == f"shopbridge:{conn.id}:1500"
