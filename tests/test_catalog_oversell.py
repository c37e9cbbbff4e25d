"""Stock that never oversells, from the first write (issue 17 §3): every complete shop order holds its
units back from the moment it is seen, whatever its status, until Visma reflects it or it is cancelled;
the erp-master initial sync uses the same rule as the sweeps. Through the command line, in processes of
their own.
"""

from __future__ import annotations

import pytest

from catalog_env import CatalogEnv, catalog_env_fixture

pytestmark = pytest.mark.asyncio(loop_scope="session")

env = catalog_env_fixture("cat_oversell", empty=True)

ECOM_LOCATION = 1
CANCELLED = 4  # the shop's standard status "Makulerad" (idCode canceled)


async def shop_stock(e: CatalogEnv, sku: str) -> int:
    return (await e.stock_of(await e.shop_variant(sku)))[ECOM_LOCATION]["stockQuantity"]


async def new_status(e: CatalogEnv) -> int:
    """A status of the shop's own that is no trigger status (like "Ny")."""
    body = {"languages": [{"langCode": "sv", "name": "Ny"}]}
    return int((await e.shop("POST", "order-statuses", json=body))["data"]["statusId"])


async def test_erp_master_initial_sync_holds_back_an_order_in_any_status(env: CatalogEnv) -> None:
    env.configure(preset="erp-master", catalog_full_check_s=86400)
    env.visma_admin("/catalog", {"articles": 2, "prefix": "HOLD", "net_price": "50.00", "stock": 5})
    env.visma_admin("/articles/stock", {"Number": "HOLD-000002", "StockBalance": "2"})
    env.new_status = await new_status(env)  # type: ignore[attr-defined]
    env.customer = await env.new_customer()  # type: ignore[attr-defined]
    item = {"sku": "HOLD-000002", "unitPrice": 50, "vatRate": 25, "quantity": 2}
    await env.new_order([item], customerId=env.customer, statusId=env.new_status)  # type: ignore[attr-defined]

    done = env.cli("products", "initial", "--from", "visma", "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert await shop_stock(env, "HOLD-000002") == 0, "2 in Visma, 2 sold in the shop"
    assert await shop_stock(env, "HOLD-000001") == 5
    env.sync_once()
    assert await shop_stock(env, "HOLD-000002") == 0


async def test_an_order_not_in_a_trigger_status_is_held_back_until_cancelled(env: CatalogEnv) -> None:
    sku = "HOLD-000001"
    item = {"sku": sku, "unitPrice": 50, "vatRate": 25, "quantity": 2}
    status = env.new_status  # type: ignore[attr-defined]
    order = await env.new_order([item], customerId=env.customer, statusId=status)  # type: ignore[attr-defined]
    assert await shop_stock(env, sku) == 3  # the shop drew its 2
    env.visma_admin("/articles/stock", {"Number": sku, "StockChange": "1"})  # a delivery in Visma
    env.sync_once()
    assert await shop_stock(env, sku) == 4, "6 in Visma, 2 sold in the shop and not in Visma"
    env.sync_once()
    assert await shop_stock(env, sku) == 4

    await env.shop("PATCH", f"orders/{order['orderId']}", json={"statusId": CANCELLED})
    env.sync_once()
    assert await shop_stock(env, sku) == 6, "a cancelled order holds nothing back"
