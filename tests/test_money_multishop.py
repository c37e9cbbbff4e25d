"""Three shops on one Visma company that never touch each other's orders, end to end over real HTTP:
reference prefixes that could be mistaken for each other are refused (exit 2, a sentence), look-ups by
reference are scoped to the shop, status ids are never taken from another shop, and one order number
in three shops goes through payments, returns, credits, refunds, cancellations and a crash with no
effect on the other shops.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from multishop_env import NAMES, ROOT, MultiEnv, multi_fixture
from shopbridge.sandbox.common import defaults as d
from shopbridge.sandbox.visma.seed import sid
from shopbridge.store import TransferState
from shopbridge.sync.orders import OrderFlow
from status_env import skus, visma

from e2e import dec, worker

pytestmark = pytest.mark.asyncio(loop_scope="session")

env = multi_fixture("money_multishop")
PM_KLARNA, PM_INVOICE = 1, 3
RETURNED, CANCELLED = 6, 4
IGNORE = {"invoiced": "", "paid": ""}


def item(sku: str) -> dict[str, Any]:
    return {"sku": sku, "quantity": 1, "unitPrice": Decimal("99.99"), "vatRate": 25}


async def same_number(env: MultiEnv, sku: str, payment: int) -> dict[int, dict[str, Any]]:
    """One order in each shop, all with the same Starweb order number."""
    made = {k: await env.order_in(k, [item(sku)], paymentMethodId=payment) for k in NAMES}
    for _ in range(60):
        target = max(int(o["orderId"]) for o in made.values())
        behind = [k for k in NAMES if int(made[k]["orderId"]) < target]
        if not behind:
            return made
        for k in behind:
            made[k] = await env.order_in(k, [item(sku)], paymentMethodId=payment)
    raise AssertionError("no common order number")


def status_log(env: MultiEnv, k: int, order_id: int) -> list[dict[str, Any]]:
    r = env.admin("starweb", "GET", f"/starweb/shops/{k}/orders/{order_id}/status-log")
    r.raise_for_status()
    return r.json()["statusLog"]


def events(env: MultiEnv, k: int, order_id: int) -> dict[str, Any]:
    return {e.event: e for e in env.store.events.for_order(env.conn_id(k), str(order_id))}


def payments(env: MultiEnv) -> list[dict[str, Any]]:
    return env.admin("visma", "GET", "/visma/payments").json()["payments"]


# ---------------------------------------------------------------------- references
async def test_clashing_reference_prefixes_are_refused(env: MultiEnv) -> None:
    same = env.cli("connection", "set", NAMES[3], "reference_prefix", "Starweb ")
    assert same.returncode == 2, same.stdout
    assert f"shop '{ROOT}' uses the same reference_prefix 'Starweb '" in " ".join(same.stdout.split())
    digits = env.cli(
        "connection", "set", NAMES[2], "reference_prefix", "ms-3 1"
    )  # "ms-3 1"+"23" = "ms-3 "+"123"
    assert digits.returncode == 2 and "clashing reference_prefix 'ms-3 '" in " ".join(digits.stdout.split())
    joining = env.cli(
        "connect",
        "starweb",
        "--name",
        "Starweb",  # its default prefix would be "Starweb ", the root's
        "--base-url",
        env.shop_url(2),
        "--shop-of",
        ROOT,
        "--client-id",
        d.STARWEB_CLIENT_ID,
        "--client-secret",
        d.STARWEB_CLIENT_SECRET,
    )
    assert joining.returncode == 2 and "uses the same reference_prefix" in joining.stdout, joining.stdout
    assert [c.name for c in env.store.connections.all()] == list(NAMES.values())
    own = env.cli("connection", "set", NAMES[2], "reference_prefix", "Butik2 ")
    assert own.returncode == 0, own.stdout
    env.configure_shop(2, reference_prefix="ms-2 ")


async def test_look_ups_by_reference_are_scoped_to_the_shop(env: MultiEnv) -> None:
    [sku] = await skus(env, 1)
    two = await env.order_in(2, [item(sku)])
    await env.sweep_k(2)
    doc = env.transfer_k(2, two["orderId"]).visma_document_id
    reference = f"ms-2 {two['orderId']}"
    async with env.context_k(2) as ctx:
        assert str((await OrderFlow(ctx).find_document(reference, "invoice_draft"))["Id"]) == doc
    async with env.context_k(1) as ctx:  # shop 1 never adopts shop 2's document, whatever it carries
        assert await OrderFlow(ctx).find_document(reference, "invoice_draft") is None


# ---------------------------------------------------------------------- status ids per shop
async def test_a_shop_never_uses_another_shops_status_ids(env: MultiEnv) -> None:
    body = {"languages": [{"langCode": "sv", "name": "Fakturerad"}]}
    invoiced_1 = (await env.shop_k(1, "POST", "order-statuses", json=body))["data"]["statusId"]
    env.configure(
        status_map={"delivered": "completed", "invoiced": str(invoiced_1), "paid": "", "cancelled": ""}
    )
    try:
        [sku] = await skus(env, 1)
        two = await env.order_in(2, [item(sku)], paymentMethodId=PM_INVOICE)
        await env.sweep_k(2)
        draft = env.transfer_k(2, two["orderId"]).visma_document_id
        await visma(env, "POST", f"customerinvoicedrafts/{draft}/convert")
        report = await env.sweep_k(2)
        reason = " ".join(report.waiting["status_map"].split())
        assert f"status_map of '{NAMES[2]}' comes from '{ROOT}' and names status ids ({invoiced_1})" in reason
        assert status_log(env, 2, two["orderId"]) == []  # no status feedback rather than a wrong one
        assert events(env, 2, two["orderId"])["invoiced"].state == "ignored"

        env.configure_shop(2, trigger_statuses=None)  # now it inherits the root's trigger status id too
        report = await env.sweep_k(2)
        assert "trigger_statuses of 'ms-2' comes from 'ms'" in " ".join(
            report.waiting["trigger_statuses"].split()
        )
        assert report.counts["transferred"] == 0
    finally:
        env.configure_shop(2, trigger_statuses=[str(env.status_ids[2])])
        env.configure(status_map=None)


# ---------------------------------------------------------------------- one number, three shops
async def test_three_shops_one_order_number_no_cross_shop_effect(env: MultiEnv) -> None:
    own = {"delivered": "completed", "cancelled": "canceled", **IGNORE}
    for k in NAMES:
        env.configure_shop(k, status_map=own, returned_statuses=[str(RETURNED)], deletion_check_interval_s=0)
    env.configure(
        paid_payment_methods=["klarna_checkout"], payment_accounts={"default": sid("bank", "klarna")}
    )
    [sku] = await skus(env, 1)
    made = await same_number(env, sku, PM_KLARNA)
    number = made[1]["orderId"]
    for k in NAMES:
        await env.sweep_k(k)
    drafts = {k: env.transfer_k(k, number).visma_document_id for k in NAMES}
    assert len(set(drafts.values())) == 3

    # shop 1 and shop 3: booked in Visma and paid at checkout
    for k in (1, 3):
        await visma(env, "POST", f"customerinvoicedrafts/{drafts[k]}/convert")
        await env.sweep_k(k)
    invoices = {
        k: (await env.documents(f"{p}{number}", "customerinvoices"))
        for k, p in ((1, "Starweb "), (3, "ms-3 "))
    }
    assert all(len(v) == 1 and dec(v[0]["RemainingAmountInvoiceCurrency"]) == 0 for v in invoices.values())

    # shop 1 returned: credit and refund; shop 2 cancelled: its draft voided; shop 3 returned, worker killed
    await env.shop_k(1, "PATCH", f"orders/{number}", json={"statusId": RETURNED})
    await env.shop_k(2, "PATCH", f"orders/{number}", json={"statusId": CANCELLED})
    await env.sweep_k(1)
    await env.sweep_k(2)
    await env.shop_k(3, "PATCH", f"orders/{number}", json={"statusId": RETURNED})
    crashed = worker(env, "credit_after_post")
    assert crashed.returncode == 137, crashed.stdout + crashed.stderr
    assert worker(env, None).returncode in (0, 1)
    for k in NAMES:
        await env.sweep_k(k)

    one = await env.documents(f"Starweb {number}", "customerinvoices")
    three = await env.documents(f"ms-3 {number}", "customerinvoices")
    for docs in (one, three):
        credits = [x for x in docs if x["IsCreditInvoice"]]
        assert len(docs) == 2 and len(credits) == 1
        assert dec(credits[0]["RemainingAmountInvoiceCurrency"]) == 0  # refunded on its own credit
    assert await env.documents(f"ms-2 {number}") == []  # shop 2's draft voided ...
    assert await env.documents(f"ms-2 {number}", "customerinvoices") == []  # ... and nothing booked for it
    refunds = [p for p in payments(env) if dec(p["PaymentAmount"]) < 0]
    credit_ids = {x["Id"] for docs in (one, three) for x in docs if x["IsCreditInvoice"]}
    assert {p["_InvoiceId"] for p in refunds} & credit_ids == credit_ids
    assert len([p for p in refunds if p["_InvoiceId"] in credit_ids]) == 2

    for k in NAMES:  # each shop's events are its own; no shop's status moved by another's
        ev = events(env, k, number)
        log = status_log(env, k, number)
        if k == 2:
            assert ev["void"].state == "applied" and "credit" not in ev
            assert [e["toStatusId"] for e in log] == [CANCELLED]  # only the shop's own cancellation
        else:
            assert ev["credit"].state == "applied" and ev["refund"].state == "applied"
            assert [e["toStatusId"] for e in log] == [RETURNED]
        assert env.transfer_k(k, number).state in (TransferState.TRANSFERRED, TransferState.NEEDS_REVIEW)
    env.configure(paid_payment_methods=None, payment_accounts=None)
    for k in NAMES:
        env.configure_shop(k, status_map=None, returned_statuses=None, deletion_check_interval_s=None)
