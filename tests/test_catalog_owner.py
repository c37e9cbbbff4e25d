"""The owner always wins (issue 17 §1): a sweep compares with what the other side shows, not only with what
it last wrote; prices are compared in Visma's precision; the go-live obeys the preset's directions.

Everything runs through the command line in processes of its own, as a user runs it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from catalog_env import CatalogEnv, catalog_env_fixture

from e2e import dec

pytestmark = pytest.mark.asyncio(loop_scope="session")

combo = catalog_env_fixture("cat_owner_combo", empty=True, fixture="combo")
ecom = catalog_env_fixture("cat_owner_ecom", empty=True, fixture="ecom")

MASTER, ECOM_LOCATION = 1, 1


def master_price(v: dict[str, Any]) -> Decimal | None:
    return next((dec(p["priceExVat"]) for p in v.get("prices") or [] if p["pricelistId"] == MASTER), None)


async def shop_stock(e: CatalogEnv, sku: str) -> int:
    return (await e.stock_of(await e.shop_variant(sku)))[ECOM_LOCATION]["stockQuantity"]


async def product(e: CatalogEnv, sku: str, price: str, *, stock: int | None = None, vat: str = "25") -> Any:
    # a JSON number on the wire, as the shop's admin sends it
    variant: dict[str, Any] = {"sku": sku, "prices": [{"pricelistId": MASTER, "priceExVat": float(price)}]}
    if stock is not None:
        variant["stockQuantity"] = stock
    return await e.new_product(f"Produkt {sku}", [variant], vat=vat)


# -- combo: the go-live -----------------------------------------------------------------------------
async def test_combo_go_live_keeps_visma_prices_lists_the_difference_and_carries_the_stock(
    combo: CatalogEnv,
) -> None:
    combo.configure(preset="combo", catalog_full_check_s=86400)
    combo.visma_admin("/catalog", {"articles": 1, "prefix": "GO", "net_price": "150.00"})
    await product(combo, "GO-000001", "120")
    await product(combo, "OWN-1", "119.20", stock=5)
    await product(combo, "OWN-2", "50", stock=3)

    dry = combo.cli("products", "initial", "--from", "starweb", "--dry-run", "--show", "0")
    assert dry.returncode == 1, dry.stdout + dry.stderr  # a conflict to look at
    line = next(x for x in dry.stdout.splitlines() if "GO-000001" in x and "conflict" in x)
    assert "120.00" in line and "150.00" in line, line
    assert "2 new stock article(s) get the shop's stock" in dry.stdout, dry.stdout

    applied = combo.cli("products", "initial", "--from", "starweb", "--apply")
    assert applied.returncode == 1, applied.stdout + applied.stderr
    articles = await combo.articles()
    assert dec(articles["GO-000001"]["NetPrice"]) == Decimal("150"), "combo: Visma owns the price"
    assert dec(articles["OWN-1"]["NetPrice"]) == Decimal("119.2"), "created once with the shop price"
    assert dec(articles["OWN-1"]["StockBalance"]) == 5, "the shop's stock carried into Visma"

    combo.sync_once()  # the first sweep: Visma's prices and stock to the shop
    assert master_price(await combo.shop_variant("GO-000001")) == Decimal("150")
    assert await shop_stock(combo, "OWN-1") == 5, "the shop keeps its count: Visma has it now"


async def test_combo_a_price_edited_in_the_shop_is_restored_and_counted(combo: CatalogEnv) -> None:
    v = await combo.shop_variant("OWN-1")
    async with combo.context() as ctx:
        await ctx.starweb.set_variant_price(
            v["productId"], v["variantId"], MASTER, priceExVat=Decimal("135.20")
        )
    outcome = combo.sync_once()
    assert master_price(await combo.shop_variant("OWN-1")) == Decimal("119.2")
    assert outcome["counts"].get("product_drift") == 1, outcome["counts"]
    assert combo.sync_once()["counts"].get("product_drift") is None


async def test_combo_a_back_order_below_zero_is_corrected(combo: CatalogEnv) -> None:
    combo.visma_admin("/articles/stock", {"Number": "OWN-2", "StockBalance": "0"})
    combo.sync_once()
    assert await shop_stock(combo, "OWN-2") == 0
    item = {"sku": "OWN-2", "unitPrice": 50, "vatRate": 25, "quantity": 2}
    await combo.new_order([item], customerId=await combo.new_customer())
    assert await shop_stock(combo, "OWN-2") == -2  # the shop took a back order
    combo.sync_once()
    assert await shop_stock(combo, "OWN-2") == 0


# -- precision --------------------------------------------------------------------------------------
async def test_a_price_with_more_decimals_than_visma_keeps_is_written_once(ecom: CatalogEnv) -> None:
    ecom.configure(preset="ecom-master", catalog_full_check_s=0)  # every sweep compares with Visma
    await product(ecom, "PREC-1", "88.3929", vat="12")
    applied = ecom.cli("products", "initial", "--from", "starweb", "--apply")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    article = (await ecom.articles())["PREC-1"]
    assert dec(article["NetPrice"]) == Decimal("88.39") and dec(article["GrossPrice"]) == Decimal("99")

    ecom.sandbox_writes()
    again = ecom.cli("products", "initial", "--from", "starweb", "--apply")
    assert "nothing to write" in again.stdout, again.stdout
    ecom.sync_once()
    ecom.sync_once()
    assert ecom.sandbox_writes() == 0
