"""Bad catalogue input: a clear problem on that item, the rest go on, nothing half-written is left."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog_env import CatalogEnv, catalog_env_fixture

pytestmark = pytest.mark.asyncio(loop_scope="session")

env = catalog_env_fixture("cat_bad")

LONG_PREFIX = "L" * 36  # bulk SKUs get "-000001": 43 characters
PRICE = [{"pricelistId": 1, "priceExVat": 100}]


def issues(env: CatalogEnv) -> dict[tuple[str, str], tuple[str, str]]:
    return {(i.entity, i.key): (i.level, i.message) for i in env.store.catalog_issues.all(env.conn_id)}


async def test_bad_shop_items_wait_with_a_clear_error_and_the_rest_go_on(env: CatalogEnv) -> None:
    env.configure(preset="ecom-master")
    env.admin(
        "starweb", "POST", "/starweb/catalog", json={"products": 1, "prefix": LONG_PREFIX}
    ).raise_for_status()
    long_sku = f"{LONG_PREFIX}-000001"
    await env.new_product("Dubblett ett", [{"sku": "DUP-1", "prices": PRICE}])
    await env.new_product("Dubblett två", [{"sku": "dup-1 ", "prices": PRICE}])
    await env.new_product("Sju procent", [{"sku": "VAT-7", "prices": PRICE}], vat="7")
    await env.new_product("Helt vanlig", [{"sku": "GOOD-1", "prices": PRICE}])

    plan, done, _ = await env.plan_out()
    by_key = {}
    for a in plan.actions:
        by_key.setdefault(a.key, []).append(a)
    [long] = by_key[long_sku.upper()]
    assert long.kind == "error" and "43 characters" in long.reason and "at most 40" in long.reason
    assert [a.kind for a in by_key["DUP-1"]] == ["conflict", "conflict"]
    assert "more than one variant" in by_key["DUP-1"][0].reason
    [vat] = by_key["VAT-7"]
    assert vat.kind == "error" and "VAT 7" in vat.reason
    assert [a.kind for a in by_key["GOOD-1"]] == ["create"]
    assert done["create"] == plan.counts["create"] and "failed" not in done

    articles = await env.articles()
    assert "GOOD-1" in articles
    assert not {long_sku.upper(), "DUP-1", "VAT-7"} & set(articles), "nothing half-written"
    found = issues(env)
    for key in (long_sku.upper(), "DUP-1", "VAT-7"):
        assert found[("article", key)][0] == "error", key

    # the waiting items stay waiting, sweep after sweep, and write nothing
    report, writes = await env.sweep_out()
    assert writes == 0, report.counts
    assert report.counts["article_create"] == 0
    still = issues(env)
    assert all(still[("article", k)][0] == "error" for k in (long_sku.upper(), "DUP-1", "VAT-7"))


async def test_negative_visma_stock_gives_the_shop_zero_with_a_warning(env: CatalogEnv) -> None:
    env.configure(preset="erp-master", directions={})
    env.visma_admin("/catalog", {"articles": 2, "prefix": "NEG", "stock": 5})
    env.visma_admin("/articles/stock", {"Number": "NEG-000001", "StockBalance": "-3"})
    _plan, done, _ = await env.plan_in(observe=True)
    assert "failed" not in done
    for sku, quantity in (("NEG-000001", 0), ("NEG-000002", 5)):
        row = (await env.stock_of(await env.shop_variant(sku)))[1]
        assert row["stockQuantity"] == quantity, sku
    level, message = issues(env)[("product", "NEG-000001")]
    assert level == "warning" and "-3" in message and "0" in message
    assert ("product", "NEG-000002") not in issues(env)


async def test_pricelist_mapped_to_another_currency_is_a_pricelist_issue(env: CatalogEnv) -> None:
    sek_list = next(
        x
        for x in (await env.visma_get("salespricelists"))["Data"]
        if x["CurrencyCode"] == "SEK" and not x["IsStandard"]
    )
    env.configure(pricelist_map={"2": sek_list["Name"]}, catalog_full_check_s=0)
    before = {p["pricelistId"]: p for p in (await env.shop_variant("NEG-000002"))["prices"]}
    env.visma_admin("/articles/price", {"Number": "NEG-000002", "NetPrice": "150.00"})
    await env.sweep_in()
    level, message = issues(env)[("pricelist", "2")]
    assert level == "error" and "EUR" in message and "SEK" in message
    after = {p["pricelistId"]: p for p in (await env.shop_variant("NEG-000002"))["prices"]}
    assert Decimal(str(after[1]["priceExVat"])) == Decimal("150")  # the master price still flows
    assert after.get(2) == before.get(2)  # the EUR pricelist got no SEK prices


async def test_visma_number_no_shop_sku_can_hold_is_an_error_and_nothing_is_created(env: CatalogEnv) -> None:
    bulk = env.visma_admin("/catalog", {"articles": 1, "prefix": "OK"})
    async with env.context() as ctx:
        body = {
            "Number": "BAD SKU/1",
            "Name": "Trasig",
            "CodingId": bulk["CodingId"],
            "UnitId": bulk["UnitId"],
        }
        await ctx.visma.request("POST", "articles", json={**body, "IsActive": True, "NetPrice": 10})
    plan, done, _ = await env.plan_in()
    kinds = {a.key: a.kind for a in plan.actions}
    assert kinds["BAD SKU/1"] == "error" and kinds["OK-000001"] == "create"
    assert "failed" not in done
    shop = await env.shop_variants()
    assert "OK-000001" in shop and "BAD SKU/1" not in shop
    assert issues(env)[("product", "BAD SKU/1")][0] == "error"
