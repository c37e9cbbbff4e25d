"""The status flow under bad input and killed workers: clear errors on the order, nothing doubled."""

from __future__ import annotations

import os
import subprocess
import sys

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

from e2e import Env, dec, worker

pytestmark = pytest.mark.asyncio(loop_scope="session")


env = status_env_fixture("status_faults")


async def test_unmapped_event_waits_on_its_order_and_the_others_go_on(env: Env) -> None:
    conn = env.store.connections.find(env.name)
    full = dict(conn.settings["status_map"])
    env.configure(status_map={k: v for k, v in full.items() if k != "paid"})
    try:
        a = await transferred(env, kind="invoice_draft", payment=PM_INVOICE)
        b = await transferred(env, kind="order", payment=PM_INVOICE)
        await visma(env, "POST", f"customerinvoicedrafts/{a['visma_id']}/convert")
        await pay(env, await invoice_of(env, "CreatedFromDraftId", a["visma_id"]))
        await ship(env, b["visma_id"])
        report = await sweep(env)
        paid = events(env, a["orderId"])["paid"]
        assert paid.state == "error"
        assert "no Starweb status is mapped for the event 'paid'" in (paid.error or "")
        assert f"{a['orderId']}:paid" in report.waiting
        assert [e["toStatusId"] for e in status_log(env, a["orderId"])["statusLog"]] == [env.ids["invoiced"]]
        assert [e["toStatusId"] for e in status_log(env, b["orderId"])["statusLog"]] == [3]
        cmd = [sys.executable, "-m", "shopbridge", "--data-dir", str(env.data_dir), "orders", "show"]
        wide = {**os.environ, "COLUMNS": "300"}
        shown = subprocess.run(
            [*cmd, str(a["orderId"])], capture_output=True, text=True, timeout=60, env=wide
        )
        assert "status event" in shown.stdout and "no Starweb status is mapped" in shown.stdout, shown.stdout
    finally:
        env.configure(status_map=full)
    await sweep(env)  # fixed: the waiting event goes through, once
    await sweep(env)
    log = status_log(env, a["orderId"])["statusLog"]
    assert [e["toStatusId"] for e in log] == [env.ids["invoiced"], env.ids["paid"]]
    assert events(env, a["orderId"])["paid"].error is None


async def test_payment_larger_than_remaining_is_refused_clearly(env: Env) -> None:
    order = await transferred(env, kind="invoice_draft")
    await visma(env, "POST", f"customerinvoicedrafts/{order['visma_id']}/convert")
    invoice = await invoice_of(env, "CreatedFromDraftId", order["visma_id"])
    await pay(env, invoice, amount=dec(invoice["RemainingAmountInvoiceCurrency"]) - 100)  # paid in part
    await sweep(env)
    await sweep(env)
    payment = events(env, order["orderId"])["payment"]
    assert payment.state == "error"
    assert "larger than what remains" in (payment.error or "")
    invoice = await invoice_of(env, "CreatedFromDraftId", order["visma_id"])
    assert dec(invoice["RemainingAmountInvoiceCurrency"]) == 100  # nothing registered on top
    assert events(env, order["orderId"])["invoiced"].state == "applied"  # the order went on


async def test_order_deleted_in_the_shop(env: Env) -> None:
    order = await transferred(env, kind="order")
    await env.shop("DELETE", f"orders/{order['orderId']}")
    await ship(env, order["visma_id"])
    await sweep(env)
    delivered = events(env, order["orderId"])["delivered"]
    assert delivered.state == "error"
    assert "no longer exists in Starweb" in (delivered.error or "")


async def test_killed_worker_applies_a_status_once(env: Env) -> None:
    crash_at = "status_after_patch"  # sent, never recorded: the worst place to die
    order = await transferred(env, kind="order", payment=PM_INVOICE)
    oid = order["orderId"]
    await ship(env, order["visma_id"], tracking="42")
    crashed = worker(env, crash_at)
    assert crashed.returncode == 137, crashed.stdout + crashed.stderr
    assert events(env, oid)["delivered"].state == "sending"  # the intent was recorded first
    before = len(status_log(env, oid)["statusLog"])
    assert before == 1
    restarted = worker(env, None)
    assert restarted.returncode in (0, 1), restarted.stdout + restarted.stderr
    log = status_log(env, oid)
    assert len(log["statusLog"]) == 1 and len(log["mails"]) <= 1
    assert events(env, oid)["delivered"].state == "applied"


async def test_killed_worker_registers_a_payment_once(env: Env) -> None:
    crash_at = "payment_after_post"  # Visma took the payment, nothing recorded
    order = await transferred(env, kind="invoice_draft")
    await visma(env, "POST", f"customerinvoicedrafts/{order['visma_id']}/convert")
    crashed = worker(env, crash_at)
    assert crashed.returncode == 137, crashed.stdout + crashed.stderr
    invoice = await invoice_of(env, "CreatedFromDraftId", order["visma_id"])
    assert dec(invoice["RemainingAmountInvoiceCurrency"]) == 0
    assert worker(env, None).returncode in (0, 1)
    await sweep(env)  # paid comes back with the next poll
    invoice = await invoice_of(env, "CreatedFromDraftId", order["visma_id"])
    assert dec(invoice["RemainingAmountInvoiceCurrency"]) == 0
    ev = events(env, order["orderId"])
    assert ev["payment"].state == "applied", ev["payment"].error
    assert ev["paid"].state == "applied"


async def test_killed_worker_credits_once(env: Env) -> None:
    order = await transferred(env, kind="invoice_draft", payment=PM_INVOICE)
    oid = order["orderId"]
    await visma(env, "POST", f"customerinvoicedrafts/{order['visma_id']}/convert")
    await sweep(env)
    await env.shop("PATCH", f"orders/{oid}", json={"statusId": 6})
    crashed = worker(env, "credit_after_post")
    assert crashed.returncode == 137, crashed.stdout + crashed.stderr
    assert worker(env, None).returncode in (0, 1)
    docs = await env.documents_for(oid, "customerinvoices")
    assert len([d for d in docs if d["IsCreditInvoice"]]) == 1
    assert events(env, oid)["credit"].state == "applied"
