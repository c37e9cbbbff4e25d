"""Visma read once per company (issue 15): a sweep of every shop of a three-shop company reads Visma
as often as a sweep of a one-shop company, counted by the Visma sandbox, with the same writes."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest

from multishop_env import NAMES, MultiEnv, multi_fixture
from shopbridge.onboarding import connect_sandboxes
from shopbridge.sync.context import open_context
from shopbridge.sync.flows import sweep_connection
from shopbridge.sync.shop_catalog import ShopCatalogFlow

from e2e import STARWEB_LIMIT

pytestmark = pytest.mark.asyncio(loop_scope="session")

env = multi_fixture("ms_reads", empty=True, preset="erp-master")
SOLO = "solo"  # a company of one shop: its own Visma consent (same sandbox company), shop 1 again


def visma_reads(e: MultiEnv) -> int:
    """GET requests the Visma sandbox served since the last call (then reset)."""
    stats = e.admin("visma", "GET", "/stats").json()
    e.admin("visma", "POST", "/stats/reset").raise_for_status()
    return sum(n for route, n in stats["by_route"].items() if route.startswith("GET "))


def context(e: MultiEnv, name: str) -> Any:
    return open_context(e.store, name, starweb_rate_limit=STARWEB_LIMIT, visma_rate_limit=20000)


async def sweep(e: MultiEnv, name: str) -> dict[str, int]:
    """One sweep of connection `name` in a context of its own; its Starweb writes by call."""
    async with context(e, name) as ctx:
        calls = ctx.starweb.record_calls()
        report = await sweep_connection(ctx)
        assert not report.waiting, report.waiting
        return dict(Counter(k for k in calls if not k.startswith("GET ") and "token" not in k))


async def test_a_company_of_three_shops_reads_visma_as_often_as_a_company_of_one(env: MultiEnv) -> None:
    r = httpx.post(
        f"{env.visma.url}/_sandbox/visma/catalog",
        json={"articles": 6, "prefix": "RD", "net_price": "150.00", "stock": 10},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    for k in NAMES:
        body = {"shop": k, "products": 6, "prefix": "RD", "price": "150.00", "stock": 10}
        httpx.post(f"{env.starweb.url}/_sandbox/starweb/catalog", json=body, timeout=30).raise_for_status()
    await connect_sandboxes(
        env.store,
        SOLO,
        starweb_url=env.starweb.url,
        visma_url=env.visma.url,
        settings={"preset": "erp-master", "reference_prefix": "SOLO"},
    )
    for name in [*NAMES.values(), SOLO]:
        async with context(env, name) as ctx:
            plan = await ShopCatalogFlow(ctx).plan(full=True, observe=True)
            assert "failed" not in await plan.apply()
    for name in [*NAMES.values(), SOLO]:
        await sweep(env, name)  # settles what the initial sync leaves

    for change in ("3", "7"):
        env.admin(
            "visma", "POST", "/visma/articles/stock", json={"Number": "RD-000002", "StockBalance": change}
        )
        visma_reads(env)
        company = await asyncio.gather(*(sweep(env, name) for name in NAMES.values()))
        three_shops = visma_reads(env)
        solo = await sweep(env, SOLO)  # shop 1 again, which its own company has just written
        one_shop = visma_reads(env)
        assert three_shops == one_shop > 0, (three_shops, one_shop)
        # the writes of one company each: the changed variant's stock, once in every shop
        assert [sum(w.values()) for w in company] == [1, 1, 1] and solo == {}, (company, solo)
        assert all(k.startswith("PUT products/") and k.endswith("/stocks/1") for w in company for k in w)

    for k in NAMES:  # every shop shows the last stock
        body = await env.shop_k(k, "GET", "products", params={"include": "primaryVariant"})
        variants = [p["primaryVariant"].get("data", p["primaryVariant"]) for p in body["data"]]
        row = next(v for v in variants if v["sku"] == "RD-000002")
        assert row["stockQuantity"] == 7, (k, row)
