"""Prices per market (issue 17 §4): a shop pricelist following a Visma price list falls back to the rule
for articles the list has no row for (and says which), and a rule's rounding uses the VAT rate of the
pricelist's market. Through `shopbridge sync --once` in a process of its own.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest

from catalog_env import CatalogEnv, catalog_env_fixture

from e2e import dec

pytestmark = pytest.mark.asyncio(loop_scope="session")

env = catalog_env_fixture("cat_markets", empty=True)

EUR = 2
FI_VAT = Decimal("25.5")  # the shop's rate for Finland


async def eur_price(e: CatalogEnv, sku: str) -> Decimal | None:
    v = await e.shop_variant(sku)
    return next((dec(p["priceExVat"]) for p in v.get("prices") or [] if p["pricelistId"] == EUR), None)


def pricelist_warning(e: CatalogEnv) -> str:
    issues = e.store.catalog_issues.all(e.conn_id)
    return " ".join(i.message for i in issues if i.entity == "pricelist_rows" and i.key == str(EUR))


async def test_articles_without_a_row_in_the_eur_list_are_priced_by_the_rule_in_the_market_vat(
    env: CatalogEnv,
) -> None:
    rule = {"factor": "0.1", "rounding": "0.90", "vat_country": "FI"}
    env.configure(preset="erp-master", price_rules={str(EUR): rule})
    env.visma_admin("/catalog", {"articles": 2, "prefix": "MKT", "net_price": "100.00", "stock": 3})
    articles = await env.articles()
    async with env.context() as ctx:
        body = {"Name": "Euro", "CurrencyCode": "EUR", "IsActive": True}
        eur_list = await ctx.visma.request("POST", "salespricelists", json=body)
        row = [{"ArticleId": articles["MKT-000001"]["Id"], "NetPrice": 9}]
        await ctx.visma.request("PUT", f"salespricelists/{eur_list['Id']}/prices", json=row)

    env.sync_once()
    assert await eur_price(env, "MKT-000001") == Decimal("9"), "the Visma list's row"
    price = await eur_price(env, "MKT-000002")  # 100 × 0.1 = 10.00, shown in Finland as 12.90
    assert price is not None, "never no price: the rule prices what the list lacks"
    shown = (price * (1 + FI_VAT / 100)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert shown == Decimal("12.90"), (price, shown)
    warning = pricelist_warning(env)
    assert "MKT-000002" in warning and "price_rules.2" in warning and "MKT-000001" not in warning, warning

    env.configure(price_rules={})
    env.sync_once()
    warning = pricelist_warning(env)
    assert "MKT-000002" in warning and "no price" in warning, warning
