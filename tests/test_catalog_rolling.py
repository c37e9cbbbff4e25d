"""The hourly full check of shop → Visma reads the variants of a rolling slice of the products with
several variants (plus those changed since the cursor), not all of them, and still finds what differs
in Visma within `FULL_CHECK_SLICES` checks (issue 15)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from catalog_env import CatalogEnv, catalog_env_fixture
from shopbridge.sync.articles import FULL_CHECK_SLICES, SLICE, ArticleExportFlow
from shopbridge.sync.catalog import SETTLED_S

pytestmark = pytest.mark.asyncio(loop_scope="session")

env = catalog_env_fixture("cat_rolling", empty=True)

PRODUCTS = 12  # each with two variants
VARIANT_LIST = re.compile(r"^GET products/(\d+)/variants$")


def variant(sku: str, price: float) -> dict[str, Any]:
    return {"sku": sku, "prices": [{"pricelistId": 1, "priceExVat": price}], "stockQuantity": 3}


async def full_check(e: CatalogEnv) -> tuple[set[int], int]:
    """One sweep of the flow with its full check due: the products whose variants it listed, writes."""
    e.configure(catalog_full_check_s=0)
    async with e.context() as ctx:
        calls = ctx.starweb.record_calls()
        report = await ArticleExportFlow(ctx).sweep()
        assert not report.waiting, report.waiting
        read = {int(m.group(1)) for k in calls if (m := VARIANT_LIST.match(k))}
        return read, ctx.visma.write_calls


async def test_full_check_reads_a_rolling_slice_and_finds_visma_drift_in_time(env: CatalogEnv) -> None:
    env.configure(preset="ecom-master")
    ids = set()
    for i in range(PRODUCTS):
        made = await env.new_product(f"Tröja {i}", [variant(f"ROLL-{i:02d}{c}", 40) for c in "SM"])
        ids.add(int(made["productId"]))
    plan, done, _ = await env.plan_out(full=True)  # the initial sync reads everything
    assert plan.counts["create"] == 2 * PRODUCTS and "failed" not in done, plan.counts
    await asyncio.sleep(SETTLED_S + 2)  # the shop's clock past the newest second: the cursor moves past it
    await full_check(env)  # reads what was modified in the cursor's second, then moves the cursor on

    env.visma_admin("/articles/price", {"Number": "ROLL-07M", "NetPrice": "1.00"})  # drift in Visma
    reads: list[set[int]] = []
    restored_at = None
    for n in range(FULL_CHECK_SLICES):
        read, visma_writes = await full_check(env)
        reads.append(read)
        if visma_writes:
            assert restored_at is None and visma_writes == 1, (n, visma_writes)
            restored_at = n
    # each check lists the variants of its slice only; every product is read within FULL_CHECK_SLICES
    assert all(len(r) <= -(-PRODUCTS // FULL_CHECK_SLICES) for r in reads), [len(r) for r in reads]
    assert set().union(*reads) == ids
    assert sum(len(r) for r in reads) == PRODUCTS, [len(r) for r in reads]
    assert restored_at is not None, "the Visma price of ROLL-07M was never restored"
    articles = await env.articles()
    assert float(articles["ROLL-07M"]["NetPrice"]) == 40.0
    _, visma_writes = await full_check(env)
    assert visma_writes == 0

    # a product renamed in the shop is read by the next full check, whatever its slice
    current = int(env.store.cursors.get(env.conn_id, SLICE) or 0)
    pid = next(p for p in sorted(ids) if p % FULL_CHECK_SLICES != current)
    await env.shop("PATCH", f"products/{pid}", json={"languages": [{"langCode": "sv", "name": "Ny tröja"}]})
    read, visma_writes = await full_check(env)
    assert pid in read and visma_writes == 2, (read, visma_writes)
    renamed = [n for n, a in (await env.articles()).items() if a["Name"] == "Ny tröja"]
    assert len(renamed) == 2, renamed
