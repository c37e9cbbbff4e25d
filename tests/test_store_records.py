"""Connections, bindings, cursors, web hook dedupe, usage, the journal; constraints enforced by the DB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from shopbridge.store import BindingConflict, ConnectionExists, TransferState, UnknownConnection, content_hash
from shopbridge.store.schema import Binding, Transfer
from store_backends import BACKENDS, store_for_test

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    with store_for_test(request.param, tmp_path) as s:
        yield s


@pytest.fixture
def conn(store):
    return store.connections.create(
        "shop", starweb_base_url="http://127.0.0.1:1/api/v2", settings={"document_type": "invoice_draft"}
    )


def test_connections(store, conn):
    assert store.connections.find("shop").id == conn.id == store.connections.find(str(conn.id)).id
    with pytest.raises(ConnectionExists):
        store.connections.create("shop")
    with pytest.raises(UnknownConnection):
        store.connections.get(999)
    new = store.connections.update_settings(conn.id, {"trigger_status_ids": [1, 5], "document_type": None})
    assert new == {"trigger_status_ids": [1, 5]}
    store.connections.set_paused(conn.id, True)
    assert store.connections.all(include_paused=False) == []
    assert store.connections.update(conn.id, name="renamed").name == "renamed"
    with pytest.raises(TypeError):
        store.connections.update(conn.id, settings={})


def test_bindings_both_directions_unique(store, conn):
    store.bindings.bind(conn.id, "customer", 42, "v-42", visma_number="10042", content_hash="h1")
    assert store.bindings.get(conn.id, "customer", "42").visma_number == "10042"
    assert store.bindings.get_by_visma(conn.id, "customer", "v-42").starweb_id == "42"
    assert store.bindings.is_up_to_date(conn.id, "customer", 42, "h1")
    assert not store.bindings.is_up_to_date(conn.id, "customer", 42, "h2")
    store.bindings.bind(conn.id, "customer", 42, "v-43")  # re-bind replaces
    assert store.bindings.visma_id(conn.id, "customer", 42) == "v-43"
    # one Visma customer may stand for many Starweb customers (a returning guest)
    store.bindings.bind(conn.id, "customer", 77, "v-43")
    assert store.bindings.visma_id(conn.id, "customer", 77) == "v-43"
    store.bindings.bind(conn.id, "article", 77, "v-43")  # another entity type is another namespace
    with pytest.raises(BindingConflict):
        store.bindings.bind(conn.id, "article", 78, "v-43")  # that Visma article is taken
    assert store.bindings.set_hash(conn.id, "customer", 42, "h3")
    assert store.bindings.unbind(conn.id, "customer", 42)
    assert store.bindings.get(conn.id, "customer", 42) is None


def test_unique_constraints_are_in_the_database(store, conn):
    now = T0
    row = {"connection_id": conn.id, "entity_type": "order", "synced_at": now}
    with pytest.raises(IntegrityError), store.session() as s:
        s.add_all(
            [Binding(**row, starweb_id="1", visma_id="a"), Binding(**row, starweb_id="1", visma_id="b")]
        )
    with pytest.raises(IntegrityError), store.session() as s:
        s.add_all(
            [Binding(**row, starweb_id="1", visma_id="a"), Binding(**row, starweb_id="2", visma_id="a")]
        )
    t = {"connection_id": conn.id, "state": "pending", "warnings": [], "created_at": now, "updated_at": now}
    with pytest.raises(IntegrityError), store.session() as s:
        s.add_all([Transfer(**t, starweb_order_id="1"), Transfer(**t, starweb_order_id="1")])
    with pytest.raises(IntegrityError), store.session() as s:
        s.add(Transfer(**{**t, "state": "lost"}, starweb_order_id="2"))  # the state CHECK
    with pytest.raises(IntegrityError), store.session() as s:
        s.add(Transfer(**{**t, "connection_id": 9999}, starweb_order_id="3"))  # foreign key
    with pytest.raises(IntegrityError), store.session() as s:
        s.execute(
            text(
                "INSERT INTO webhook_events (uuid, connection_id, received_at)"
                " VALUES ('u', :c, :t), ('u', :c, :t)"
            ),
            {"c": conn.id, "t": now.replace(tzinfo=None)},
        )


def test_cursors(store, conn):
    assert store.cursors.get(conn.id, "orders.created", "2026-01-01T00:00:00Z") == "2026-01-01T00:00:00Z"
    store.cursors.set(conn.id, "orders.created", "2026-11-01T10:00:00Z")
    store.cursors.set(conn.id, "orders.created", "2026-11-01T11:00:00Z")
    with store.session() as s:  # a cursor committed together with the data it describes
        store.cursors.set_in(s, conn.id, "customers.changed", "x")
    assert store.cursors.all(conn.id) == {"customers.changed": "x", "orders.created": "2026-11-01T11:00:00Z"}
    assert store.cursors.delete(conn.id, "customers.changed")


def test_webhook_dedupe(store, conn):
    payload = {"uuid": "8f1c", "eventId": "order-created", "orderId": 101, "totalAmount": Decimal("125.50")}
    assert store.webhooks.record(conn.id, "8f1c", payload, now=T0) is True
    assert store.webhooks.record(conn.id, "8f1c", payload, now=T0) is False  # resent by Starweb
    assert store.webhooks.seen("8f1c")
    assert store.webhooks.recent(conn.id)[0].payload["totalAmount"] == "125.50"
    assert store.webhooks.purge(timedelta(hours=6), now=T0 + timedelta(hours=7)) == 1
    assert not store.webhooks.seen("8f1c")


def test_usage_increments(store, conn):
    store.usage.increment(conn.id, "2026-11", orders=2)
    store.usage.increment(conn.id, "2026-11")
    store.usage.increment(conn.id, "2026-12", orders=5)
    assert store.usage.get(conn.id, "2026-11").transferred_orders == 3
    assert store.usage.get(conn.id, "2026-11").shops == 1
    assert [u.month for u in store.usage.history(conn.id)] == ["2026-11", "2026-12"]
    assert store.usage.total_orders("2026-12") == 5


def test_journal(store, conn):
    t = store.transfers.upsert_pending(conn.id, 5, now=T0)
    a1 = store.journal.start(t.id, {"sent": {"Rows": 3, "Total": Decimal("125.00")}}, now=T0)
    store.journal.update(a1, response={"Id": "doc"})
    store.journal.finish(a1, TransferState.TRANSFERRED, now=T0 + timedelta(seconds=1))
    store.journal.record(
        t.id, "waiting_for_fix", error="Article 'X' does not exist", now=T0 + timedelta(seconds=2)
    )
    attempts = store.journal.for_transfer(t.id)
    assert [a.outcome for a in attempts] == ["transferred", "waiting_for_fix"]
    assert attempts[0].request == {"sent": {"Rows": 3, "Total": "125.00"}} and attempts[0].response == {
        "Id": "doc"
    }
    assert store.journal.last(t.id).error == "Article 'X' does not exist"
    assert store.journal.purge_successful(timedelta(days=30), now=T0 + timedelta(days=31)) == 1
    assert len(store.journal.for_transfer(t.id)) == 1


def test_timestamps_are_aware_utc(store, conn):
    t = store.transfers.upsert_pending(conn.id, 6, now=T0)
    assert store.transfers.get(t.id).created_at == T0
    assert store.transfers.get(t.id).created_at.tzinfo is not None
    with pytest.raises(Exception, match="naive"):
        store.transfers.upsert_pending(conn.id, 7, now=datetime(2026, 1, 1))


def test_deleting_a_connection_removes_everything_of_it(store, conn):
    t = store.transfers.upsert_pending(conn.id, 1, now=T0)
    store.journal.record(t.id, "transferred")
    store.bindings.bind(conn.id, "order", 1, "d")
    store.cursors.set(conn.id, "c", "v")
    store.webhooks.record(conn.id, "u", {})
    store.usage.increment(conn.id, "2026-11")
    assert store.connections.delete(conn.id)
    with store.engine.connect() as c:
        for table in ("transfers", "attempts", "bindings", "cursors", "webhook_events", "usage"):
            assert c.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table


def test_content_hash_is_stable():
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": Decimal("1.10")}) != content_hash({"a": Decimal("1.1")})
