"""`document_type invoice` end to end over real HTTP: every order becomes a booked invoice at once; paid
orders are settled on the bank account of their payment method, the others sent (e-mail, e-invoice or
not at all), once; Invoiced and Paid reach the shop in the same sweep; a crash at every step and a late
answer at the convert step leave one invoice, one payment, one message; a draft changed in Visma is
not booked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest

from shopbridge.sandbox.visma.seed import sid
from shopbridge.store import TransferState
from shopbridge.sync.context import open_context
from shopbridge.sync.flows import sweep_connection
from status_env import PM_INVOICE, PM_KLARNA, events, skus, status_log, sweep, visma

from e2e import STARWEB_LIMIT, Env, dec, env_fixture, worker

pytestmark = pytest.mark.asyncio(loop_scope="session")

PM_CARD, PM_SWISH = 2, 4
ACCOUNTS = {
    "klarna_checkout": sid("bank", "klarna"),
    "card": sid("bank", "cheque"),
    "swish": sid("bank", "cheque"),
}


async def _setup(e: Env) -> None:
    ids: dict[str, int] = {}
    for key, name in (("invoiced", "Fakturerad"), ("paid", "Betald")):
        body = {"languages": [{"langCode": "sv", "name": name}], "shouldSendEmail": True}
        ids[key] = (await e.shop("POST", "order-statuses", json=body))["data"]["statusId"]
    e.ids = ids  # type: ignore[attr-defined]
    e.configure(
        document_type="invoice",
        status_map={
            "delivered": "",
            "invoiced": str(ids["invoiced"]),
            "paid": str(ids["paid"]),
            "cancelled": "",
        },
        paid_payment_methods=list(ACCOUNTS),
        payment_accounts=ACCOUNTS,
        invoice_delivery="email",
        deletion_check_interval_s=0,
    )


env = env_fixture("booking", _setup)


async def new_order(env: Env, payment: int, *, customer: int = 1, net: str = "100") -> dict[str, Any]:
    [sku] = await skus(env, 1)
    item = {"sku": sku, "quantity": 2, "unitPrice": Decimal(net), "vatRate": 25}
    return await env.new_order([item], paymentMethodId=payment, customerId=customer)


async def invoices_of(env: Env, order_id: int) -> list[dict[str, Any]]:
    return await env.documents_for(order_id, "customerinvoices")


def sent(env: Env, invoice_id: str) -> list[dict[str, Any]]:
    return [
        s for s in env.admin("visma", "GET", "/visma/sent").json()["sent"] if s["InvoiceId"] == invoice_id
    ]


def paid_on(env: Env, invoice_id: str) -> list[dict[str, Any]]:
    return [
        p
        for p in env.admin("visma", "GET", "/visma/payments").json()["payments"]
        if p["_InvoiceId"] == invoice_id
    ]


async def company_customer(env: Env) -> int:
    body = await env.shop("GET", "customers", params={"include": "addresses"})
    for c in body["data"]:
        invoice = ((c.get("addresses") or {}).get("data") or {}).get("invoice") or {}
        if c["type"] == "company" and invoice.get("countryCode") == "SE":
            return c["customerId"]
    raise AssertionError("no Swedish company customer on the first page")


# ---------------------------------------------------------------------- each payment method kind
async def test_paid_orders_are_booked_and_settled_on_their_account(env: Env) -> None:
    orders = {pm: await new_order(env, pm) for pm in (PM_KLARNA, PM_CARD, PM_SWISH)}
    await sweep(env)  # one sweep: booked, paid, and the shop told Invoiced and Paid
    for pm, order in orders.items():
        [invoice] = await invoices_of(env, order["orderId"])
        assert dec(invoice["RemainingAmountInvoiceCurrency"]) == 0
        assert invoice["CreatedFromDraftId"] == env.transfer(order["orderId"]).visma_document_id
        [payment] = paid_on(env, invoice["Id"])
        method = {PM_KLARNA: "klarna_checkout", PM_CARD: "card", PM_SWISH: "swish"}[pm]
        assert payment["CompanyBankAccountId"] == ACCOUNTS[method]
        assert dec(payment["PaymentAmount"]) == dec(order["totalAmount"])
        assert sent(env, invoice["Id"]) == []  # paid: nothing to send
        log = status_log(env, order["orderId"])["statusLog"]
        assert [e["toStatusId"] for e in log] == [env.ids["invoiced"], env.ids["paid"]]
    await sweep(env)
    assert all(len(status_log(env, o["orderId"])["statusLog"]) == 2 for o in orders.values())


async def test_invoice_orders_are_sent_once_the_chosen_way(env: Env) -> None:
    mailed = await new_order(env, PM_INVOICE)
    await sweep(env)
    [invoice] = await invoices_of(env, mailed["orderId"])
    assert [s["Channel"] for s in sent(env, invoice["Id"])] == ["email"]
    assert dec(invoice["RemainingAmountInvoiceCurrency"]) > 0  # the customer pays it later
    assert [e["toStatusId"] for e in status_log(env, mailed["orderId"])["statusLog"]] == [env.ids["invoiced"]]

    env.configure(invoice_delivery_by_payment_method={"invoice": "einvoice"})
    try:
        company = await company_customer(env)
        e_invoiced = await new_order(env, PM_INVOICE, customer=company)
        report = await sweep(env)
        step = events(env, e_invoiced["orderId"])["send"]
        assert step.state == "error" and "electronic address" in (step.error or ""), step.error
        assert f"{e_invoiced['orderId']}:send" in report.waiting
        [invoice] = await invoices_of(env, e_invoiced["orderId"])
        customer = await visma(env, "GET", f"customers/{invoice['CustomerId']}")
        await visma(
            env, "PUT", f"customers/{customer['Id']}", json={**customer, "ElectronicAddress": "5567001234"}
        )
        await sweep(env)  # fixed in Visma: sent, once
        await sweep(env)
        assert [s["Channel"] for s in sent(env, invoice["Id"])] == ["AutoInvoiceElectronic"]
        assert events(env, e_invoiced["orderId"])["send"].state == "applied"

        env.configure(invoice_delivery_by_payment_method={"invoice": "none"})
        quiet = await new_order(env, PM_INVOICE)
        await sweep(env)
        [invoice] = await invoices_of(env, quiet["orderId"])
        assert sent(env, invoice["Id"]) == [] and events(env, quiet["orderId"])["send"].state == "ignored"
    finally:
        env.configure(invoice_delivery_by_payment_method={})
    assert len(sent(env, (await invoices_of(env, mailed["orderId"]))[0]["Id"])) == 1


# ---------------------------------------------------------------------- crashes and late answers
def run(env: Env, crash_at: str | None) -> None:
    """`shopbridge sync --once` in its own process, dying at `crash_at` (or finishing)."""
    done = worker(env, crash_at)
    ok = done.returncode == 137 if crash_at else done.returncode in (0, 1)
    assert ok, (crash_at, done.returncode, done.stdout + done.stderr)


async def test_a_crash_at_every_step_books_and_pays_once(env: Env) -> None:
    first = await new_order(env, PM_KLARNA)
    for point in ("before_create", "in_create"):  # the draft: intent recorded, then created unread
        run(env, point)
    second = await new_order(env, PM_KLARNA)  # the first is adopted; the second dies after its create
    run(env, "after_create")
    for point in ("book_before_convert", "book_after_convert", "payment_before_post", "payment_after_post"):
        run(env, point)
    run(env, None)
    for order in (first, second):
        assert len(await env.documents_for(order["orderId"])) == 0  # no draft left behind
        [invoice] = await invoices_of(env, order["orderId"])
        assert dec(invoice["RemainingAmountInvoiceCurrency"]) == 0 and len(paid_on(env, invoice["Id"])) == 1
        log = status_log(env, order["orderId"])["statusLog"]
        assert [e["toStatusId"] for e in log] == [env.ids["invoiced"], env.ids["paid"]]
        assert {k: v.state for k, v in events(env, order["orderId"]).items()} == {
            "book": "applied",
            "invoiced": "applied",
            "payment": "applied",
            "paid": "applied",
        }


async def test_a_crash_while_sending(env: Env) -> None:
    mailed = await new_order(env, PM_INVOICE)
    run(env, "send_after_post")  # e-mailed, nothing recorded: never mailed twice, and a person is told
    run(env, None)
    [invoice] = await invoices_of(env, mailed["orderId"])
    assert len(sent(env, invoice["Id"])) == 1
    t = env.transfer(mailed["orderId"])
    assert t.state == TransferState.NEEDS_REVIEW and "may have e-mailed invoice" in (t.last_error or "")

    env.configure(invoice_delivery="einvoice")
    try:
        company = await company_customer(env)
        e_invoiced = await new_order(env, PM_INVOICE, customer=company)
        run(env, "send_after_post")  # an e-invoice shows on the invoice: looked for, not sent again
        run(env, None)
    finally:
        env.configure(invoice_delivery="email")
    [invoice] = await invoices_of(env, e_invoiced["orderId"])
    assert len(sent(env, invoice["Id"])) == 1
    assert events(env, e_invoiced["orderId"])["send"].state == "applied"


async def test_late_answer_at_the_convert_step(env: Env) -> None:
    order = await new_order(env, PM_CARD)
    env.admin(
        "visma", "POST", "/visma/late", json={"path_suffix": "/convert", "after_s": 4}
    ).raise_for_status()
    try:
        async with open_context(
            env.store, env.name, starweb_rate_limit=STARWEB_LIMIT, visma_timeout=1.5
        ) as ctx:
            await sweep_connection(ctx)
    finally:
        env.admin("visma", "POST", "/visma/late", json={"clear": True})
    [invoice] = await invoices_of(env, order["orderId"])  # the convert's effect found, not repeated
    assert dec(invoice["RemainingAmountInvoiceCurrency"]) == 0 and len(paid_on(env, invoice["Id"])) == 1
    ev = events(env, order["orderId"])
    assert ev["book"].state == "applied" and ev["book"].visma_id == invoice["Id"]
    assert ev["paid"].state == "applied"


async def test_a_draft_changed_before_booking_is_not_booked(env: Env) -> None:
    order = await new_order(env, PM_KLARNA)
    run(env, "book_before_convert")
    draft_id = env.transfer(order["orderId"]).visma_document_id
    draft = await visma(env, "GET", f"customerinvoicedrafts/{draft_id}")
    draft["Rows"] = [{**draft["Rows"][0], "Quantity": 3}, *draft["Rows"][1:]]
    await visma(env, "PUT", f"customerinvoicedrafts/{draft_id}", json=draft)
    run(env, None)
    assert await invoices_of(env, order["orderId"]) == []
    t = env.transfer(order["orderId"])
    assert t.state == TransferState.NEEDS_REVIEW and "was changed in Visma after the transfer" in (
        t.last_error or ""
    )


async def test_connection_show_says_what_each_document_type_means(env: Env) -> None:
    cmd = [
        sys.executable,
        "-m",
        "shopbridge",
        "--data-dir",
        str(env.data_dir),
        "connection",
        "show",
        env.name,
    ]
    shown = subprocess.run(
        cmd, capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "300"}
    )
    lines = [line for line in shown.stdout.splitlines() if line.lstrip("> ").startswith("document_type ")]
    assert len(lines) == 3, shown.stdout
    chosen = [line for line in lines if line.startswith(">")]
    assert chosen == ["> document_type invoice: " + chosen[0].split(": ", 1)[1]]
    assert "booked customer invoice at once" in chosen[0]
    assert "someone reviews" in shown.stdout and "stock is reserved" in shown.stdout
