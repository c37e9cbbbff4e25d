"""What a catalogue sweep learns survives the process: each case runs `shopbridge sync --once` as separate
processes on one data directory, as a user's cron does (issue 17 §2).

Price list row changes, what was held back for shop orders, the negative-stock warning and the SKU twins
are all in the store, so the next process acts on them.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from catalog_env import CatalogEnv, catalog_env_fixture
from shopbridge.sync.catalog import parse_time
from status_env import setup_status

from e2e import dec

pytestmark = pytest.mark.asyncio(loop_scope="session")

env = catalog_env_fixture("cat_restart", empty=True)
twins = catalog_env_fixture("cat_twins", empty=True, fixture="twins")

ECOM_LOCATION = 1


def once(e: CatalogEnv) -> None:
    """One `shopbridge sync --once` in a process of its own."""
    e.sync_once()


async def eur_list(e: CatalogEnv) -> str:
    """The Visma sales price list in EUR (created once)."""
    lists = (await e.visma_get("salespricelists"))["Data"]
    found = next((x for x in lists if x["CurrencyCode"] == "EUR"), None)
    if found is not None:
        return str(found["Id"])
    async with e.context() as ctx:
        body = {"Name": "Euro", "CurrencyCode": "EUR", "IsActive": True}
        return str((await ctx.visma.request("POST", "salespricelists", json=body))["Id"])


async def set_row(e: CatalogEnv, list_id: str, number: str, net: str) -> None:
    article = (await e.articles())[number]
    async with e.context() as ctx:
        body = [{"ArticleId": article["Id"], "NetPrice": float(net)}]
        await ctx.visma.request("PUT", f"salespricelists/{list_id}/prices", json=body)


def shop_price(v: dict[str, Any], pricelist: int) -> Decimal | None:
    return next((dec(p["priceExVat"]) for p in v.get("prices") or [] if p["pricelistId"] == pricelist), None)


async def shop_stock(e: CatalogEnv, sku: str) -> int:
    return (await e.stock_of(await e.shop_variant(sku)))[ECOM_LOCATION]["stockQuantity"]


async def test_a_price_list_row_changed_between_two_processes_reaches_the_shop(env: CatalogEnv) -> None:
    env.configure(preset="erp-master", catalog_full_check_s=86400)
    env.visma_admin("/catalog", {"articles": 2, "prefix": "ROW", "net_price": "100.00", "stock": 5})
    list_id = await eur_list(env)
    for number in ("ROW-000001", "ROW-000002"):
        await set_row(env, list_id, number, "9.00")
    _, eur = await env.master_and_eur()
    once(env)  # the first sweep is a full one: the products are made with their EUR price
    assert shop_price(await env.shop_variant("ROW-000001"), eur) == Decimal("9")

    await set_row(env, list_id, "ROW-000001", "11.00")
    once(env)  # a new process: only what changed since the stored row cursor
    assert shop_price(await env.shop_variant("ROW-000001"), eur) == Decimal("11")
    await set_row(env, list_id, "ROW-000002", "12.50")
    once(env)
    assert shop_price(await env.shop_variant("ROW-000002"), eur) == Decimal("12.5")


async def test_the_negative_stock_warning_stays_while_visma_shows_negative_stock(env: CatalogEnv) -> None:
    env.configure(catalog_full_check_s=0)  # every sweep compares everything and has nothing to write
    env.visma_admin("/articles/stock", {"Number": "ROW-000002", "StockBalance": "-3"})

    def warnings() -> list[str]:
        return [i.message for i in env.store.catalog_issues.all(env.conn_id, level="warning")]

    once(env)
    assert await shop_stock(env, "ROW-000002") == 0
    assert any("-3" in w for w in warnings()), warnings()
    once(env)  # nothing to write: the cause is still there, so is the warning
    assert any("-3" in w for w in warnings()), warnings()
    env.visma_admin("/articles/stock", {"Number": "ROW-000002", "StockBalance": "4"})
    once(env)
    assert warnings() == []
    assert await shop_stock(env, "ROW-000002") == 4


async def test_an_invoiced_order_is_held_back_once_across_processes(env: CatalogEnv) -> None:
    await setup_status(env)
    env.configure(missing_article="wait", document_type="invoice_draft", catalog_full_check_s=86400)
    sku = "ROW-000001"
    env.visma_admin("/articles/stock", {"Number": sku, "StockBalance": "20"})
    once(env)
    assert await shop_stock(env, sku) == 20
    item = {"sku": sku, "unitPrice": 100, "vatRate": 25, "quantity": 3}
    order = await env.new_order([item], customerId=await env.new_customer())
    once(env)  # the order becomes a draft; 3 held back
    assert await shop_stock(env, sku) == 17
    draft_id = env.transfer(order["orderId"]).visma_document_id
    async with env.context() as ctx:
        await ctx.visma.request("POST", f"customerinvoicedrafts/{draft_id}/convert")
    once(env)  # the status flow records "invoiced" at the end of this sweep
    once(env)  # a new process learns from the store that the 3 are no longer held back
    assert await shop_stock(env, sku) == 17, "Visma drew the 3: they are not subtracted twice"


async def test_sku_twins_stay_a_conflict_across_processes_until_one_is_renamed(twins: CatalogEnv) -> None:
    twins.configure(preset="ecom-master", catalog_full_check_s=86400)
    one = await twins.new_product(
        "Tvilling", [{"sku": "TWIN-A", "prices": [{"pricelistId": 1, "priceExVat": 10}]}]
    )
    other = await twins.new_product(
        "Tvilling liten", [{"sku": "twin-a", "prices": [{"pricelistId": 1, "priceExVat": 12}]}]
    )
    assert one["productId"] != other["productId"]
    for n in range(2):
        once(twins)
        if n == 0:  # later sweeps read only products changed after the twins were made
            stamps = [parse_time(p["modifiedAt"]) for p in (one, other)]
            after = max(s for s in stamps if s is not None) + timedelta(seconds=1)
            twins.store.cursors.set(twins.conn_id, "catalog_out.products_modified", after.isoformat())
        assert "TWIN-A" not in await twins.articles(), "a twin never becomes an article"
        issues = twins.store.catalog_issues.all(twins.conn_id)
        assert [i.key for i in issues if "more than one variant" in i.message] == ["TWIN-A"]

    variant = (await twins.shop_variant("twin-a"))["variantId"]
    await twins.shop("PATCH", f"products/{other['productId']}/variants/{variant}", json={"sku": "TWIN-B"})
    once(twins)
    articles = await twins.articles()
    assert {"TWIN-A", "TWIN-B"} <= set(articles)
    assert not [i for i in twins.store.catalog_issues.all(twins.conn_id) if i.key == "TWIN-A"]
