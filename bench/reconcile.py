"""Reconcile bench: a month of N orders (default 10,000) reconciled with list pages only.

Both sandboxes run in their own processes, rate limits off for the set-up. N orders are created in the
shop (in a status of their own, all in the running month) and transferred by the order flow, so the
transfer log and Visma's drafts are what production would have. Then `reconcile` runs in a process of
its own (so its peak RSS is its own) for the running month and counts, from the client side, every
API call by kind: a list page (a collection path) or a per-item read (a path ending in an id; goal: 0).

Figures: API calls (goal: list pages only, no per-item read), seconds, peak RSS of the reconcile
process, and whether the month came out accounted for (exit 0).

Run: python bench/reconcile.py [N]
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import SandboxProcess, emit, new_order_status, peak_rss_mb, print_table

from shopbridge.onboarding import connect_sandboxes, ensure_service_articles
from shopbridge.sandbox.common import defaults as d
from shopbridge.starweb.client import StarwebClient
from shopbridge.store import open_store
from shopbridge.sync.context import open_context
from shopbridge.sync.orders import OrderFlow

FAST = 10**7  # client-side limits out of the way: the set-up is not what is measured
ITEM_PATH = re.compile(r"/(\d+|[0-9a-fA-F-]{36})$")


async def setup(visma: SandboxProcess, starweb: SandboxProcess, n_orders: int, data: Path) -> dict[str, Any]:
    """A connection, N orders in the shop, every one transferred; returns set-up figures."""
    from orders import clean_skus, swedish_customers  # the order bench's helpers

    store = open_store(data_dir=data)
    await connect_sandboxes(store, "bench", starweb_url=starweb.url, visma_url=visma.url)
    shop = StarwebClient(
        f"{starweb.url}/api/v2", d.STARWEB_CLIENT_ID, d.STARWEB_CLIENT_SECRET, rate_limit=None
    )
    status_id = await new_order_status(shop, "Bench")
    conn = store.connections.find("bench")
    store.connections.update_settings(
        conn.id, {"trigger_statuses": [str(status_id)], "order_concurrency": 16}
    )
    skus = await clean_skus(store)
    customers = await swedish_customers(shop)
    rng = random.Random(11)
    sem = asyncio.Semaphore(16)

    async def one() -> None:
        body = {
            "customerId": rng.choice(customers),
            "statusId": status_id,
            "onOrderStatusChangeSendEmail": False,
            "items": [
                {"sku": rng.choice(skus), "quantity": rng.randint(1, 3)} for _ in range(rng.randint(1, 3))
            ],
        }
        async with sem:
            await shop.request("POST", "orders", json=body)

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n_orders)))
    created_s = time.perf_counter() - t0
    await shop.aclose()
    t0 = time.perf_counter()
    async with open_context(store, "bench", starweb_rate_limit=FAST, visma_rate_limit=FAST) as ctx:
        await ensure_service_articles(ctx)
        report = await OrderFlow(ctx).sweep()
    swept_s = time.perf_counter() - t0
    store.close()
    return {"created_s": created_s, "swept_s": swept_s, "transferred": report.counts["transferred"]}


async def measure(data: Path) -> dict[str, Any]:
    """Runs in its own process: reconcile the running month, counting calls by kind."""
    from shopbridge.sync.reconcile import reconcile, running_months

    store = open_store(data_dir=data)
    calls = {"list": 0, "item": 0}

    async def count(response: Any) -> None:
        kind = "item" if ITEM_PATH.search(response.request.url.path) else "list"
        calls[kind] += 1

    async with open_context(store, "bench", starweb_rate_limit=FAST, visma_rate_limit=FAST) as ctx:
        for client in (ctx.starweb, ctx.visma):
            client.add_response_hook(count)
        t0 = time.perf_counter()
        result = await reconcile(ctx, running_months()[0])
        seconds = time.perf_counter() - t0
    store.close()
    return {
        "seconds": seconds,
        "api_calls": result.api_calls,
        "list_calls": calls["list"],
        "item_calls": calls["item"],
        "orders": result.orders,
        "transferred": result.transferred,
        "unexplained": len(result.unexplained),
        "exit_code": result.exit_code,
        "verdict": result.verdict(),
        "peak_rss_mb": peak_rss_mb(),
    }


async def main(n_orders: int) -> None:
    visma = SandboxProcess("visma", "--seed", "demo", "--rate-limit", "0")
    starweb = SandboxProcess("starweb", "--seed", "demo", "--rate-limit", "0")
    data = Path(tempfile.mkdtemp(prefix="bench-reconcile-"))
    try:
        made = await setup(visma, starweb, n_orders, data)
        out = subprocess.run(
            [sys.executable, __file__, "--measure", str(data)], capture_output=True, text=True, check=True
        )
        m = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        visma.stop()
        starweb.stop()
    print_table(
        f"Reconcile: a month of {n_orders} orders",
        [
            ("orders created in the shop (s)", round(made["created_s"], 1), None),
            ("orders transferred (set-up, s)", round(made["swept_s"], 1), None),
            ("orders transferred", made["transferred"], n_orders),
            ("qualifying orders reconciled", m["orders"], n_orders),
            ("API calls", m["api_calls"], None),
            ("  list pages", m["list_calls"], None),
            ("  per-item reads", m["item_calls"], 0),
            ("seconds", round(m["seconds"], 2), None),
            ("peak RSS of the reconcile process (MB)", round(m["peak_rss_mb"], 1), None),
            ("unexplained differences", m["unexplained"], 0),
        ],
    )
    print(m["verdict"])
    emit(
        {
            "bench": "reconcile",
            "orders": n_orders,
            "transferred": made["transferred"],
            "reconciled": m["orders"],
            "api_calls": m["api_calls"],
            "list_pages": m["list_calls"],
            "per_item_reads": m["item_calls"],
            "per_item_reads_goal": 0,
            "api_calls_goal": "list pages only",
            "seconds": round(m["seconds"], 2),
            "peak_rss_mb": round(m["peak_rss_mb"], 1),
            "unexplained_differences": m["unexplained"],
            "unexplained_differences_goal": 0,
            "exit_code": m["exit_code"],
        }
    )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--measure":
        print(json.dumps(asyncio.run(measure(Path(sys.argv[2])))))
    else:
        asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
