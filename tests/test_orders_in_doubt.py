"""Late answers and recovery: a create whose answer is lost waits in doubt; duplicates are resolved;
every recovery path works in a fresh data directory (a new installation on the same shop and books).

Real HTTP to both sandboxes; the Visma sandbox's late-delivery fault applies a write only after the
client has given up (`late_s` beyond the client's timeout), as a slow gateway or a lost response does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from shopbridge.onboarding import connect_sandboxes
from shopbridge.store import TransferState, open_store
from shopbridge.sync.base import Hint
from shopbridge.sync.context import open_context
from shopbridge.sync.orders import OrderFlow
from shopbridge.visma.schemas import CustomerInvoiceDraft
from shopbridge.visma.schemas import Order as VismaOrder

from e2e import STARWEB_LIMIT, Env, env_fixture

pytestmark = pytest.mark.asyncio(loop_scope="session")

GRACE_S = 4.0
LATE_S = 2.0  # the client gives up after TIMEOUT_S, looks once, and the create lands LATE_S after it arrived
TIMEOUT_S = 0.5


async def _setup(env: Env) -> None:
    env.configure(in_doubt_grace_s=GRACE_S)


env = env_fixture("in_doubt", _setup)


async def _sku(env: Env) -> str:
    articles = (await env.visma_get("articles", **{"$filter": "IsActive eq true"}))["Data"]
    return next(a["Number"] for a in articles if a["Number"].startswith("SW-"))


async def _sweep(env: Env, order_id: int, *, timeout: float | None = None) -> None:
    async with env.context() as ctx:
        if timeout is not None:
            ctx.visma._http.timeout = httpx.Timeout(timeout)
            ctx.visma.retry.max_attempts = 1
            ctx.visma.reconcile_delay_s = 0.2
        await OrderFlow(ctx).sweep([Hint("order", str(order_id))])


def _late(env: Env, path: str) -> None:
    faults = {"late_rate": 1.0, "late_s": LATE_S, "paths": [path], "seed": 1}
    env.admin("visma", "POST", "/faults", json=faults).raise_for_status()


def _no_faults(env: Env) -> None:
    env.admin("visma", "PUT", "/faults", json={}).raise_for_status()


async def _wait_for_docs(env: Env, order_id: int, n: int, kind: str = "customerinvoicedrafts") -> list:
    for _ in range(50):
        docs = await env.documents_for(order_id, kind)
        if len(docs) >= n:
            return docs
        await asyncio.sleep(0.1)
    raise AssertionError(f"order {order_id}: {n} documents never landed")


async def test_a_late_create_waits_in_doubt_and_is_adopted_not_doubled(env: Env) -> None:
    order = await env.new_order([{"sku": await _sku(env), "quantity": 1, "unitPrice": 50, "vatRate": 25}])
    oid = order["orderId"]
    _late(env, "customerinvoicedrafts")
    try:
        await _sweep(env, oid, timeout=TIMEOUT_S)
    finally:
        _no_faults(env)
    t = env.transfer(oid)
    assert t.state == TransferState.IN_DOUBT, t.last_error
    assert t.last_error.startswith("In doubt:") and "looks again" in t.last_error
    assert await env.documents_for(oid) == []  # nothing yet: a look right away would create a second one
    await _sweep(env, oid)  # within the grace period: nothing is created
    assert env.transfer(oid).state == TransferState.IN_DOUBT
    [late] = await _wait_for_docs(env, oid, 1)  # the late create lands
    await asyncio.sleep(GRACE_S)
    await _sweep(env, oid)
    t = env.transfer(oid)
    assert t.state == TransferState.TRANSFERRED, t.last_error
    assert [d["Id"] for d in await env.documents_for(oid)] == [late["Id"]] == [t.visma_document_id]
    written = await env.shop("GET", f"orders/{oid}/external-services/visma")
    assert written["data"]["externalIdValue"] == f"D:{late['Id']}"


async def test_a_late_customer_create_keeps_the_buyers_next_order_from_creating_another(env: Env) -> None:
    """The customer's create is answered late: the order waits in doubt, and until the grace period is
    over no order of that buyer (another worker's, another sweep's) may create the customer again."""
    address = {
        "firstName": "Sena",
        "lastName": "Svaret",
        "address": "Dröjsmålsvägen 3",
        "postalCode": "11122",
        "city": "Stockholm",
        "countryCode": "SE",
    }
    email = "sena.svaret@example.com"
    body = {"email": email, "addresses": {"invoice": address, "delivery": address}}
    buyer = (await env.shop("POST", "customers", json=body))["data"]["customerId"]
    item = {"sku": await _sku(env), "quantity": 1, "unitPrice": 40, "vatRate": 25}
    first = (await env.new_order([item], customerId=buyer))["orderId"]
    second = (await env.new_order([item], customerId=buyer))["orderId"]

    async def customers() -> list[dict]:
        return (await env.visma_get("customers", **{"$filter": f"EmailAddress eq '{email}'"}))["Data"]

    _late(env, "customers")
    try:
        await _sweep(env, first, timeout=TIMEOUT_S)
    finally:
        _no_faults(env)
    assert env.transfer(first).state == TransferState.IN_DOUBT, env.transfer(first).last_error
    await _sweep(env, second)  # right away, before the late create lands: it must not make another
    waiting = env.transfer(second)
    assert waiting.state != TransferState.TRANSFERRED
    assert "without an answer" in waiting.last_error, waiting.last_error
    for _ in range(50):  # the late create lands
        if await customers():
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(GRACE_S)
    for oid in (first, second):
        await _sweep(env, oid)
        assert env.transfer(oid).state == TransferState.TRANSFERRED, env.transfer(oid).last_error
    assert len(await customers()) == 1


async def test_two_drafts_for_one_order_the_extra_is_deleted_and_recorded(env: Env) -> None:
    order = await env.new_order([{"sku": await _sku(env), "quantity": 2, "unitPrice": 75, "vatRate": 25}])
    oid = order["orderId"]
    _late(env, "customerinvoicedrafts")
    try:
        await _sweep(env, oid, timeout=TIMEOUT_S)
    finally:
        _no_faults(env)
    [first] = await _wait_for_docs(env, oid, 1)
    # a second draft with the order's reference (what an old engine's blind re-create made)
    async with env.context() as ctx:
        await ctx.visma.drafts.create(CustomerInvoiceDraft.model_validate(first))
    assert len(await env.documents_for(oid)) == 2
    await asyncio.sleep(GRACE_S)
    await _sweep(env, oid)
    t = env.transfer(oid)
    assert t.state == TransferState.TRANSFERRED, t.last_error
    [kept] = await env.documents_for(oid)
    assert kept["Id"] == t.visma_document_id
    assert any(w["code"] == "duplicate_deleted" for w in t.warnings), t.warnings
    [attempt] = [a for a in env.store.journal.for_transfer(t.id) if a.response and a.response.get("adopted")]
    assert attempt.response["deleted_duplicates"]


async def test_two_visma_orders_for_one_order_need_review(env: Env) -> None:
    env.configure(document_type="order")
    try:
        order = await env.new_order([{"sku": await _sku(env), "quantity": 1, "unitPrice": 20, "vatRate": 25}])
        oid = order["orderId"]
        _late(env, "/v2/orders")
        try:
            await _sweep(env, oid, timeout=TIMEOUT_S)
        finally:
            _no_faults(env)
        assert env.transfer(oid).state == TransferState.IN_DOUBT
        [first] = await _wait_for_docs(env, oid, 1, "orders")
        async with env.context() as ctx:
            await ctx.visma.orders.create(VismaOrder.model_validate(first))
        await asyncio.sleep(GRACE_S)
        await _sweep(env, oid)
        t = env.transfer(oid)
        assert t.state == TransferState.NEEDS_REVIEW, t.last_error
        assert "2 documents" in t.last_error and "remove the extra one" in t.last_error
        assert len(await env.documents_for(oid, "orders")) == 2  # nothing deleted that cannot be
    finally:
        env.configure(document_type="invoice_draft")


# ---------------------------------------------------------------------- fresh data directory
async def _fresh_flow(env: Env, tmp: Path, oid: int) -> TransferState:
    """A new installation (new data directory, new connection) on the same shop and books sweeps `oid`."""
    store = open_store(data_dir=tmp)
    try:
        await connect_sandboxes(store, "again", starweb_url=env.starweb.url, visma_url=env.visma.url)
        conn = store.connections.find("again")
        store.connections.update_settings(conn.id, {"trigger_statuses": [str(env.status_id)]})
        async with open_context(store, "again", starweb_rate_limit=STARWEB_LIMIT) as ctx:
            await OrderFlow(ctx).sweep([Hint("order", str(oid))])
        t = store.transfers.get_by_order(conn.id, str(oid))
        assert t is not None
        return TransferState(t.state), t
    finally:
        store.close()


async def test_fresh_data_directory_adopts_a_written_back_order(env: Env, tmp_path: Path) -> None:
    order = await env.new_order([{"sku": await _sku(env), "quantity": 1, "unitPrice": 30, "vatRate": 25}])
    oid = order["orderId"]
    await _sweep(env, oid)
    [doc] = await env.documents_for(oid)
    state, t = await _fresh_flow(env, tmp_path, oid)
    assert state == TransferState.TRANSFERRED, t.last_error  # was: 'str' object has no attribute ...
    assert t.visma_document_id == doc["Id"]
    assert len(await env.documents_for(oid)) == 1


async def test_fresh_data_directory_adopts_a_document_never_written_back(env: Env, tmp_path: Path) -> None:
    order = await env.new_order([{"sku": await _sku(env), "quantity": 3, "unitPrice": 12, "vatRate": 25}])
    oid = order["orderId"]
    await _sweep(env, oid)
    [doc] = await env.documents_for(oid)
    await env.shop("DELETE", f"orders/{oid}/external-services/visma")  # the write-back never happened
    state, t = await _fresh_flow(env, tmp_path, oid)
    assert state == TransferState.TRANSFERRED, t.last_error
    assert t.visma_document_id == doc["Id"]
    assert len(await env.documents_for(oid)) == 1
    written = await env.shop("GET", f"orders/{oid}/external-services/visma")
    assert written["data"]["externalIdValue"] == f"D:{doc['Id']}"


async def test_fresh_data_directory_adopts_a_draft_converted_to_an_invoice(env: Env, tmp_path: Path) -> None:
    order = await env.new_order([{"sku": await _sku(env), "quantity": 1, "unitPrice": 44, "vatRate": 25}])
    oid = order["orderId"]
    await _sweep(env, oid)
    [draft] = await env.documents_for(oid)
    await env.shop("DELETE", f"orders/{oid}/external-services/visma")
    async with env.context() as ctx:
        invoice = await ctx.visma.drafts.convert(draft["Id"])
    assert await env.documents_for(oid) == []
    state, t = await _fresh_flow(env, tmp_path, oid)
    assert state == TransferState.TRANSFERRED, t.last_error
    # the transfer keeps the draft it created (booking and the status flow follow the draft's invoice)
    assert t.visma_document_id == str(invoice.CreatedFromDraftId) == str(draft["Id"])
    assert await env.documents_for(oid) == []  # no new draft
    assert len(await env.documents_for(oid, "customerinvoices")) == 1
