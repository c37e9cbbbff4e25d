"""Money after the invoice, end to end over real HTTP with the company rounding invoices to whole kronor:
checkout payments settle the invoice (the öre difference booked as rounding, both ways; and without
rounding), returns and cancellations never delete what Visma moved on, an invoiced order cancelled in
the shop is credited or reviewed, refunds land on the credit invoice once, a superseded or late
delivered still writes its tracking number, capture on invoiced.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shopbridge.store import TransferState
from status_env import (
    PM_INVOICE,
    PM_KLARNA,
    events,
    invoice_of,
    setup_status,
    ship,
    skus,
    status_log,
    sweep,
    visma,
)

from e2e import Env, dec, env_fixture

pytestmark = pytest.mark.asyncio(loop_scope="session")

RETURNED, CANCELLED = 6, 4


async def _rounding_on(e: Env) -> None:
    e.ids = await setup_status(e)  # type: ignore[attr-defined]
    e.admin("visma", "POST", "/visma/company", json={"domestic_currency_rounding": 1}).raise_for_status()


env = env_fixture("money_status", _rounding_on)


async def order_at(env: Env, net: str, *, kind: str = "invoice_draft", payment: int = PM_KLARNA) -> dict:
    """A new shop order of one 25 % row at `net` (its total incl. VAT is net x 1.25), transferred."""
    env.configure(document_type=kind)
    [sku] = await skus(env, 1)
    order = await env.new_order(
        [{"sku": sku, "quantity": 1, "unitPrice": Decimal(net), "vatRate": 25}], paymentMethodId=payment
    )
    await sweep(env)
    t = env.transfer(order["orderId"])
    assert t.visma_document_id, t.last_error
    return {**order, "visma_id": t.visma_document_id}


async def booked(env: Env, order: dict[str, Any]) -> dict[str, Any]:
    """The accountant books the draft (or invoices the order) in Visma; the invoice."""
    if env.transfer(order["orderId"]).document_type == "order":
        await visma(env, "POST", f"orders/{order['visma_id']}/convert")
        return await invoice_of(env, "CreatedFromOrderId", order["visma_id"])
    await visma(env, "POST", f"customerinvoicedrafts/{order['visma_id']}/convert")
    return await invoice_of(env, "CreatedFromDraftId", order["visma_id"])


def payments_on(env: Env, invoice_id: str) -> list[dict[str, Any]]:
    r = env.admin("visma", "GET", "/visma/payments")
    return [p for p in r.json()["payments"] if p["_InvoiceId"] == invoice_id]


def review(env: Env, order_id: int) -> str:
    t = env.transfer(order_id)
    assert t.state == TransferState.NEEDS_REVIEW, (t.state, t.last_error)
    return t.last_error or ""


# ---------------------------------------------------------------------- öre rounding
@pytest.mark.parametrize(
    ("net", "total", "rounding"), [("99.99", "124.99", "0.01"), ("100.39", "125.49", "-0.49")]
)
async def test_checkout_payment_settles_a_rounded_invoice(
    env: Env, net: str, total: str, rounding: str
) -> None:
    order = await order_at(env, net)
    assert dec(order["totalAmount"]) == Decimal(total)
    invoice = await booked(env, order)
    assert dec(invoice["TotalAmountInvoiceCurrency"]) == Decimal("125")  # Visma rounded it
    await sweep(env)  # invoiced; the Klarna payment registered, settling it; Paid reaches the shop
    now = await invoice_of(env, "CreatedFromDraftId", order["visma_id"])
    assert dec(now["RemainingAmountInvoiceCurrency"]) == 0
    [payment] = payments_on(env, invoice["Id"])
    assert (dec(payment["PaymentAmount"]), payment["PaymentType"]) == (Decimal(total), 3)
    assert dec(payment["_RoundingAmountInvoiceCurrency"]) == Decimal(rounding)
    log = status_log(env, order["orderId"])["statusLog"]
    assert [e["toStatusId"] for e in log] == [env.ids["invoiced"], env.ids["paid"]]
    await sweep(env)
    assert len(payments_on(env, invoice["Id"])) == 1


async def test_without_rounding_the_payment_is_complete(env: Env) -> None:
    env.admin("visma", "POST", "/visma/company", json={"domestic_currency_rounding": 0}).raise_for_status()
    try:
        order = await order_at(env, "99.99")
        invoice = await booked(env, order)
        assert dec(invoice["TotalAmountInvoiceCurrency"]) == Decimal("124.99")
        await sweep(env)
    finally:
        env.admin(
            "visma", "POST", "/visma/company", json={"domestic_currency_rounding": 1}
        ).raise_for_status()
    [payment] = payments_on(env, invoice["Id"])
    assert (dec(payment["PaymentAmount"]), payment["PaymentType"]) == (Decimal("124.99"), 2)
    assert events(env, order["orderId"])["paid"].state == "applied"


# ---------------------------------------------------------------------- returns and cancellations
async def test_a_return_never_deletes_a_draft(env: Env) -> None:
    order = await order_at(env, "80")
    await env.shop("PATCH", f"orders/{order['orderId']}", json={"statusId": RETURNED})
    await sweep(env)
    assert len(await env.documents_for(order["orderId"])) == 1  # still there
    assert "marked returned in the shop but Visma has not invoiced it yet" in review(env, order["orderId"])
    assert "void" not in events(env, order["orderId"])


async def test_void_cancelled_false_is_obeyed(env: Env) -> None:
    env.configure(void_cancelled=False)
    try:
        order = await order_at(env, "80")
        await env.shop("PATCH", f"orders/{order['orderId']}", json={"statusId": CANCELLED})
        await sweep(env)
    finally:
        env.configure(void_cancelled=True)
    assert len(await env.documents_for(order["orderId"])) == 1
    assert "void_cancelled is false" in review(env, order["orderId"])


async def test_a_shipped_order_is_never_deleted(env: Env) -> None:
    returned = await order_at(env, "80", kind="order")
    cancelled = await order_at(env, "80", kind="order")
    for order, status in ((returned, RETURNED), (cancelled, CANCELLED)):
        await ship(env, order["visma_id"])
        await sweep(env)  # delivered: the card payment is captured
        await env.shop("PATCH", f"orders/{order['orderId']}", json={"statusId": status})
    await sweep(env)
    for order in (returned, cancelled):
        assert len(await env.documents_for(order["orderId"], "orders")) == 1
        assert "void" not in events(env, order["orderId"])
    assert "not invoiced it yet" in review(env, returned["orderId"])
    assert "Visma has shipped it already" in review(env, cancelled["orderId"])


async def test_an_order_cancelled_before_anything_happened_is_voided(env: Env) -> None:
    order = await order_at(env, "80", kind="order")
    await env.shop("PATCH", f"orders/{order['orderId']}", json={"statusId": CANCELLED})
    await sweep(env)
    assert await env.documents_for(order["orderId"], "orders") == []
    assert events(env, order["orderId"])["void"].state == "applied"


async def test_invoiced_then_cancelled_in_the_shop(env: Env) -> None:
    reviewed = await order_at(env, "80", payment=PM_INVOICE)
    credited = await order_at(env, "80", payment=PM_INVOICE)
    for order in (reviewed, credited):
        await booked(env, order)
    await sweep(env)
    await env.shop("PATCH", f"orders/{reviewed['orderId']}", json={"statusId": CANCELLED})
    await sweep(env)
    assert "cancelled in the shop after Visma invoiced it" in review(env, reviewed["orderId"])
    assert "credit" not in events(env, reviewed["orderId"])
    env.configure(credit_cancelled=True)
    try:
        await env.shop("PATCH", f"orders/{credited['orderId']}", json={"statusId": CANCELLED})
        await sweep(env)
        await sweep(env)
    finally:
        env.configure(credit_cancelled=False)
    docs = await env.documents_for(credited["orderId"], "customerinvoices")
    assert sorted(d["IsCreditInvoice"] for d in docs) == [False, True]
    ev = events(env, credited["orderId"])
    assert ev["credit"].state == "applied" and ev["refund"].state == "ignored"  # paid by invoice: no refund


# ---------------------------------------------------------------------- refunds
async def test_refund_on_the_credit_of_a_paid_order(env: Env) -> None:
    order = await order_at(env, "99.99")
    invoice = await booked(env, order)
    await sweep(env)  # paid at checkout: payment registered
    await env.shop("PATCH", f"orders/{order['orderId']}", json={"statusId": RETURNED})
    await sweep(env)  # credit, then the refund on it
    await sweep(env)
    docs = await env.documents_for(order["orderId"], "customerinvoices")
    [credit] = [d for d in docs if d["IsCreditInvoice"]]
    assert dec(credit["TotalAmountInvoiceCurrency"]) == Decimal("-125")
    assert dec(credit["RemainingAmountInvoiceCurrency"]) == 0  # refunded: both settled
    [paid] = payments_on(env, invoice["Id"])
    [refund] = payments_on(env, credit["Id"])
    assert dec(refund["PaymentAmount"]) == Decimal("-124.99") and refund["PaymentType"] == 3
    assert refund["CompanyBankAccountId"] == paid["CompanyBankAccountId"]
    assert events(env, order["orderId"])["refund"].state == "applied"


# ---------------------------------------------------------------------- tracking and capture
async def test_a_superseded_or_late_delivered_writes_its_tracking_number(env: Env) -> None:
    env.configure(tracker_type="NoSuchCarrier")  # delivered fails; invoiced and paid go on
    try:
        order = await order_at(env, "80", kind="order")
        await ship(env, order["visma_id"], tracking="111")
        await visma(env, "POST", f"orders/{order['visma_id']}/convert")
        await sweep(env)
        assert events(env, order["orderId"])["delivered"].state == "error"
        await sweep(env)  # paid
    finally:
        env.configure(tracker_type="PostNord")
    before = status_log(env, order["orderId"])["statusLog"]
    await sweep(env)  # delivered is behind paid now: superseded, but its tracking number is written
    assert status_log(env, order["orderId"])["statusLog"] == before  # never moved back
    shop = (await env.shop("GET", f"orders/{order['orderId']}"))["data"]
    assert shop["shippingTrackingNo"] == "PN111SE"
    assert events(env, order["orderId"])["delivered"].state == "superseded"

    late = await order_at(env, "80", kind="order")
    await ship(env, late["visma_id"])  # shipped, no tracking number yet
    await sweep(env)
    await ship(env, late["visma_id"], tracking="222")  # added later in Visma
    await sweep(env)
    shop = (await env.shop("GET", f"orders/{late['orderId']}"))["data"]
    assert shop["shippingTrackingNo"] == "PN222SE"
    assert len(status_log(env, late["orderId"])["statusLog"]) == 1


async def test_capture_on_invoiced(env: Env) -> None:
    conn = env.store.connections.find(env.name)
    status_map = dict(conn.settings["status_map"])
    env.configure(capture_on="invoiced", status_map={**status_map, "invoiced": "completed"})
    try:
        order = await order_at(env, "80")
        await booked(env, order)
        await sweep(env)
    finally:
        env.configure(capture_on="delivered", status_map=status_map)
    first = status_log(env, order["orderId"])["statusLog"][0]
    assert first["toStatusIdCode"] == "completed" and first["paymentAction"] == "capture"
