"""Multishop bench: ten shops × 1,000 products on one Visma company, one Visma stock change set.

Both sandboxes run in their own processes from their `empty` seeds, with 50 ms added latency on every
API call; Visma enforces its real limit (600 requests per minute per endpoint), the Starweb sandbox
(serving every shop, shop k at `/shops/{k}/api/v2`) a generous one, as bench/catalog.py does. The
bulk admin routes give Visma N stock articles and every shop the same N SKUs (same price, same stock;
the names differ, so the initial sync renames the products). Connections are made like a user makes
them: the root connection with the Visma consent (preset erp-master), the other shops with
`connect_starweb(shop_of=...)`.

1. Initial sync of every shop, all at once: ShopCatalogFlow plan(full=True, observe=True) + apply.
2. One sweep of every shop with nothing changed (`sweep_connection`, all flows, all shops at once as
   the engine runs them; this first one is the full check): goal zero writes.
3. ONE Visma stock change set: C articles' stock (admin route, one call).
4. One sweep of every shop, all at once: sweep time, API calls per shop split into reads and writes;
   goal: writes only for the changed variants in each shop (write calls == C × shops, each one a
   stock write of a changed variant), and the shops show the new stock.
5. Visma reads per sweep of the company: the shops of one company share its Visma change lists and
   reference lists (`visma/shared_reads.py`), so the sweep of step 4 reads Visma as often as the
   sweep of a one-shop company. The one-shop company is connection "solo" (its own Visma consent on
   the same sandbox company, shop 1's products again), swept right after step 4; goal: equal reads.

Run: python bench/multishop.py [--quick]   (--quick: 3 shops × 200 products, a smoke run)
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import SandboxProcess, emit, print_table

from shopbridge.onboarding import connect_sandboxes, connect_starweb
from shopbridge.sandbox.common import defaults as d
from shopbridge.starweb.client import StarwebClient
from shopbridge.store import Store, open_store
from shopbridge.sync.context import open_context
from shopbridge.sync.flows import sweep_connection
from shopbridge.sync.shop_catalog import ShopCatalogFlow

LATENCY_MS = 50
STARWEB_LIMIT = 100_000  # Starweb's limit is undocumented; as the other benches, effectively off
VISMA_LIMIT = d.VISMA_RATE_LIMIT  # 600 per minute per endpoint, enforced by the sandbox
ROOT = "bench"
SOLO = "solo"  # a company of one shop (shop 1 of the sandbox), for the reads of a one-shop sweep
PREFIX = "MS"
STOCK = 10
CHANGED = 25


def split(calls: Counter[str]) -> dict[str, int]:
    """HTTP calls by kind: reads (GET), writes (anything else), token requests."""
    out = {"reads": 0, "writes": 0, "token": 0}
    for key, n in calls.items():
        method, _, path = key.partition(" ")
        if path.rstrip("/").endswith("token"):
            out["token"] += n
        elif method == "GET":
            out["reads"] += n
        else:
            out["writes"] += n
    return out


def shop_name(k: int | str) -> str:
    if isinstance(k, str):
        return k
    return ROOT if k == 1 else f"{ROOT}-{k}"


def limits() -> dict[str, Any]:
    return {"starweb_rate_limit": STARWEB_LIMIT, "visma_rate_limit": VISMA_LIMIT}


async def initial_sync(store: Store, k: int | str) -> dict[str, Any]:
    ctx = open_context(store, shop_name(k), **limits())
    try:
        t0 = time.perf_counter()
        plan = await ShopCatalogFlow(ctx).plan(full=True, observe=True)
        done = await plan.apply()
        return {
            "shop": k,
            "seconds": time.perf_counter() - t0,
            "plan": {a: n for a, n in plan.counts.items() if n},
            "done": dict(done),
            "starweb": split(ctx.starweb.calls),
            "visma": split(ctx.visma.calls),
        }
    finally:
        await ctx.aclose()


async def sweep(store: Store, k: int | str) -> dict[str, Any]:
    """One sweep of every flow of shop k, as the engine makes it; its calls by kind."""
    ctx = open_context(store, shop_name(k), **limits())
    try:
        recorded = ctx.starweb.record_calls()
        t0 = time.perf_counter()
        report = await sweep_connection(ctx)
        seconds = time.perf_counter() - t0
        sw, vi = Counter(ctx.starweb.calls), Counter(ctx.visma.calls)
    finally:
        await ctx.aclose()
    written = [key for key in recorded if split(Counter({key: 1}))["writes"]]
    return {
        "shop": k,
        "seconds": seconds,
        "starweb": split(sw),
        "visma": split(vi),
        "starweb_writes": written,
        "counts": {c: n for c, n in report.counts.items() if n},
        "waiting": dict(list(report.waiting.items())[:3]),
    }


def expected_writes(store: Store, k: int, article_ids: set[str]) -> set[str]:
    """The stock write of each changed article's variant in shop k (ecommerce location 1)."""
    conn = store.connections.find(shop_name(k))
    out = set()
    for b in store.bindings.all(conn.id, "variant"):
        if b.visma_id in article_ids:
            product, variant = b.starweb_id.split(":")
            out.add(f"PUT products/{product}/variants/{variant}/stocks/1")
    return out


async def shop_stock(starweb: SandboxProcess, k: int, store: Store, article_ids: set[str]) -> dict[str, int]:
    """Article id -> the shop's e-commerce stock of its variant, for the given articles."""
    conn = store.connections.find(shop_name(k))
    refs = {
        b.visma_id: b.starweb_id for b in store.bindings.all(conn.id, "variant") if b.visma_id in article_ids
    }
    out: dict[str, int] = {}
    async with StarwebClient(
        f"{starweb.url}/shops/{k}/api/v2", d.STARWEB_CLIENT_ID, d.STARWEB_CLIENT_SECRET, rate_limit=None
    ) as sw:
        for aid, ref in refs.items():
            product, variant = ref.split(":")
            rows = (await sw.request("GET", f"products/{product}/variants/{variant}/stocks"))["data"]
            out[aid] = next((r["stockQuantity"] for r in rows if r["stockLocationId"] == 1), -1)
    return out


async def main(shops: int, products: int, quick: bool) -> None:
    started = time.perf_counter()
    common = ["--seed", "empty", "--latency-ms", str(LATENCY_MS)]
    visma = SandboxProcess("visma", *common, "--rate-limit", str(VISMA_LIMIT))
    starweb = SandboxProcess("starweb", *common, "--rate-limit", str(STARWEB_LIMIT), "--shops", str(shops))
    try:
        await run(visma, starweb, shops, products, quick, started)
    finally:
        visma.stop()
        starweb.stop()


async def run(
    visma: SandboxProcess, starweb: SandboxProcess, shops: int, products: int, quick: bool, started: float
) -> None:
    seeded = visma.admin(
        "POST",
        "/visma/catalog",
        json={"articles": products, "prefix": PREFIX, "net_price": "199.00", "stock": STOCK},
    )
    assert seeded["created"] == products, seeded
    for k in range(1, shops + 1):
        body = {"shop": k, "products": products, "prefix": PREFIX, "price": "199.00", "stock": STOCK}
        got = starweb.admin("POST", "/starweb/catalog", json=body)
        assert got["total_variants"] == products, got
    store = open_store(data_dir=Path(tempfile.mkdtemp(prefix="bench-multishop-")))
    await connect_sandboxes(
        store, ROOT, starweb_url=starweb.url, visma_url=visma.url, settings={"preset": "erp-master"}
    )
    for k in range(2, shops + 1):
        await connect_starweb(
            store,
            shop_name(k),
            base_url=f"{starweb.url}/shops/{k}/api/v2",
            client_id=d.STARWEB_CLIENT_ID,
            client_secret=d.STARWEB_CLIENT_SECRET,
            shop_of=ROOT,
        )
    await connect_sandboxes(
        store,
        SOLO,
        starweb_url=starweb.url,
        visma_url=visma.url,
        settings={"preset": "erp-master", "reference_prefix": "SOLO"},
    )
    print(f"{shops} shops × {products} products seeded and connected; initial sync ...", file=sys.stderr)

    # 1. initial sync, every shop at once
    t0 = time.perf_counter()
    initial = await asyncio.gather(*(initial_sync(store, k) for k in range(1, shops + 1)))
    initial_s = time.perf_counter() - t0
    failed = sum(r["done"].get("failed", 0) for r in initial)
    initial_writes = sum(r["starweb"]["writes"] for r in initial)
    print(f"  initial sync {initial_s:.1f} s: {initial[0]['plan']} per shop", file=sys.stderr)
    solo_initial = await initial_sync(store, SOLO)
    assert not solo_initial["done"].get("failed"), solo_initial
    await asyncio.sleep(2)

    # 2. nothing changed
    t0 = time.perf_counter()
    unchanged = await asyncio.gather(*(sweep(store, k) for k in range(1, shops + 1)))
    unchanged_s = time.perf_counter() - t0
    unchanged_writes = sum(r["starweb"]["writes"] + r["visma"]["writes"] for r in unchanged)
    print(f"  unchanged sweep {unchanged_s:.1f} s, {unchanged_writes} writes", file=sys.stderr)
    await sweep(store, SOLO)  # settles the one-shop company too

    # 3. one stock change set in Visma
    numbers = [f"{PREFIX}-{i:06d}" for i in range(1, products + 1, max(1, products // CHANGED))][:CHANGED]
    new_stock = {n: (i % 7) + 1 if i % 5 else 0 for i, n in enumerate(numbers)}  # includes 0 and few-left
    answer = visma.admin(
        "POST",
        "/visma/articles/stock",
        json={"changes": [{"Number": n, "StockBalance": str(q)} for n, q in new_stock.items()]},
    )
    changed_ids = {str(a["Id"]) for a in answer["changed"]}
    want_by_id = {str(a["Id"]): new_stock[a["Number"]] for a in answer["changed"]}
    assert len(changed_ids) == len(numbers), answer

    # 4. one sweep of every shop
    t0 = time.perf_counter()
    after = await asyncio.gather(*(sweep(store, k) for k in range(1, shops + 1)))
    sweep_s = time.perf_counter() - t0
    only_changed = True
    for r in after:
        expected = expected_writes(store, r["shop"], changed_ids)
        r["unexpected_writes"] = sorted(set(r["starweb_writes"]) - expected)[:5]
        r["missing_writes"] = len(expected - set(r["starweb_writes"]))
        r["duplicate_writes"] = len(r["starweb_writes"]) - len(set(r["starweb_writes"]))
        if r["unexpected_writes"] or r["missing_writes"] or r["duplicate_writes"] or r["visma"]["writes"]:
            only_changed = False
    # 5. the one-shop company's sweep (shop 1 again, right already: its Visma reads are the figure)
    solo = await sweep(store, SOLO)
    visma_reads_company = sum(r["visma"]["reads"] for r in after)
    visma_reads_one = solo["visma"]["reads"]
    stocks = await asyncio.gather(*(shop_stock(starweb, k, store, changed_ids) for k in range(1, shops + 1)))
    stock_right = all(s == want_by_id for s in stocks)

    writes = [r["starweb"]["writes"] + r["visma"]["writes"] for r in after]
    reads = [r["starweb"]["reads"] + r["visma"]["reads"] for r in after]
    tokens = [r["starweb"]["token"] + r["visma"]["token"] for r in after]
    goal_per_shop = len(numbers)
    total_calls = sum(writes) + sum(reads) + sum(tokens)
    rows: list[tuple[str, Any, Any]] = [
        ("initial sync, all shops at once (s)", round(initial_s, 1), None),
        ("  Starweb writes (the bulk names differ)", initial_writes, None),
        ("  failed", failed, 0),
        ("unchanged sweep, all shops (s)", round(unchanged_s, 1), None),
        ("  writes", unchanged_writes, 0),
        ("stock changes in Visma (one set)", len(numbers), None),
        ("sweep after the change, all shops (s)", round(sweep_s, 1), None),
    ]
    for r, w, rd in zip(after, writes, reads, strict=True):
        rows.append(
            (
                f"  shop {r['shop']:>2}: reads (Starweb/Visma) / writes",
                f"{rd} ({r['starweb']['reads']}/{r['visma']['reads']}) / {w}",
                f"- / {goal_per_shop}",
            )
        )
    rows += [
        ("write calls, all shops", sum(writes), goal_per_shop * shops),
        ("read calls, all shops", sum(reads), None),
        ("API calls, all shops (incl. token)", total_calls, None),
        ("Visma reads, sweep of a one-shop company", visma_reads_one, None),
        (f"Visma reads, sweep of the {shops}-shop company", visma_reads_company, visma_reads_one),
        ("writes only for changed variants", "yes" if only_changed else "NO", "yes"),
        ("shops show the new stock", "yes" if stock_right else "NO", "yes"),
        ("bench wall time (s)", round(time.perf_counter() - started, 1), None),
    ]
    print_table(
        f"Multishop: {shops} shops × {products} products, one Visma company, {len(numbers)} stock changes; "
        f"Visma {VISMA_LIMIT}/min per endpoint, {LATENCY_MS} ms latency",
        rows,
    )
    bad = [r for r in after if r["unexpected_writes"] or r["missing_writes"] or r["duplicate_writes"]]
    if bad:
        print(
            "shops with other writes:",
            [(r["shop"], r["unexpected_writes"], r["missing_writes"]) for r in bad],
        )
    emit(
        {
            "bench": "multishop",
            "quick": quick,
            "shops": shops,
            "products_per_shop": products,
            "latency_ms": LATENCY_MS,
            "visma_limit_per_min": VISMA_LIMIT,
            "starweb_limit_per_min": STARWEB_LIMIT,
            "initial_sync_s": round(initial_s, 1),
            "initial_starweb_writes": initial_writes,
            "initial_failed": failed,
            "unchanged_sweep_s": round(unchanged_s, 2),
            "unchanged_writes": unchanged_writes,
            "unchanged_writes_goal": 0,
            "changed_variants": len(numbers),
            "sweep_s": round(sweep_s, 2),
            "sweep_s_per_shop": [round(r["seconds"], 2) for r in after],
            "writes_per_shop": writes,
            "writes_per_shop_goal": goal_per_shop,
            "reads_per_shop": reads,
            "starweb_reads_per_shop": [r["starweb"]["reads"] for r in after],
            "visma_reads_per_shop": [r["visma"]["reads"] for r in after],
            "visma_reads_per_sweep_1_shop": visma_reads_one,
            f"visma_reads_per_sweep_{shops}_shops": visma_reads_company,
            "visma_reads_per_sweep_goal": visma_reads_one,
            "visma_reads_independent_of_shops": visma_reads_company <= visma_reads_one,
            "write_calls_total": sum(writes),
            "write_calls_total_goal": goal_per_shop * shops,
            "read_calls_total": sum(reads),
            "api_calls_total": total_calls,
            "writes_only_changed_variants": only_changed,
            "stock_correct_in_every_shop": stock_right,
            "bench_wall_s": round(time.perf_counter() - started, 1),
        }
    )


if __name__ == "__main__":
    is_quick = "--quick" in sys.argv[1:]
    asyncio.run(main(3 if is_quick else 10, 200 if is_quick else 1000, is_quick))
