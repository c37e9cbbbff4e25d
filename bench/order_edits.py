"""Order edits bench: what watching transferred orders for changes in the shop costs per sweep.

Both sandboxes run in their own processes with 20 ms latency on every API call and their rate limits
switched off (the figures are call counts, not throughput). A connection is made like a user makes
one and N orders (default 1,000) are transferred as drafts. Then the edit watch (`sync/order_edits.py`,
run by every full order sweep) is measured on its own:
1. the first look (no cursor yet: every order created within `edit_window_days` is listed once);
2. an idle look (nothing changed since): the first list page, and the pages of orders modified within
   the 2 s re-read before the cursor (Starweb lists 50 a page; our own write-backs after a burst of
   transfers land close together): goal at most 3 list calls, no Visma call;
3. a look after 10 orders were edited in the shop (a quantity each): goal the list call plus at most
   4 calls per edited order (the customer, the draft update, reference data already cached).

Run: python bench/order_edits.py [N]
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import SandboxProcess, demo_sandboxes, emit, new_order_status, peak_rss_mb, print_table

from shopbridge.onboarding import connect_sandboxes, ensure_service_articles
from shopbridge.sandbox.catalog import demo_catalog, in_visma
from shopbridge.sandbox.common import defaults as d
from shopbridge.starweb.client import StarwebClient
from shopbridge.store import open_store
from shopbridge.sync.base import SweepReport
from shopbridge.sync.context import open_context
from shopbridge.sync.order_edits import EditWatch
from shopbridge.sync.orders import OrderFlow

LATENCY_MS = 20
EDITED = 10
LIMITS = {"starweb_rate_limit": 1_000_000, "visma_rate_limit": 1_000_000}


async def main(n_orders: int) -> None:
    with demo_sandboxes(LATENCY_MS, visma_limited=False) as (visma, starweb):
        await run(visma, starweb, n_orders)


async def run(visma: SandboxProcess, starweb: SandboxProcess, n_orders: int) -> None:
    started = time.perf_counter()
    store = open_store(data_dir=Path(tempfile.mkdtemp(prefix="bench-edits-")))
    await connect_sandboxes(store, "bench", starweb_url=starweb.url, visma_url=visma.url)
    shop = StarwebClient(
        f"{starweb.url}/api/v2", d.STARWEB_CLIENT_ID, d.STARWEB_CLIENT_SECRET, rate_limit=None
    )
    status = await new_order_status(shop, "Bench")
    conn = store.connections.find("bench")
    store.connections.update_settings(conn.id, {"trigger_statuses": [str(status)]})
    async with open_context(store, "bench", **LIMITS) as ctx:  # active articles at 25 %: every order goes
        codings = {c.Id: c.VatRatePercent for c in await ctx.visma.article_account_codings.list()}
        articles = (await ctx.visma.request("GET", "articles", params={"$pagesize": 500}))["Data"]
    rate = {str(a["Number"]): codings.get(a["CodingId"]) for a in articles if a["IsActive"]}
    skus = [v.sku for p in demo_catalog() for v in p.variants if in_visma(v.sku) and rate.get(v.sku) == 0.25]
    rng = random.Random(11)
    sem = asyncio.Semaphore(16)
    guest = {
        "firstName": "Bench",
        "lastName": "Kund",
        "address": "Storgatan 1",
        "postalCode": "11122",
        "city": "Stockholm",
        "countryCode": "SE",
    }

    async def create(i: int) -> dict[str, Any]:
        body = {
            "originalCustomerEmail": f"bench{i % 50}@example.se",
            "addresses": {"customerInvoice": guest, "customerDelivery": guest},
            "statusId": status,
            "onOrderStatusChangeSendEmail": False,
            "items": [{"sku": rng.choice(skus), "quantity": 1, "unitPrice": 100, "vatRate": 25}],
        }
        async with sem:
            return (await shop.request("POST", "orders", json=body, params={"include": "items"}))["data"]

    orders = await asyncio.gather(*(create(i) for i in range(n_orders)))
    async with open_context(store, "bench", **LIMITS) as ctx:
        await ensure_service_articles(ctx)
        flow = OrderFlow(ctx, concurrency=8)
        flow._watch_edits = _no_watch  # type: ignore[method-assign]  # measured below, on its own
        setup = await flow.sweep()
        setup_s = time.perf_counter() - started

        async def look() -> tuple[int, int, float, SweepReport]:
            report = SweepReport("bench")
            sw, vi = ctx.starweb.total_calls, ctx.visma.total_calls
            t0 = time.perf_counter()
            await EditWatch(OrderFlow(ctx)).sweep(report)
            return ctx.starweb.total_calls - sw, ctx.visma.total_calls - vi, time.perf_counter() - t0, report

        first = await look()
        idle = await look()
        for order in rng.sample(orders, EDITED):
            item = order["items"]["data"][0]
            await shop.request(
                "PATCH", f"orders/{order['orderId']}/items/{item['itemId']}", json={"quantity": 2}
            )
        edited = await look()
    await shop.aclose()
    updated = edited[3].counts["document_updated"]
    per_edit = (edited[0] + edited[1] - idle[0] - idle[1]) / max(updated, 1)
    print_table(
        f"Order edits: {n_orders} transferred orders, {EDITED} edited, {LATENCY_MS} ms latency",
        [
            ("orders transferred (setup)", setup.counts["transferred"], n_orders),
            ("setup (s)", round(setup_s, 1), None),
            ("first look: Starweb calls", first[0], None),
            ("first look (s)", round(first[2], 2), None),
            ("idle look: Starweb calls", idle[0], "<= 3"),
            ("idle look: Visma calls", idle[1], 0),
            ("idle look (s)", round(idle[2], 3), None),
            ("edited documents updated", updated, EDITED),
            ("calls per edited order (beyond idle)", round(per_edit, 2), "<= 4"),
            ("look with edits (s)", round(edited[2], 2), None),
            ("peak RSS (MB)", round(peak_rss_mb(), 1), None),
        ],
    )
    emit(
        {
            "bench": "order_edits",
            "orders": n_orders,
            "first_look_starweb_calls": first[0],
            "idle_starweb_calls": idle[0],
            "idle_starweb_calls_goal": 3,
            "idle_visma_calls": idle[1],
            "idle_visma_calls_goal": 0,
            "edited": EDITED,
            "updated": updated,
            "calls_per_edited_order": round(per_edit, 2),
            "calls_per_edited_order_goal": 4,
            "idle_look_s": round(idle[2], 3),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }
    )


async def _no_watch(_report: SweepReport) -> None:
    return None


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
