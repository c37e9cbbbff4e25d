"""The catalogue sync in each preset end to end over real HTTP: initial sync of the demo range, unchanged
sweeps that write nothing, one change carried over, the oversell hold-back, and an interrupted initial sync.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from catalog_env import CatalogEnv, catalog_env_fixture
from shopbridge.store import TransferState
from shopbridge.sync.articles import ArticleExportFlow
from shopbridge.sync.catalog import CatalogPlan
from shopbridge.sync.flows import sweep_connection
from status_env import setup_status

from e2e import dec

pytestmark = pytest.mark.asyncio(loop_scope="session")

ecom = catalog_env_fixture("cat_ecom", fixture="ecom")
erp = catalog_env_fixture("cat_erp", fixture="erp")
combo = catalog_env_fixture("cat_combo", fixture="combo")

MASTER, EUR, ECOM_LOCATION = 1, 2, 1
IN_STOCK, OUT_OF_STOCK, FEW_LEFT = 1, 2, 4


def gross(net: Decimal, rate: Decimal) -> Decimal:
    return (net * (1 + rate / 100)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def shop_name(v: dict[str, Any]) -> str:
    product = v["_product"]["languages"][0]["name"]
    values = [a["languages"][0]["name"] for a in v.get("attributeValues") or []]
    return " ".join([product, *values])


def price(v: dict[str, Any], pricelist: int) -> tuple[Decimal | None, Decimal | None]:
    for p in v.get("prices") or []:
        if p["pricelistId"] == pricelist:
            special = p["specialPriceExVat"]
            return dec(p["priceExVat"]), dec(special) if special is not None else None
    return None, None


# -- ecom-master --------------------------------------------------------------------------------------
async def test_ecom_master_full_initial_sync_of_the_demo_range(ecom: CatalogEnv) -> None:
    ecom.configure(preset="ecom-master")
    two = [
        {
            "sku": f"TWO-ATTR-{n}",
            "attributeValueLinks": [n, 5],
            "prices": [{"pricelistId": 1, "priceExVat": 200}],
        }
        for n in (1, 2)
    ]
    await ecom.new_product("Tröja test", two)
    plan, done, writes = await ecom.plan_out()
    counts = plan.counts
    assert counts["create"] > 100 and counts["error"] == counts["conflict"] == 0, plan.rows()[:5]
    assert done["create"] == counts["create"] and done["update"] == counts["update"]
    assert "failed" not in done
    assert writes == counts["create"] + counts["update"]

    articles = await ecom.articles()
    codings = await ecom.codings()
    shop = await ecom.shop_variants()
    assert len(shop) > 300
    for sku, v in shop.items():
        a = articles.get(sku)
        assert a is not None, f"no article for {sku}"
        product = v["_product"]
        assert a["Name"] == shop_name(v)[:50], (sku, a["Name"])
        net, _ = price(v, MASTER)
        rate = dec(product["defaultVatRate"])
        assert dec(a["NetPrice"]) == net, sku
        assert dec(a["GrossPrice"]) == gross(net, rate), sku
        assert codings[a["CodingId"]] == rate, sku
        assert a["IsActive"] == (v["isActive"] and product["visibility"] != "hidden"), sku
    assert articles["TWO-ATTR-1"]["Name"] == "Tröja test S Vit"
    assert articles["TWO-ATTR-2"]["Name"] == "Tröja test M Vit"


async def test_ecom_master_unchanged_sweeps_make_no_write_call(ecom: CatalogEnv) -> None:
    for _ in range(2):  # the first is a full comparison, the second reads only what changed
        report, writes = await ecom.sweep_out()
        assert writes == 0, report.counts
        assert not report.waiting


async def test_ecom_master_price_change_in_the_shop_updates_that_article_only(ecom: CatalogEnv) -> None:
    shop = await ecom.shop_variants()
    sku, v = next(
        (s, v) for s, v in shop.items() if s.startswith("SW-") and not v["_product"]["hasSeveralVariants"]
    )
    before = await ecom.articles()
    net, _ = price(v, MASTER)
    new = net + Decimal("10.40")
    async with ecom.context() as ctx:
        await ctx.starweb.set_variant_price(v["productId"], v["variantId"], MASTER, priceExVat=new)
    report, writes = await ecom.sweep_out()
    assert writes == 1, report.counts
    assert report.counts["article_update"] == 1
    after = await ecom.articles()
    rate = (await ecom.codings())[after[sku]["CodingId"]]
    assert dec(after[sku]["NetPrice"]) == new
    assert dec(after[sku]["GrossPrice"]) == gross(new, rate)
    changed = [k for k in after if after[k] != before.get(k)]
    assert changed == [sku]


# -- erp-master ---------------------------------------------------------------------------------------
async def _erp_scenario(env: CatalogEnv) -> dict[str, Any]:
    env.configure(
        preset="erp-master",
        stock_statuses={"in_stock": "inStock", "few_left": str(FEW_LEFT), "out_of_stock": "outOfStock"},
        few_left_at=3,
    )
    bulk = env.visma_admin("/catalog", {"articles": 3, "prefix": "ERP", "net_price": "80.00", "stock": 10})
    env.visma_admin(
        "/articles/price", {"Number": "ERP-000001", "NetPrice": "80.00", "NetPriceWithDiscount": "64.00"}
    )
    stock = [{"Number": "ERP-000002", "StockBalance": "2"}, {"Number": "ERP-000003", "StockBalance": "0"}]
    env.visma_admin("/articles/stock", {"changes": stock})
    shop = await env.shop_variants()
    articles = await env.articles()
    single = [
        s
        for s, v in shop.items()
        if s in articles and articles[s]["IsActive"] and not v["_product"]["hasSeveralVariants"]
    ]
    async with env.context() as ctx:
        off = {
            "Number": "ERP-OFF",
            "Name": "Utgången",
            "CodingId": bulk["CodingId"],
            "UnitId": bulk["UnitId"],
        }
        await ctx.visma.request("POST", "articles", json={**off, "IsActive": False, "NetPrice": 10})
        hidden = single[0]
        body = (await ctx.visma.articles.get(articles[hidden]["Id"])).to_wire()
        body["IsActive"] = False
        body.pop("GrossPrice", None)
        await ctx.visma.articles.update(articles[hidden]["Id"], body)
    return {"hidden": hidden, "shop_before": shop}


async def test_erp_master_full_initial_sync_to_the_shop(erp: CatalogEnv) -> None:
    scenario = await _erp_scenario(erp)
    erp.scenario = scenario  # type: ignore[attr-defined]
    plan, done, _ = await erp.plan_in(observe=True)
    by_key = {a.key: a for a in plan.actions}
    assert plan.counts["error"] == plan.counts["conflict"] == 0, plan.rows()[:5]
    assert {k for k, a in by_key.items() if a.kind == "create"} == {"ERP-000001", "ERP-000002", "ERP-000003"}
    assert by_key["ERP-OFF"].kind == "skipped" and "inactive" in by_key["ERP-OFF"].reason
    assert "failed" not in done

    shop = await erp.shop_variants()
    articles = await erp.articles()
    assert "ERP-OFF" not in shop
    one = shop["ERP-000001"]
    assert (
        one["sku"] == "ERP-000001"
        and one["_product"]["languages"][0]["name"] == articles["ERP-000001"]["Name"]
    )
    assert price(one, MASTER) == (Decimal("80"), Decimal("64"))
    assert price(shop["ERP-000002"], MASTER) == (Decimal("80"), None)
    for sku, quantity, status in (
        ("ERP-000001", 10, IN_STOCK),
        ("ERP-000002", 2, FEW_LEFT),
        ("ERP-000003", 0, OUT_OF_STOCK),
    ):
        row = (await erp.stock_of(shop[sku]))[ECOM_LOCATION]
        assert (row["stockQuantity"], row["stockStatusId"]) == (quantity, status), sku

    # every shop variant with an active stock article: its master price and e-commerce stock follow Visma
    for sku, v in shop.items():
        a = articles.get(sku)
        if a is None or not a["IsActive"] or not a["IsStock"]:
            continue
        assert price(v, MASTER)[0] == dec(a["NetPrice"]), sku
    eur_list = next(x for x in (await erp.visma_get("salespricelists"))["Data"] if x["CurrencyCode"] == "EUR")
    rows = (await erp.visma_get(f"salespricelists/prices/{eur_list['Id']}", **{"$pagesize": 1000}))["Data"]
    by_id = {a["Id"]: s for s, a in articles.items()}
    checked = 0
    for row in rows:
        sku = by_id.get(row["ArticleId"])
        if sku in shop and articles[sku]["IsActive"]:
            assert price(shop[sku], EUR)[0] == dec(row["NetPrice"]), sku
            checked += 1
    assert checked > 10

    hidden = scenario["hidden"]
    assert hidden in shop, "an inactive article's product is never deleted"
    assert shop[hidden]["_product"]["visibility"] == "hidden"


async def test_erp_master_sweep_right_after_the_initial_sync_writes_nothing(erp: CatalogEnv) -> None:
    report, writes = await erp.sweep_in()
    before = erp.scenario["shop_before"]  # type: ignore[attr-defined]
    shop = await erp.shop_variants()
    renamed = [
        s
        for s, v in shop.items()
        if s in before and v["_product"]["hasSeveralVariants"] and shop_name(v) != shop_name(before[s])
    ]
    assert renamed == [] and writes == 0, (renamed[:3], report.counts)


async def test_erp_master_unchanged_sweep_makes_no_write_call(erp: CatalogEnv) -> None:
    for _ in range(2):
        report, writes = await erp.sweep_in()
        assert writes == 0, report.counts


async def test_erp_master_stock_change_in_visma_writes_only_that_stock(erp: CatalogEnv) -> None:
    erp.visma_admin("/articles/stock", {"Number": "ERP-000001", "StockChange": "-4"})
    async with erp.context() as ctx:
        from shopbridge.sync.shop_catalog import ShopCatalogFlow

        report = await ShopCatalogFlow(ctx).sweep()
        assert dict(ctx.starweb.calls) and ctx.visma.write_calls == 0
        writes = {
            k: n for k, n in ctx.starweb.calls.items() if not k.startswith("GET ") and not k.endswith("token")
        }
    assert list(writes.values()) == [1] and "stocks" in next(iter(writes)), writes
    assert report.counts["product_update"] == 1
    shop = await erp.shop_variants()
    row = (await erp.stock_of(shop["ERP-000001"]))[ECOM_LOCATION]
    assert row["stockQuantity"] == 6


async def test_erp_master_oversell_holds_back_what_visma_has_not_drawn(erp: CatalogEnv) -> None:
    await setup_status(erp)
    erp.configure(missing_article="wait", document_type="invoice_draft", catalog_full_check_s=0)
    sku = "ERP-000003"
    erp.visma_admin("/articles/stock", {"Number": sku, "StockBalance": "20"})

    async def sweep() -> None:
        async with erp.context() as ctx:
            await sweep_connection(ctx)

    async def shop_stock() -> int:
        return (await erp.stock_of(await erp.shop_variant(sku)))[ECOM_LOCATION]["stockQuantity"]

    await sweep()
    assert await shop_stock() == 20
    item = {"sku": sku, "unitPrice": 100, "vatRate": 25}
    waiting = await erp.new_order([{**item, "quantity": 2}, {**item, "sku": "NO-SUCH-SKU", "quantity": 1}])
    drafted = await erp.new_order([{**item, "quantity": 3}])
    await sweep()
    assert erp.transfer(waiting["orderId"]).state != TransferState.TRANSFERRED
    draft_id = erp.transfer(drafted["orderId"]).visma_document_id
    assert draft_id
    assert await shop_stock() == 15  # 20 in Visma, 2 + 3 sold in the shop and not drawn in Visma yet

    async with erp.context() as ctx:
        await ctx.visma.request("POST", f"customerinvoicedrafts/{draft_id}/convert")
    await sweep()  # the status flow records "invoiced"
    await sweep()
    conn = erp.store.connections.find(erp.name)
    assert "invoiced" in {e.event for e in erp.store.events.for_order(conn.id, str(drafted["orderId"]))}
    available = dec((await erp.articles())[sku]["StockBalanceAvailable"])
    assert available == 17  # the invoice drew its 3 in Visma
    assert await shop_stock() == 15  # 17 - 2: the invoiced order no longer holds back, the waiting one does


# -- combo --------------------------------------------------------------------------------------------
async def test_combo_initial_sync_interrupted_and_resumed(combo: CatalogEnv) -> None:
    combo.configure(preset="combo")
    async with combo.context() as ctx:
        plan = await ArticleExportFlow(ctx).plan(full=True)
        total = plan.counts["create"] + plan.counts["update"]
        assert total > 50
        part = CatalogPlan(plan.source, plan.writes[: total // 3])  # the run dies after a third
        done = await part.apply()
        assert sum(done.values()) == total // 3
    plan, done, _ = await combo.plan_out()
    assert plan.counts["create"] + plan.counts["update"] == total - total // 3
    assert "failed" not in done
    plan, done, writes = await combo.plan_out()
    assert {k: n for k, n in plan.counts.items() if n} == {"unchanged": len(plan.actions)}
    assert writes == 0 and not done


async def test_combo_prices_belong_to_visma_after_creation(combo: CatalogEnv) -> None:
    plan, done, _ = await combo.plan_in(observe=True)  # price and stock to the shop
    assert plan.counts["error"] == 0 and "failed" not in done
    report, writes = await combo.sweep_in()
    report, writes = await combo.sweep_in()
    assert writes == 0, report.counts

    shop = await combo.shop_variants()
    sku, v = next(
        (s, v) for s, v in shop.items() if s.startswith("SW-") and not v["_product"]["hasSeveralVariants"]
    )
    visma_price = dec((await combo.articles())[sku]["NetPrice"])
    async with combo.context() as ctx:
        await ctx.starweb.set_variant_price(
            v["productId"], v["variantId"], MASTER, priceExVat=visma_price + 5
        )
    await combo.sweep_out()
    await combo.sweep_out()
    assert dec((await combo.articles())[sku]["NetPrice"]) == visma_price, "a shop price never goes to Visma"

    combo.visma_admin("/articles/price", {"Number": sku, "NetPrice": str(visma_price + 20)})
    report, writes = await combo.sweep_in()
    assert report.counts["product_update"] == 1
    shop = await combo.shop_variants()
    assert price(shop[sku], MASTER)[0] == visma_price + 20
