"""An unchanged catalogue writes nothing, in every preset, across ten `sync --once` runs (issue 17).

Each preset gets a small catalogue with the awkward cases (a price with four decimals, a product with
several variants, a campaign price, a Visma price list in EUR, a negative Visma stock), an initial sync
through the command line and one sweep to settle. Then ten sweeps, half of them full checks: the first
two as processes of their own, the rest in this process; the sandboxes count every write they serve.
"""

from __future__ import annotations

from typing import Any

import pytest

from catalog_env import CatalogEnv, catalog_env_fixture
from shopbridge.sync.flows import sweep_connection

pytestmark = pytest.mark.asyncio(loop_scope="session")

ecom = catalog_env_fixture("cat_same_ecom", empty=True, fixture="ecom")
erp = catalog_env_fixture("cat_same_erp", empty=True, fixture="erp")
combo = catalog_env_fixture("cat_same_combo", empty=True, fixture="combo")

MASTER, EUR = 1, 2


async def shop_catalogue(e: CatalogEnv) -> None:
    """A few shop products: four decimals, several variants, a campaign price, stock."""

    def variant(sku: str, price: float, **extra: Any) -> dict[str, Any]:
        prices = [{"pricelistId": MASTER, "priceExVat": price, **extra}]
        return {"sku": sku, "prices": prices, "stockQuantity": 4}

    await e.new_product("Udda pris", [variant("SAME-1", 88.3929)], vat="12")
    await e.new_product("Kampanj", [variant("SAME-2", 100, specialPriceExVat=80)])
    two = [variant(f"SAME-3{c}", 40) for c in "SM"]
    await e.new_product("Tröja", two)


async def visma_catalogue(e: CatalogEnv) -> None:
    """A few Visma articles with a EUR price list row each, a campaign price and a negative stock."""
    e.visma_admin("/catalog", {"articles": 3, "prefix": "SAME", "net_price": "99.50", "stock": 6})
    e.visma_admin(
        "/articles/price", {"Number": "SAME-000001", "NetPrice": "99.50", "NetPriceWithDiscount": "79.60"}
    )
    e.visma_admin("/articles/stock", {"Number": "SAME-000002", "StockBalance": "-2"})
    articles = await e.articles()
    async with e.context() as ctx:
        created = await ctx.visma.request(
            "POST", "salespricelists", json={"Name": "Euro", "CurrencyCode": "EUR", "IsActive": True}
        )
        rows = [{"ArticleId": articles[n]["Id"], "NetPrice": 9.5} for n in ("SAME-000001", "SAME-000002")]
        await ctx.visma.request("PUT", f"salespricelists/{created['Id']}/prices", json=rows)


async def ten_sweeps_write_nothing(e: CatalogEnv) -> None:
    e.sync_once()  # settles what the initial sync leaves to the sweeps
    e.sandbox_writes()
    for n in range(10):
        e.configure(catalog_full_check_s=0 if n % 2 == 0 else 86400)
        if n < 2:
            outcome = e.sync_once()
            assert not outcome["waiting"], outcome
        else:
            async with e.context() as ctx:
                report = await sweep_connection(ctx)
            assert not report.waiting, report.waiting
        assert e.sandbox_writes() == 0, f"sweep {n + 1} wrote"


async def test_ecom_master_unchanged_writes_nothing_in_ten_sweeps(ecom: CatalogEnv) -> None:
    ecom.configure(preset="ecom-master")
    await shop_catalogue(ecom)
    done = ecom.cli("products", "initial", "--from", "starweb", "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    await ten_sweeps_write_nothing(ecom)


async def test_erp_master_unchanged_writes_nothing_in_ten_sweeps(erp: CatalogEnv) -> None:
    erp.configure(preset="erp-master")
    await visma_catalogue(erp)
    done = erp.cli("products", "initial", "--from", "visma", "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    await ten_sweeps_write_nothing(erp)


async def test_combo_unchanged_writes_nothing_in_ten_sweeps(combo: CatalogEnv) -> None:
    combo.configure(preset="combo")
    await shop_catalogue(combo)
    done = combo.cli("products", "initial", "--from", "starweb", "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    await ten_sweeps_write_nothing(combo)
