"""Books that match the shop (issue 10 §1), end to end over real HTTP: a returning guest, a customer
who moved, orders placed on the start date, orders changed after their transfer, zero-total orders."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from shopbridge.logs import configure_logging
from shopbridge.sandbox.starweb.reference import STATUS_CANCELED
from shopbridge.store import TransferState
from shopbridge.sync.base import Hint

from e2e import Env, dec, env_fixture, worker

pytestmark = pytest.mark.asyncio(loop_scope="session")

env = env_fixture("books")
STOCKHOLM = ZoneInfo("Europe/Stockholm")


async def sku(env: Env, n: int = 1) -> list[str]:
    articles = (await env.visma_get("articles", **{"$filter": "IsActive eq true", "$pagesize": 500}))["Data"]
    codings = {
        c["Id"]: dec(c["VatRatePercent"]) for c in (await env.visma_get("articleaccountcodings"))["Data"]
    }
    found = [
        a["Number"]
        for a in articles
        if a["Number"].startswith("SW-") and codings.get(a["CodingId"]) == dec("0.25")
    ]
    return found[:n]


def guest(
    email: str,
    *,
    street: str = "Storgatan 1",
    postal: str = "11122",
    city: str = "Stockholm",
    last: str = "Kund",
    phone: str | None = None,
) -> dict:
    """The body fields of a guest checkout (no customer account: Starweb makes a customer of its own)."""
    address = {
        "firstName": "Greta",
        "lastName": last,
        "address": street,
        "postalCode": postal,
        "city": city,
        "countryCode": "SE",
    }
    if phone:
        address["phoneNo"] = phone
    return {
        "customerId": None,
        "addresses": {"customerInvoice": address, "customerDelivery": dict(address)},
        "originalCustomerEmail": email,
    }


async def cli(env: Env, *args: str) -> tuple[int, str]:
    """`shopbridge --data-dir DIR ARGS` in this process (in a thread: the command runs its own loop)."""
    from shopbridge.cli import app, ui

    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["--data-dir", str(env.data_dir), *args], env={"COLUMNS": "400"}
    )
    configure_logging("WARNING")  # the command logged to the runner's stream, closed now: back to stderr
    opened = ui._opts.pop("store", None)
    if opened is not None:
        opened.close()
    return result.exit_code, result.output


def due_now(env: Env, transfer_id: int) -> None:
    """Skip a pending order's backoff (its attempts kept)."""
    from sqlalchemy import update

    from shopbridge.store.schema import Transfer, utcnow

    with env.store.engine.begin() as conn:
        conn.execute(update(Transfer).where(Transfer.id == transfer_id).values(next_attempt_at=utcnow()))


# ---------------------------------------------------------------------- 5. zero total (first: exit 0)
async def test_a_zero_total_order_is_skipped_with_its_reason_and_does_not_make_sync_fail(env: Env) -> None:
    [a] = await sku(env)
    free = await env.new_order(
        [
            {
                "sku": a,
                "quantity": 1,
                "unitPrice": 100,
                "vatRate": 25,
                "discount": 100,
                "discountType": "percent",
            }
        ]
    )
    assert dec(free["totalAmount"]) == 0
    await env.sweep()  # everything else due is done first
    code, out = await cli(env, "sync", "--once")
    t = env.transfer(free["orderId"])
    assert t.state == TransferState.SKIPPED, (t.state, t.last_error)
    assert "nothing to invoice" in t.last_error and "zero_total" in t.last_error
    assert await env.documents_for(free["orderId"]) == []
    assert code == 0, out  # first in this module: nothing else waits


async def test_a_zero_total_order_is_transferred_when_zero_total_transfer(env: Env) -> None:
    [a] = await sku(env)
    env.configure(zero_total="transfer")
    try:
        free = await env.new_order([{"sku": a, "quantity": 2, "unitPrice": 0, "vatRate": 25}])
        await env.sweep([Hint("order", str(free["orderId"]))])
    finally:
        env.configure(zero_total="skip")
    t = env.transfer(free["orderId"])
    assert t.state == TransferState.TRANSFERRED, (t.state, t.last_error)
    [draft] = await env.documents_for(free["orderId"])
    assert dec(draft["TotalAmount"]) == 0


# ---------------------------------------------------------------------- 1. returning guest, surprises
async def test_a_returning_guest_is_one_visma_customer_and_both_orders_transfer(env: Env) -> None:
    [a] = await sku(env)
    first = await env.new_order(
        [{"sku": a, "quantity": 1, "unitPrice": 100, "vatRate": 25}], **guest("greta@example.se")
    )
    second = await env.new_order(
        [{"sku": a, "quantity": 2, "unitPrice": 100, "vatRate": 25}], **guest("greta@example.se")
    )
    assert first["customerId"] != second["customerId"]  # each guest checkout is a Starweb customer of its own
    _, out = await cli(env, "sync", "--once")
    assert "Traceback" not in out and "sqlalchemy" not in out.lower(), out
    for o in (first, second):
        t = env.transfer(o["orderId"])
        assert t.state == TransferState.TRANSFERRED, (t.state, t.last_error)
    [d1], [d2] = await env.documents_for(first["orderId"]), await env.documents_for(second["orderId"])
    assert d1["CustomerId"] == d2["CustomerId"]
    conn = env.store.connections.find(env.name)
    bound = {b.starweb_id: b.visma_id for b in env.store.bindings.all(conn.id, "customer")}
    assert bound[f"id:{first['customerId']}"] == bound[f"id:{second['customerId']}"] == d1["CustomerId"]


async def test_an_unexpected_error_is_retried_max_attempts_then_needs_review_in_one_sentence(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shopbridge.sync.orders as orders

    [a] = await sku(env)
    order = await env.new_order([{"sku": a, "quantity": 1, "unitPrice": 77, "vatRate": 25}])
    oid = order["orderId"]

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("row arithmetic broke\n" + "  a second line of detail\n" * 30)

    monkeypatch.setattr(orders, "plan_rows", broken)
    env.configure(max_attempts=2)
    try:
        await env.sweep([Hint("order", str(oid))])
        t = env.transfer(oid)
        assert t.state == TransferState.PENDING and "it will be retried" in t.last_error
        due_now(env, t.id)  # the backoff, skipped
        code, out = await cli(env, "sync", "--once")
        t = env.transfer(oid)
        assert t.state == TransferState.NEEDS_REVIEW, (t.state, t.last_error)
        assert t.attempts == 2
        assert "\n" not in t.last_error and "stopped retrying" in t.last_error
        assert "Traceback" not in out and "second line" not in out, out
        assert code == 1
        await env.sweep()  # not retried by itself
        assert env.transfer(oid).attempts == 2
    finally:
        env.configure(max_attempts=8)
        monkeypatch.undo()
    env.store.transfers.retry(t.id)
    await env.sweep([Hint("order", str(oid))])
    assert env.transfer(oid).state == TransferState.TRANSFERRED


# ---------------------------------------------------------------------- 2. a customer who moved
def text_rows(doc: dict[str, Any]) -> list[str]:
    return [r["Text"] for r in doc["Rows"] if r.get("IsTextRow")]


async def test_a_customer_who_moved_is_updated_and_the_invoice_goes_to_the_new_address(env: Env) -> None:
    [a] = await sku(env)
    item = [{"sku": a, "quantity": 1, "unitPrice": 120, "vatRate": 25}]
    email = "flytt@example.se"
    first = await env.new_order(item, **guest(email))
    await env.sweep([Hint("order", str(first["orderId"]))])
    assert env.transfer(first["orderId"]).state == TransferState.TRANSFERRED
    moved = guest(email, street="Nygatan 5", postal="22233", city="Lund", last="Flyttad", phone="0701234567")
    second = await env.new_order(item, **moved)
    await env.sweep([Hint("order", str(second["orderId"]))])
    t = env.transfer(second["orderId"])
    assert t.state == TransferState.TRANSFERRED, (t.state, t.last_error)
    [draft] = await env.documents_for(second["orderId"])
    assert (draft["InvoiceAddress1"], draft["InvoicePostalCode"], draft["InvoiceCity"]) == (
        "Nygatan 5",
        "22233",
        "Lund",
    )
    assert draft["InvoiceCustomerName"] == "Greta Flyttad"
    customer = await env.visma_get(f"customers/{draft['CustomerId']}")
    assert (customer["Name"], customer["InvoiceCity"], customer["Telephone"]) == (
        "Greta Flyttad",
        "Lund",
        "0701234567",
    )
    [updated] = [w for w in t.warnings if w["code"] == "customer_updated"]
    assert "Storgatan 1 -> Nygatan 5" in updated["message"] and "Stockholm -> Lund" in updated["message"]
    _, out = await cli(env, "orders", "show", str(second["orderId"]), "--connection", env.name)
    assert "updated in Visma from the order" in out and "Lund" in out, out
    # the same address again: nothing to change, nothing written
    third = await env.new_order(item, **moved)
    await env.sweep([Hint("order", str(third["orderId"]))])
    t3 = env.transfer(third["orderId"])
    assert t3.state == TransferState.TRANSFERRED and not [
        w for w in t3.warnings if w["code"] == "customer_updated"
    ]


async def test_one_buyers_orders_from_two_addresses_in_one_sweep_each_carry_their_own(env: Env) -> None:
    [a] = await sku(env)
    item = [{"sku": a, "quantity": 1, "unitPrice": 125, "vatRate": 25}]
    email = "tva.adresser@example.se"
    places = [("Västgatan 1", "41101", "Göteborg"), ("Östgatan 2", "60222", "Norrköping")]
    orders = [
        await env.new_order(item, **guest(email, street=street, postal=postal, city=city))
        for street, postal, city in places
    ]
    await env.sweep()  # both in one sweep, side by side
    for order, (street, postal, city) in zip(orders, places, strict=True):
        assert env.transfer(order["orderId"]).state == TransferState.TRANSFERRED
        [draft] = await env.documents_for(order["orderId"])
        assert (draft["InvoiceAddress1"], draft["InvoicePostalCode"], draft["InvoiceCity"]) == (
            street,
            postal,
            city,
        )


async def test_update_customers_never_keeps_the_customer_and_the_invoice_still_shows_the_order(
    env: Env,
) -> None:
    [a] = await sku(env)
    item = [{"sku": a, "quantity": 1, "unitPrice": 130, "vatRate": 25}]
    email = "stannar@example.se"
    first = await env.new_order(item, **guest(email))
    await env.sweep([Hint("order", str(first["orderId"]))])
    env.configure(update_customers="never")
    try:
        second = await env.new_order(item, **guest(email, street="Ågatan 9", postal="75320", city="Uppsala"))
        await env.sweep([Hint("order", str(second["orderId"]))])
    finally:
        env.configure(update_customers="always")
    t = env.transfer(second["orderId"])
    assert t.state == TransferState.TRANSFERRED, (t.state, t.last_error)
    [draft] = await env.documents_for(second["orderId"])
    customer = await env.visma_get(f"customers/{draft['CustomerId']}")
    assert customer["InvoiceCity"] == "Stockholm"  # not updated
    [row] = text_rows(draft)  # a draft's postal code and city are the customer's: the order's as text
    assert "Ågatan 9" in row and "75320 Uppsala" in row and email in row
    assert (draft["DeliveryAddress1"], draft["DeliveryCity"]) == ("Ågatan 9", "Uppsala")
    assert any(w["code"] == "customer_differs" and "Uppsala" in w["message"] for w in t.warnings)


async def test_the_collective_customer_carries_the_orders_address_on_the_document(env: Env) -> None:
    [a] = await sku(env)
    collective = next(
        c for c in (await env.visma_get("customers", **{"$pagesize": 50}))["Data"] if c["IsPrivatePerson"]
    )
    env.configure(collective_customer_number=collective["CustomerNumber"])
    try:
        body = guest("kollektiv@example.se", street="Kollektivvägen 3", postal="21122", city="Malmö")
        order = await env.new_order([{"sku": a, "quantity": 1, "unitPrice": 140, "vatRate": 25}], **body)
        await env.sweep([Hint("order", str(order["orderId"]))])
        env.configure(document_type="order")
        as_order = await env.new_order([{"sku": a, "quantity": 1, "unitPrice": 141, "vatRate": 25}], **body)
        await env.sweep([Hint("order", str(as_order["orderId"]))])
    finally:
        env.configure(collective_customer_number=None, document_type="invoice_draft")
    assert env.transfer(order["orderId"]).state == TransferState.TRANSFERRED
    [draft] = await env.documents_for(order["orderId"])
    assert draft["CustomerId"] == collective["Id"]
    assert (draft["DeliveryAddress1"], draft["DeliveryPostalCode"], draft["DeliveryCity"]) == (
        "Kollektivvägen 3",
        "21122",
        "Malmö",
    )
    [row] = text_rows(draft)
    assert "Greta Kund" in row and "Kollektivvägen 3" in row and "21122 Malmö" in row
    customer = await env.visma_get(f"customers/{collective['Id']}")
    assert customer["InvoiceAddress1"] == collective["InvoiceAddress1"]  # the collective customer stays
    assert env.transfer(as_order["orderId"]).state == TransferState.TRANSFERRED
    [doc] = await env.documents_for(as_order["orderId"], "orders")
    assert (
        doc["InvoiceCustomerName"],
        doc["InvoiceAddress1"],
        doc["InvoicePostalCode"],
        doc["InvoiceCity"],
    ) == (
        "Greta Kund",
        "Kollektivvägen 3",
        "21122",
        "Malmö",
    )


# ---------------------------------------------------------------------- 3. start date, shop-local
async def test_an_order_at_half_past_midnight_on_the_start_date_is_transferred(env: Env) -> None:
    [a] = await sku(env)
    start = date(2026, 10, 25)  # the autumn DST change: midnight is 22:00 UTC the day before
    placed = datetime(2026, 10, 25, 0, 30, tzinfo=STOCKHOLM)
    before = datetime(2026, 10, 24, 23, 59, 59, tzinfo=STOCKHOLM)
    on_day = await env.new_order(
        [{"sku": a, "quantity": 1, "unitPrice": 55, "vatRate": 25}], createdAt=placed.isoformat()
    )
    too_early = await env.new_order(
        [{"sku": a, "quantity": 1, "unitPrice": 56, "vatRate": 25}], createdAt=before.isoformat()
    )
    env.configure(start_date=start.isoformat())
    try:
        await env.sweep()
    finally:
        env.configure(start_date=None)
    t = env.transfer(on_day["orderId"])
    assert t is not None and t.state == TransferState.TRANSFERRED, t and (t.state, t.last_error)
    assert env.transfer(too_early["orderId"]) is None


# ---------------------------------------------------------------------- 4. edited after the transfer
def items_of(order: dict[str, Any]) -> list[dict[str, Any]]:
    items = order.get("items") or []
    return items["data"] if isinstance(items, dict) else items


async def shop_order(env: Env, order_id: int) -> dict[str, Any]:
    return (await env.shop("GET", f"orders/{order_id}"))["data"]


async def transferred(env: Env, items: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """An order transferred, then one full sweep (the watch has seen it since)."""
    order = await env.new_order(items, **fields)
    await env.sweep([Hint("order", str(order["orderId"]))])
    assert env.transfer(order["orderId"]).state == TransferState.TRANSFERRED
    await env.sweep()
    return order


async def edit(env: Env, order: dict[str, Any]) -> None:
    """In the shop: the first row's quantity 1 -> 3, the second row removed, shipping 49 added."""
    oid = order["orderId"]
    first, second = items_of(order)[:2]
    await env.shop("PATCH", f"orders/{oid}/items/{first['itemId']}", json={"quantity": 3})
    await env.shop("DELETE", f"orders/{oid}/items/{second['itemId']}")
    await env.shop("PATCH", f"orders/{oid}", json={"shippingCost": 49})


async def test_an_order_edited_after_transfer_updates_its_draft_exactly_once(env: Env) -> None:
    a, b = await sku(env, 2)
    order = await transferred(
        env,
        [
            {"sku": a, "quantity": 1, "unitPrice": 100, "vatRate": 25},
            {"sku": b, "quantity": 1, "unitPrice": 50, "vatRate": 25},
        ],
    )
    await edit(env, order)
    report = await env.sweep()
    assert report.counts["document_updated"] == 1, report
    t = env.transfer(order["orderId"])
    assert t.state == TransferState.TRANSFERRED, (t.state, t.last_error)
    [note] = [w for w in t.warnings if w["code"] == "document_updated"]
    assert f"quantity of {a} 1 -> 3" in note["message"] and f"{b} removed" in note["message"], note
    assert "shipping added" in note["message"], note
    now = await shop_order(env, order["orderId"])
    [draft] = await env.documents_for(order["orderId"])
    assert dec(draft["TotalAmount"]) - dec(draft.get("TotalRoundings") or 0) == dec(now["totalAmount"])
    assert dec(draft["TotalVatAmount"]) == dec(now["totalVat"])
    again = await env.sweep()
    assert again.counts["document_updated"] == 0 and len(await env.documents_for(order["orderId"])) == 1
    _, out = await cli(env, "orders", "show", str(order["orderId"]), "--connection", env.name)
    assert "was updated to" in out and "document_updated" in out, out


async def test_an_edit_the_books_cannot_follow_waits_in_needs_review_with_both_figures(env: Env) -> None:
    a, b = await sku(env, 2)
    rows = [
        {"sku": a, "quantity": 1, "unitPrice": 100, "vatRate": 25},
        {"sku": b, "quantity": 1, "unitPrice": 50, "vatRate": 25},
    ]
    kept = await transferred(env, rows)
    booked = await transferred(env, rows)
    [draft] = await env.documents_for(booked["orderId"])
    async with env.context() as ctx:  # the accountant books the draft
        await ctx.visma.request("POST", f"customerinvoicedrafts/{draft['Id']}/convert")
    env.configure(update_documents=False)
    try:
        await edit(env, kept)
        await edit(env, booked)
        report = await env.sweep()
    finally:
        env.configure(update_documents=True)
    for order, why in ((kept, "update_documents is false"), (booked, "it is invoiced as invoice")):
        t = env.transfer(order["orderId"])
        assert t.state == TransferState.NEEDS_REVIEW, (t.state, t.last_error)
        now = await shop_order(env, order["orderId"])
        assert why in t.last_error and f"quantity of {a} 1 -> 3" in t.last_error, t.last_error
        assert f"shop {dec(now['totalAmount']):.2f} SEK, Visma 187.50" in t.last_error, t.last_error
        assert (
            t.details["visma"]["total"] == "187.50"
            and t.details["shop_now"]["total"] == f"{dec(now['totalAmount']):.2f}"
        )
        assert str(order["orderId"]) in report.waiting
    assert len(await env.documents_for(kept["orderId"])) == 1  # untouched
    # update_documents back on, the order retried: its draft is adopted and follows the shop at once
    env.store.transfers.retry(env.transfer(kept["orderId"]).id)
    await env.sweep([Hint("order", str(kept["orderId"]))])
    t = env.transfer(kept["orderId"])
    assert t.state == TransferState.TRANSFERRED, (t.state, t.last_error)
    assert any(w["code"] == "document_updated" for w in t.warnings)
    now = await shop_order(env, kept["orderId"])
    [draft] = await env.documents_for(kept["orderId"])
    assert dec(draft["TotalAmount"]) - dec(draft.get("TotalRoundings") or 0) == dec(now["totalAmount"])


async def test_a_cancellation_no_status_feedback_handles_waits_in_needs_review(env: Env) -> None:
    [a] = await sku(env)
    env.configure(plan="100")  # no status feedback: sync/status.py neither voids nor credits
    try:
        order = await transferred(env, [{"sku": a, "quantity": 1, "unitPrice": 90, "vatRate": 25}])
        await env.shop("PATCH", f"orders/{order['orderId']}", json={"statusId": STATUS_CANCELED})
        await env.sweep()
    finally:
        env.configure(plan="premium")
    t = env.transfer(order["orderId"])
    assert t.state == TransferState.NEEDS_REVIEW, (t.state, t.last_error)
    assert "cancelled in the shop after its transfer" in t.last_error, t.last_error
    assert len(await env.documents_for(order["orderId"])) == 1  # nothing removed behind anyone's back


@pytest.mark.parametrize("crash_at", ["before_update", "after_update"])
async def test_an_update_interrupted_by_a_crash_is_finished_once(env: Env, crash_at: str) -> None:
    a, b = await sku(env, 2)
    order = await transferred(
        env,
        [
            {"sku": a, "quantity": 1, "unitPrice": 100, "vatRate": 25},
            {"sku": b, "quantity": 1, "unitPrice": 50, "vatRate": 25},
        ],
    )
    await edit(env, order)
    ran = worker(env, crash_at)
    assert ran.returncode == 137, ran.stdout + ran.stderr
    assert env.transfer(order["orderId"]).content.get("pending")  # the intent was recorded
    await env.sweep()
    t = env.transfer(order["orderId"])
    assert t.state == TransferState.TRANSFERRED, (t.state, t.last_error)
    assert len([w for w in t.warnings if w["code"] == "document_updated"]) == 1
    assert not t.content.get("pending")
    now = await shop_order(env, order["orderId"])
    [draft] = await env.documents_for(order["orderId"])
    assert dec(draft["TotalAmount"]) - dec(draft.get("TotalRoundings") or 0) == dec(now["totalAmount"])
