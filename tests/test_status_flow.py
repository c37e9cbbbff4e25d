"""The status flow end to end over real HTTP: Visma transitions reach the Starweb sandbox, once, in order."""

from __future__ import annotations

from typing import Any

import pytest

from status_env import (
    PM_INVOICE,
    events,
    invoice_of,
    pay,
    ship,
    status_env_fixture,
    status_log,
    sweep,
    transferred,
    visma,
)

from e2e import Env, dec

pytestmark = pytest.mark.asyncio(loop_scope="session")


env = status_env_fixture("status")


async def test_order_shipped_invoiced_paid_at_checkout(env: Env) -> None:
    order = await transferred(env, kind="order")
    oid = order["orderId"]
    await ship(env, order["visma_id"], tracking="123456789")
    await sweep(env)
    log = status_log(env, oid)
    [delivered] = log["statusLog"]
    assert delivered["toStatusIdCode"] == "completed"
    assert delivered["onOrderStatusChangeSendEmail"] is True
    assert delivered["onOrderStatusChangeProcessPayment"] is True
    assert delivered["paymentAction"] == "capture"
    assert delivered["shippingTrackingNo"] == "PN123456789SE"
    assert delivered["shippingTrackerType"] == 1

    await visma(env, "POST", f"orders/{order['visma_id']}/convert")
    await sweep(env)  # invoiced fed back, the Klarna payment registered on the invoice
    invoice = await invoice_of(env, "CreatedFromOrderId", order["visma_id"])
    assert dec(invoice["RemainingAmountInvoiceCurrency"]) == 0
    await sweep(env)  # the invoice's RemainingAmount 0 comes back as paid
    await sweep(env)  # nothing more
    log = status_log(env, oid)
    assert [e["toStatusId"] for e in log["statusLog"]] == [3, env.ids["invoiced"], env.ids["paid"]]
    assert [e["onOrderStatusChangeSendEmail"] for e in log["statusLog"]] == [True, False, True]
    assert [p["action"] for p in log["payments"]] == ["capture"]
    ev = events(env, oid)
    assert {k: v.state for k, v in ev.items()} == {
        "delivered": "applied",
        "invoiced": "applied",
        "payment": "applied",
        "paid": "applied",
    }
    assert ev["invoiced"].visma_id == invoice["Id"]


async def test_draft_converted_then_paid_in_visma(env: Env) -> None:
    order = await transferred(env, kind="invoice_draft", payment=PM_INVOICE)
    oid = order["orderId"]
    await visma(env, "POST", f"customerinvoicedrafts/{order['visma_id']}/convert")
    await sweep(env)
    invoice = await invoice_of(env, "CreatedFromDraftId", order["visma_id"])
    assert dec(invoice["RemainingAmountInvoiceCurrency"]) > 0  # paid by invoice: nothing registered
    assert events(env, oid)["payment"].state == "ignored"
    await pay(env, invoice)
    await sweep(env)
    log = status_log(env, oid)
    assert [e["toStatusId"] for e in log["statusLog"]] == [env.ids["invoiced"], env.ids["paid"]]


async def test_out_of_order_never_moves_backwards(env: Env) -> None:
    order = await transferred(env, kind="order")
    oid = order["orderId"]
    # shipped, invoiced and paid before the next poll: applied in their order in one sweep
    await ship(env, order["visma_id"])
    await visma(env, "POST", f"orders/{order['visma_id']}/convert")
    await sweep(env)
    await sweep(env)
    log = status_log(env, oid)
    assert [e["toStatusId"] for e in log["statusLog"]] == [3, env.ids["invoiced"], env.ids["paid"]]
    # a late "delivered" (e.g. a re-read order) after paid does not regress the order
    conn = env.store.connections.find(env.name)
    env.store.events.update(events(env, oid)["delivered"].id, state="pending")
    await sweep(env)
    assert len(status_log(env, oid)["statusLog"]) == 3
    assert env.store.events.for_order(conn.id, str(oid))[0].state == "superseded"


async def test_draft_deleted_in_visma_is_cancelled(env: Env) -> None:
    order = await transferred(env, kind="invoice_draft")
    await visma(env, "DELETE", f"customerinvoicedrafts/{order['visma_id']}")
    await sweep(env)
    await sweep(env)
    [entry] = status_log(env, order["orderId"])["statusLog"]
    assert entry["toStatusIdCode"] == "canceled"
    assert entry["paymentAction"] == "cancel"
    assert events(env, order["orderId"])["cancelled"].state == "applied"


async def test_returned_order_is_credited_once(env: Env) -> None:
    order = await transferred(env, kind="invoice_draft", payment=PM_INVOICE)
    oid = order["orderId"]
    await visma(env, "POST", f"customerinvoicedrafts/{order['visma_id']}/convert")
    await sweep(env)
    await env.shop("PATCH", f"orders/{oid}", json={"statusId": 6})
    await sweep(env)
    await sweep(env)
    docs = await env.documents_for(oid, "customerinvoices")
    credits = [d for d in docs if d["IsCreditInvoice"]]
    assert len(credits) == 1
    invoice = next(d for d in docs if not d["IsCreditInvoice"])
    assert dec(credits[0]["TotalAmountInvoiceCurrency"]) == -dec(invoice["TotalAmountInvoiceCurrency"])
    assert events(env, oid)["credit"].state == "applied"
    assert "cancelled" not in events(env, oid)  # our own credit is not read back as a cancellation


async def test_cancelled_in_shop_voids_the_draft(env: Env) -> None:
    order = await transferred(env, kind="invoice_draft")
    oid = order["orderId"]
    await env.shop("PATCH", f"orders/{oid}", json={"statusId": 4})
    await sweep(env)
    await sweep(env)
    assert await env.documents_for(oid) == []
    ev = events(env, oid)
    assert ev["void"].state == "applied"
    assert "cancelled" not in ev
    assert len(status_log(env, oid)["statusLog"]) == 1  # only our own PATCH above


async def test_full_credit_made_in_visma_is_cancelled(env: Env) -> None:
    order = await transferred(env, kind="invoice_draft", payment=PM_INVOICE)
    oid = order["orderId"]
    await visma(env, "POST", f"customerinvoicedrafts/{order['visma_id']}/convert")
    await sweep(env)
    invoice = await invoice_of(env, "CreatedFromDraftId", order["visma_id"])
    rows = [
        {
            "ArticleId": r["ArticleId"],
            "Quantity": -dec(r["Quantity"]),
            "UnitPrice": r["UnitPrice"],
            "IsTextRow": False,
        }
        for r in invoice["Rows"]
        if r.get("ArticleId")
    ]
    credit = {
        "CustomerId": invoice["CustomerId"],
        "IsCreditInvoice": True,
        "EuThirdParty": False,
        "RotReducedInvoicingType": 0,
        "YourReference": invoice["YourReference"],
        "Rows": rows,
    }
    await visma(env, "POST", "customerinvoices", json=credit)  # the accountant credits it in Visma
    await sweep(env)
    assert events(env, oid)["cancelled"].state == "applied"
    assert status_log(env, oid)["statusLog"][-1]["toStatusIdCode"] == "canceled"


async def test_tracking_number_from_a_field_or_a_pattern() -> None:
    from shopbridge.sync.settings import ConnectionSettings
    from shopbridge.sync.status import StatusFlow

    def tracking(**settings: Any) -> dict[str, Any]:
        flow = StatusFlow.__new__(StatusFlow)
        flow.settings = ConnectionSettings(**settings)
        order = {"BuyersOrderReference": "00370712345678", "DeliveryMethodName": "DHL 1234567890 ombud"}
        return flow._tracking(order)

    assert tracking(tracking_field="BuyersOrderReference") == {"tracking": "00370712345678"}
    assert tracking(tracking_pattern=r"DHL (\d{10})") == {"tracking": "1234567890"}
    assert tracking(tracking_pattern=r"PN\d+SE") == {}


async def test_invoice_voided_in_visma_is_cancelled_never_paid(env: Env) -> None:
    """A void settles the invoice with a credit (RemainingAmount 0): that is a cancellation, not a payment."""
    order = await transferred(env, kind="invoice_draft", payment=PM_INVOICE)
    oid = order["orderId"]
    await visma(env, "POST", f"customerinvoicedrafts/{order['visma_id']}/convert")
    await sweep(env)
    invoice = await invoice_of(env, "CreatedFromDraftId", order["visma_id"])
    await visma(env, "POST", f"customerinvoices/{invoice['Id']}/void")
    await sweep(env)
    seen = events(env, oid)
    assert "paid" not in seen or seen["paid"].state != "applied"
    assert seen["cancelled"].state == "applied"
    assert status_log(env, oid)["statusLog"][-1]["toStatusIdCode"] == "canceled"
