"""Shared pieces of the status-flow tests: settings, a sweep of every flow, Visma transitions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from shopbridge.sandbox.visma.seed import sid
from shopbridge.sync.base import SweepReport
from shopbridge.sync.flows import sweep_connection

from e2e import Env, dec

PM_KLARNA, PM_INVOICE = 1, 3
BANK = sid("bank", "cheque")  # the sandbox company's cheque account
NOTE = "Spårning: PN{n}SE"


async def setup_status(env: Env) -> dict[str, int]:
    """Two statuses of the shop's own (Fakturerad, Betald) and the status settings; their ids."""
    ids: dict[str, int] = {}
    for key, name in (("invoiced", "Fakturerad"), ("paid", "Betald")):
        body = {"languages": [{"langCode": "sv", "name": name}], "shouldSendEmail": True}
        ids[key] = (await env.shop("POST", "order-statuses", json=body))["data"]["statusId"]
    env.configure(
        status_map={
            "delivered": "completed",
            "invoiced": str(ids["invoiced"]),
            "paid": str(ids["paid"]),
            "cancelled": "canceled",
        },
        status_mail=["delivered", "paid"],
        status_process_payment=["delivered", "cancelled"],
        tracking_pattern=r"Sp(?:å|a)rning:\s*(\S+)",
        tracker_type="PostNord",
        returned_statuses=["6"],
        deletion_check_interval_s=0,
        payment_accounts={"default": BANK},
        paid_payment_methods=["klarna_checkout", "card", "swish"],
    )
    return ids


async def sweep(env: Env) -> SweepReport:
    async with env.context() as ctx:
        return await sweep_connection(ctx)


async def skus(env: Env, n: int) -> list[str]:
    body = await env.visma_get("articles", **{"$pagesize": 500})
    codings = {
        c["Id"]: dec(c["VatRatePercent"]) for c in (await env.visma_get("articleaccountcodings"))["Data"]
    }
    out = [
        a["Number"]
        for a in body["Data"]
        if a["IsActive"] and a["Number"].startswith("SW-") and codings.get(a["CodingId"]) == Decimal("0.25")
    ]
    return out[:n]


async def transferred(env: Env, *, kind: str, payment: int = PM_KLARNA, **fields: Any) -> dict[str, Any]:
    """A new shop order transferred to Visma as `kind` (invoice_draft or order)."""
    env.configure(document_type=kind)
    [sku] = await skus(env, 1)
    order = await env.new_order(
        [{"sku": sku, "quantity": 2, "unitPrice": 100, "vatRate": 25}],
        paymentMethodId=payment,
        **fields,
    )
    await sweep(env)
    t = env.transfer(order["orderId"])
    assert t.visma_document_id, t.last_error
    return {**order, "visma_id": t.visma_document_id}


async def visma(env: Env, method: str, path: str, **kw: Any) -> Any:
    async with env.context() as ctx:
        return await ctx.visma.request(method, path, **kw)


async def ship(env: Env, order_id: str, tracking: str | None = None) -> None:
    """Mark a Visma order shipped (Status 3), with a tracking note."""
    body = await visma(env, "GET", f"orders/{order_id}")
    body["Status"] = 3
    if tracking:
        body["OurReference"] = NOTE.format(n=tracking)
    await visma(env, "PUT", f"orders/{order_id}", json=body)


async def invoice_of(env: Env, field: str, doc_id: str) -> dict[str, Any]:
    body = await visma(env, "GET", "customerinvoices", params={"$filter": f"{field} eq '{doc_id}'"})
    [inv] = body["Data"]
    return inv


async def pay(env: Env, invoice: dict[str, Any], amount: Any = None) -> None:
    body = {
        "CompanyBankAccountId": BANK,
        "PaymentAmount": amount if amount is not None else invoice["RemainingAmountInvoiceCurrency"],
        "PaymentCurrency": invoice["CurrencyCode"],
        "PaymentType": 2,
    }
    await visma(env, "POST", f"customerinvoices/{invoice['Id']}/payments", json=body)


def status_log(env: Env, order_id: int) -> dict[str, Any]:
    r = env.admin("starweb", "GET", f"/starweb/orders/{order_id}/status-log")
    r.raise_for_status()
    return r.json()


def events(env: Env, order_id: int) -> dict[str, Any]:
    conn = env.store.connections.find(env.name)
    return {e.event: e for e in env.store.events.for_order(conn.id, str(order_id))}


def status_env_fixture(name: str) -> object:
    """A module-scoped `env` fixture whose connection also has the status settings (ids in `env.ids`)."""
    from e2e import env_fixture

    async def setup(e: Env) -> None:
        e.ids = await setup_status(e)  # type: ignore[attr-defined]

    return env_fixture(name, setup)
