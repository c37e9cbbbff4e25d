"""Booking bench (`document_type invoice`): orders booked, settled or sent per minute under Visma's real
rate limit, and the API calls each booked order costs.

Both sandboxes run in their own processes with 20 ms latency on every API call; Visma keeps its
real limit (600 calls a minute per endpoint), Starweb's is raised (its limit is not documented).
N orders (default 300) are created in the shop, 2/3 paid at checkout (Klarna) and 1/3 paid by
invoice; one sweep of every flow transfers them, books each as an invoice, registers the checkout
payments and e-mails the other invoices, and tells the shop Invoiced and Paid.

Figures: the sweep's duration and orders booked per minute (goal: at least 250 a minute, bounded by
Visma's 600 calls a minute on /customerinvoicedrafts: one create and one convert per order), and the
Visma calls per order per endpoint (goals: 2 on /customerinvoicedrafts, at most 1 on
/customerinvoices, at most 0.1 on the rest beyond the customer and article look-ups of the transfer).

Run: python bench/booking.py [N]
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import SandboxProcess, demo_sandboxes, emit, new_order_status, print_table

from shopbridge.onboarding import connect_sandboxes, ensure_service_articles
from shopbridge.sandbox.catalog import demo_catalog, in_visma
from shopbridge.sandbox.common import defaults as d
from shopbridge.sandbox.visma.seed import sid
from shopbridge.starweb.client import StarwebClient
from shopbridge.store import open_store
from shopbridge.sync.context import open_context
from shopbridge.sync.flows import sweep_connection
from shopbridge.visma.client import VismaClient

LATENCY_MS = 20
KLARNA, INVOICE = 1, 3
STARWEB_LIMIT = 1_000_000
GOAL_PER_MINUTE = 250


async def main(n_orders: int) -> None:
    with demo_sandboxes(LATENCY_MS) as (visma, starweb):
        await run(visma, starweb, n_orders)


async def run(visma: SandboxProcess, starweb: SandboxProcess, n_orders: int) -> None:
    started = time.perf_counter()
    store = open_store(data_dir=Path(tempfile.mkdtemp(prefix="bench-booking-")))
    await connect_sandboxes(
        store,
        "bench",
        starweb_url=starweb.url,
        visma_url=visma.url,
        settings={"paid_payment_methods": ["klarna_checkout"]},  # the consent asks for ea:purchase
    )
    shop = StarwebClient(
        f"{starweb.url}/api/v2", d.STARWEB_CLIENT_ID, d.STARWEB_CLIENT_SECRET, rate_limit=None
    )
    status = await new_order_status(shop, "Bench")
    ids = {
        key: await new_order_status(shop, name)
        for key, name in (("invoiced", "Fakturerad"), ("paid", "Betald"))
    }
    conn = store.connections.find("bench")
    store.connections.update_settings(
        conn.id,
        {
            "trigger_statuses": [str(status)],
            "document_type": "invoice",
            "status_map": {
                "delivered": "",
                "invoiced": str(ids["invoiced"]),
                "paid": str(ids["paid"]),
                "cancelled": "",
            },
            "payment_accounts": {"klarna_checkout": sid("bank", "klarna")},
            "invoice_delivery": "email",
        },
    )
    skus = [v.sku for p in demo_catalog() for v in p.variants if in_visma(v.sku)]
    async with open_context(store, "bench", starweb_rate_limit=STARWEB_LIMIT) as ctx:
        await ensure_service_articles(ctx)
        se = [
            c
            for c in (await shop.request("GET", "customers"))["data"]
            if await _domestic(ctx, c["customerId"])
        ]
    rng = random.Random(11)
    sem = asyncio.Semaphore(16)

    async def create(i: int) -> None:
        body = {
            "customerId": rng.choice(se)["customerId"],
            "statusId": status,
            "paymentMethodId": INVOICE if i % 3 == 2 else KLARNA,
            "onOrderStatusChangeSendEmail": False,
            "items": [{"sku": rng.choice(skus), "quantity": 1}],
        }
        async with sem:
            await shop.request("POST", "orders", json=body)

    await asyncio.gather(*(create(i) for i in range(n_orders)))
    await shop.aclose()
    setup_s = time.perf_counter() - started

    calls: Counter[str] = Counter()
    plain = VismaClient.limit_key

    def counted(self: VismaClient, method: str, path: str) -> str:
        key = plain(self, method, path)
        calls[key.split(":", 1)[1]] += 1
        return key

    VismaClient.limit_key = counted  # type: ignore[method-assign]
    t0 = time.perf_counter()
    async with open_context(store, "bench", starweb_rate_limit=STARWEB_LIMIT) as ctx:
        report = await sweep_connection(ctx)
        starweb_calls = ctx.starweb.total_calls
    sweep_s = time.perf_counter() - t0
    VismaClient.limit_key = plain  # type: ignore[method-assign]

    applied = Counter(e.event for e in store.events.all(conn.id, limit=10 * n_orders) if e.state == "applied")
    booked = applied["book"]
    per_minute = booked / sweep_s * 60 if sweep_s else 0.0
    per_order = {k: round(v / max(booked, 1), 2) for k, v in calls.items()}
    drafts, invoices = per_order.get("customerinvoicedrafts", 0.0), per_order.get("customerinvoices", 0.0)
    lookups = ("customers", "articles", "articleaccountcodings", "units", "currencies", "companysettings")
    rest = round(
        sum(
            v
            for k, v in per_order.items()
            if k not in (*lookups, "customerinvoicedrafts", "customerinvoices")
        ),
        2,
    )
    total_s = time.perf_counter() - started
    print_table(
        f"Booking: {n_orders} orders as invoices, Visma at 600 calls/min/endpoint, {LATENCY_MS} ms latency",
        [
            ("orders transferred", report.counts["transferred"], n_orders),
            ("invoices booked", booked, n_orders),
            ("  settled with the checkout payment", applied["payment"], None),
            ("  e-mailed", applied["send"], None),
            ("  Invoiced / Paid told to the shop", f"{applied['invoiced']} / {applied['paid']}", None),
            ("setup (s)", round(setup_s, 1), None),
            ("sweep (s)", round(sweep_s, 1), None),
            ("booked per minute", round(per_minute, 1), f">= {GOAL_PER_MINUTE}"),
            ("Visma calls per order, /customerinvoicedrafts", drafts, "<= 2"),
            ("Visma calls per order, /customerinvoices", invoices, "<= 1"),
            ("Visma calls per order, other than look-ups", rest, "<= 0.1"),
            ("Starweb calls per order", round(starweb_calls / max(booked, 1), 2), None),
            ("bench duration (s)", round(total_s, 1), "< 600"),
        ],
    )
    emit(
        {
            "bench": "booking",
            "orders": n_orders,
            "latency_ms": LATENCY_MS,
            "booked": booked,
            "settled": applied["payment"],
            "emailed": applied["send"],
            "sweep_s": round(sweep_s, 1),
            "booked_per_minute": round(per_minute, 1),
            "booked_per_minute_goal": GOAL_PER_MINUTE,
            "visma_calls_per_order": per_order,
            "drafts_calls_per_order": drafts,
            "drafts_calls_per_order_goal": 2,
            "invoices_calls_per_order": invoices,
            "invoices_calls_per_order_goal": 1,
            "other_calls_per_order": rest,
            "other_calls_per_order_goal": 0.1,
            "starweb_calls_per_order": round(starweb_calls / max(booked, 1), 2),
            "duration_s": round(total_s, 1),
        }
    )


async def _domestic(ctx: Any, customer_id: int) -> bool:
    """A Swedish private customer (VAT checks pass for any demo article)."""
    c = (await ctx.starweb.request("GET", f"customers/{customer_id}", params={"include": "addresses"}))[
        "data"
    ]
    addr = ((c.get("addresses") or {}).get("data") or {}).get("invoice") or {}
    return c.get("type") == "person" and (addr.get("countryCode") or "SE") == "SE"


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
