"""Multishop end to end: one Visma company and three Starweb shops in the sandbox, over real HTTP.

Orders from every shop reach Visma with the shop recognisable (reference prefix, cost centre or project
on every row), one order number in two shops gives two documents, per-shop trigger statuses, status
mapping and customer defaults, a paused shop is skipped, the plan gate and the quota counted across
the shops, `shopbridge usage`; erp-master: products, prices and stock from Visma reach every shop (with
per-shop price rules and stock location), one stock change writes only that variant in each shop, and
every shop's unsent orders are held back from the stock; ecom-master: only the master shop's products
become articles.

The Visma sandbox has no cost centre or project endpoints (it keeps the row fields as given), so the
ids put on the rows are plain UUIDs.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from multishop_env import NAMES, ROOT, MultiEnv, multi_fixture
from shopbridge.plans import usage_lines
from shopbridge.sandbox.common import defaults as d
from shopbridge.sandbox.visma.seed_details import DEMO_COST_CENTER_ITEMS, DEMO_PROJECTS
from shopbridge.starweb.client import StarwebClient
from shopbridge.store import TransferState
from shopbridge.store import usage as usage_mod
from shopbridge.sync.context import effective_settings
from shopbridge.sync.flows import sweep_connection
from shopbridge.sync.shop_catalog import ShopCatalogFlow
from status_env import ship, skus

from e2e import dec

pytestmark = pytest.mark.asyncio(loop_scope="session")

env = multi_fixture("multishop")
cat = multi_fixture("multishop_cat", empty=True, fixture="cat", preset="erp-master")

PREFIX = {1: "Starweb ", 2: "ms-2 ", 3: "ms-3 "}
COST_CENTRE = DEMO_COST_CENTER_ITEMS["1:WEBB"]  # the sandbox refuses rows naming unknown dimensions
PROJECT = DEMO_PROJECTS["P1001"]
MASTER, EUR = 1, 2
ECOM_LOCATION, STORE_LOCATION = 1, 2


def at(monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    """Make `when` the usage clock's now (the month the quota counts in)."""
    monkeypatch.setattr(usage_mod, "clock", lambda: when)


def item(sku: str, quantity: int = 1, price: float = 100) -> dict[str, Any]:
    return {"sku": sku, "quantity": quantity, "unitPrice": price, "vatRate": 25}


async def same_number(env: MultiEnv, shops: list[int], items: list[dict[str, Any]]) -> dict[int, dict]:
    """One order in each of `shops`, all with the same Starweb order number."""
    made = {k: await env.order_in(k, items) for k in shops}
    for _ in range(50):
        target = max(int(o["orderId"]) for o in made.values())
        behind = [k for k in shops if int(made[k]["orderId"]) < target]
        if not behind:
            return made
        for k in behind:
            made[k] = await env.order_in(k, items)
    raise AssertionError(f"no common order number: { ({k: o['orderId'] for k, o in made.items()}) }")


async def private_customer(env: MultiEnv) -> int:
    """A Swedish private customer of the demo shops (the same in every shop)."""
    body = await env.shop_k(1, "GET", "customers", params={"include": "addresses"})
    for c in body["data"]:
        invoice = ((c.get("addresses") or {}).get("data") or {}).get("invoice") or {}
        if c["type"] == "person" and invoice.get("countryCode") == "SE":
            return c["customerId"]
    raise AssertionError("no Swedish private customer on the first page")


# ---------------------------------------------------------------------- orders
async def test_setup_every_shop_on_the_one_visma_company(env: MultiEnv) -> None:
    shops = env.store.connections.shops(env.conn_id(2))
    assert [c.name for c in shops] == [NAMES[1], NAMES[2], NAMES[3]]
    assert env.store.connections.root(env.conn_id(3)).name == ROOT
    for k in (2, 3):
        own = env.store.connections.get(env.conn_id(k)).settings
        assert own["product_master"] is False and own["reference_prefix"] == PREFIX[k], own
        assert (
            effective_settings(env.store, env.store.connections.get(env.conn_id(k))).reference_prefix
            == PREFIX[k]
        )
    listed = env.cli("connection", "list")
    assert listed.returncode == 0 and f"shop of {ROOT}" in listed.stdout, listed.stdout


async def test_orders_from_every_shop_reach_visma_recognisable(env: MultiEnv) -> None:
    env.configure_shop(2, cost_center_item_id=COST_CENTRE)
    env.configure_shop(3, project_id=PROJECT)
    [sku] = await skus(env, 1)
    orders = await same_number(env, [1, 2, 3], [item(sku, 2)])
    number = orders[1]["orderId"]
    assert {o["orderId"] for o in orders.values()} == {number}  # one order number in all three shops
    for k in NAMES:
        await env.sweep_k(k)
    docs: dict[int, dict[str, Any]] = {}
    for k in NAMES:
        t = env.transfer_k(k, number)
        assert t.state == TransferState.TRANSFERRED, (k, t.state, t.last_error)
        [doc] = await env.documents(f"{PREFIX[k]}{number}")
        assert t.visma_document_id == doc["Id"]
        assert dec(doc["TotalAmount"]) - dec(doc.get("TotalRoundings") or 0) == dec(orders[k]["totalAmount"])
        docs[k] = doc
        written = await env.shop_k(k, "GET", f"orders/{number}/external-services/visma")
        assert written["data"]["externalIdValue"] == f"D:{doc['Id']}", k  # each shop got its own document
    assert len({doc["Id"] for doc in docs.values()}) == 3
    assert docs[1]["Rows"] and docs[2]["Rows"] and docs[3]["Rows"]
    for row in docs[1]["Rows"]:
        assert not row.get("CostCenterItemId1") and not row.get("ProjectId"), row
    for row in docs[2]["Rows"]:
        assert row["CostCenterItemId1"] == COST_CENTRE and not row.get("ProjectId"), row
    for row in docs[3]["Rows"]:
        assert row["ProjectId"] == PROJECT and not row.get("CostCenterItemId1"), row

    for k in NAMES:  # again: nothing doubles, nothing is mistaken for another shop's order
        await env.sweep_k(k)
        assert len(await env.documents(f"{PREFIX[k]}{number}")) == 1
    env.configure_shop(2, cost_center_item_id=None)
    env.configure_shop(3, project_id=None)


async def test_same_order_number_in_two_shops_swept_one_after_the_other(env: MultiEnv) -> None:
    """Shop 2's order comes in after shop 1's was transferred: it is not taken for shop 1's document."""
    [_, sku] = await skus(env, 2)
    orders = await same_number(env, [1, 2], [item(sku, 1, 50)])
    number = orders[1]["orderId"]
    await env.sweep_k(1)
    assert env.transfer_k(1, number).state == TransferState.TRANSFERRED
    assert env.transfer_k(2, number) is None
    await env.sweep_k(2)
    t1, t2 = env.transfer_k(1, number), env.transfer_k(2, number)
    assert t2.state == TransferState.TRANSFERRED, t2.last_error
    assert t1.visma_document_id != t2.visma_document_id
    assert [x["Id"] for x in await env.documents(f"{PREFIX[2]}{number}")] == [t2.visma_document_id]
    assert [x["Id"] for x in await env.documents(f"{PREFIX[1]}{number}")] == [t1.visma_document_id]


async def test_trigger_statuses_per_shop(env: MultiEnv) -> None:
    body = {"languages": [{"langCode": "sv", "name": "Klar för bokföring"}]}
    own = (await env.shop_k(2, "POST", "order-statuses", json=body))["data"]["statusId"]
    env.configure_shop(2, trigger_statuses=[str(own)])
    try:
        [sku] = await skus(env, 1)
        plain = await env.order_in(2, [item(sku)])  # shop 2's E2E status: no longer a trigger there
        chosen = await env.order_in(2, [item(sku)], status=own)
        in_one = await env.order_in(1, [item(sku)])  # shop 1 keeps its own trigger
        await env.sweep_k(1)
        await env.sweep_k(2)
        assert env.transfer_k(2, plain["orderId"]) is None
        assert env.transfer_k(2, chosen["orderId"]).state == TransferState.TRANSFERRED
        assert env.transfer_k(1, in_one["orderId"]).state == TransferState.TRANSFERRED
    finally:
        env.configure_shop(2, trigger_statuses=[str(env.status_ids[2])])


async def test_status_mapping_per_shop(env: MultiEnv) -> None:
    statuses = (await env.shop_k(1, "GET", "order-statuses"))["data"]
    completed = next(s["statusId"] for s in statuses if s.get("idCode") == "completed")
    body = {"languages": [{"langCode": "sv", "name": "Skickad från lager 2"}]}
    shipped_2 = (await env.shop_k(2, "POST", "order-statuses", json=body))["data"]["statusId"]
    ignore = {"invoiced": "", "paid": "", "cancelled": ""}
    env.configure(document_type="order", deletion_check_interval_s=0)  # the shops follow the root
    env.configure_shop(1, status_map={"delivered": "completed", **ignore})
    env.configure_shop(2, status_map={"delivered": str(shipped_2), **ignore})
    try:
        [sku] = await skus(env, 1)
        orders = {k: await env.order_in(k, [item(sku)]) for k in (1, 2)}
        for k in (1, 2):
            await env.sweep_k(k)
            t = env.transfer_k(k, orders[k]["orderId"])
            assert t.state == TransferState.TRANSFERRED and t.document_type == "order", t.last_error
            await ship(env, t.visma_document_id)
        for k in (1, 2):
            await env.sweep_k(k)
        now = {k: (await env.shop_k(k, "GET", f"orders/{orders[k]['orderId']}"))["data"] for k in (1, 2)}
        assert now[1]["statusId"] == completed
        assert now[2]["statusId"] == shipped_2
    finally:
        env.configure(document_type=None, deletion_check_interval_s=None)
        env.configure_shop(1, status_map=None)
        env.configure_shop(2, status_map=None)


async def test_customer_defaults_per_shop(env: MultiEnv) -> None:
    [sku] = await skus(env, 1)
    person = await private_customer(env)
    first = await env.order_in(1, [item(sku)], customerId=person)
    await env.sweep_k(1)
    t = env.transfer_k(1, first["orderId"])
    assert t.state == TransferState.TRANSFERRED, t.last_error
    [doc] = await env.documents(f"{PREFIX[1]}{first['orderId']}")
    customers = (await env.visma_get("customers", **{"$pagesize": 200}))["Data"]
    other = next(c for c in customers if c["Id"] != doc["CustomerId"] and c.get("IsActive", True))
    env.configure_shop(3, collective_customer_number=other["CustomerNumber"])
    try:
        third = await env.order_in(3, [item(sku)], customerId=person)  # the same customer, in shop 3
        await env.sweep_k(3)
        t3 = env.transfer_k(3, third["orderId"])
        assert t3.state == TransferState.TRANSFERRED, t3.last_error
        [doc3] = await env.documents(f"{PREFIX[3]}{third['orderId']}")
        assert doc3["CustomerId"] == other["Id"]
    finally:
        env.configure_shop(3, collective_customer_number=None)


async def test_paused_shop_is_skipped(env: MultiEnv) -> None:
    out = env.cli("connection", "set", NAMES[3], "paused", "true")
    assert out.returncode == 0, out.stdout + out.stderr
    [sku] = await skus(env, 1)
    two = await env.order_in(2, [item(sku)])
    three = await env.order_in(3, [item(sku)])
    synced = env.cli("sync", "--once")
    assert synced.returncode in (0, 1), synced.stdout + synced.stderr
    assert env.transfer_k(2, two["orderId"]).state == TransferState.TRANSFERRED
    assert env.transfer_k(3, three["orderId"]) is None
    assert NAMES[3] not in synced.stdout.split("API calls", 1)[-1], synced.stdout

    out = env.cli("connection", "set", NAMES[3], "paused", "false")
    assert out.returncode == 0, out.stdout + out.stderr
    await env.sweep_k(3)
    assert env.transfer_k(3, three["orderId"]).state == TransferState.TRANSFERRED


async def test_plan_gate_and_reference_prefix_clash(env: MultiEnv) -> None:
    [sku] = await skus(env, 1)
    env.configure(plan="200")
    try:
        one = await env.order_in(1, [item(sku)])
        two = await env.order_in(2, [item(sku)])
        report_1 = await env.sweep_k(1)  # the root shop works on any plan
        assert env.transfer_k(1, one["orderId"]).state == TransferState.TRANSFERRED, report_1.waiting
        report = await env.sweep_k(2)
        assert report.counts["config_error"] == 1 and report.counts["transferred"] == 0, report.counts
        assert "plan 200 does not include multishop (400 and up)" in report.waiting["plan"]
        assert env.transfer_k(2, two["orderId"]) is None

        env.configure(plan="400")
        report = await env.sweep_k(2)
        assert report.counts["config_error"] == 0, report.waiting
        assert env.transfer_k(2, two["orderId"]).state == TransferState.TRANSFERRED
    finally:
        env.configure(plan=None)

    env.configure_shop(3, reference_prefix=PREFIX[1])
    try:
        three = await env.order_in(3, [item(sku)])
        report = await env.sweep_k(3)
        assert report.counts["config_error"] == 1, report.counts
        reason = report.waiting["reference_prefix"]
        assert f"shop '{ROOT}' uses the same reference_prefix 'Starweb '" in reason, reason
        assert env.transfer_k(3, three["orderId"]) is None
    finally:
        env.configure_shop(3, reference_prefix=PREFIX[3])
    await env.sweep_k(3)
    assert env.transfer_k(3, three["orderId"]).state == TransferState.TRANSFERRED


async def test_a_further_shop_cannot_raise_the_company_plan(env: MultiEnv) -> None:
    [sku] = await skus(env, 1)
    env.configure(plan="200")
    env.configure_shop(2, plan="premium")
    try:
        two = await env.order_in(2, [item(sku)])
        report = await env.sweep_k(2)
        assert "does not include multishop" in report.waiting.get("plan", ""), report.counts
        assert env.transfer_k(2, two["orderId"]) is None
    finally:
        env.configure(plan=None)
        env.configure_shop(2, plan=None)
        await env.sweep_k(2)


async def test_quota_counted_across_shops(env: MultiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    at(monkeypatch, datetime(2032, 3, 10, 12, tzinfo=UTC))
    [sku] = await skus(env, 1)
    env.configure(plan="custom", custom_quota=3, custom_features=[])  # no multishop in the features
    try:
        blocked = await env.order_in(2, [item(sku)])
        report = await env.sweep_k(2)
        assert "does not include multishop" in report.waiting["plan"]
        assert env.transfer_k(2, blocked["orderId"]) is None
        env.configure(custom_features=["multishop"])
        await env.sweep_k(2)  # the one order: 1 of 3
        assert env.transfer_k(2, blocked["orderId"]).state == TransferState.TRANSFERRED

        ones = [await env.order_in(1, [item(sku)]) for _ in range(2)]
        twos = [await env.order_in(2, [item(sku)]) for _ in range(2)]
        r1 = await env.sweep_k(1)
        r2 = await env.sweep_k(2)
        assert r1.counts["transferred"] == 2 and r1.counts["waiting_for_quota"] == 0, r1.waiting
        assert r2.counts["transferred"] == 0 and r2.counts["waiting_for_quota"] == 2, r2.waiting
        for o in twos:
            t = env.transfer_k(2, o["orderId"])
            assert t.state == TransferState.WAITING_FOR_QUOTA
            assert "3 of 3 orders in 2032-03" in t.last_error, t.last_error
            assert await env.documents(f"{PREFIX[2]}{o['orderId']}") == []
        for o in ones:
            assert env.transfer_k(1, o["orderId"]).state == TransferState.TRANSFERRED
        used = {k: env.store.usage.orders(env.conn_id(k), "2032-03") for k in NAMES}
        assert used == {1: 2, 2: 1, 3: 0}

        env.configure(custom_quota=4)  # raised by one: the oldest waiting order goes
        await env.sweep_k(2)
        first, second = sorted(twos, key=lambda o: int(o["orderId"]))
        assert env.transfer_k(2, first["orderId"]).state == TransferState.TRANSFERRED
        assert env.transfer_k(2, second["orderId"]).state == TransferState.WAITING_FOR_QUOTA

        [line] = usage_lines(env.store, "2032-03")  # one line per Visma company
        assert line.connection == ROOT and line.transferred_orders == 4 and line.quota == 4
        assert line.waiting_for_quota == 1 and line.shops == 3  # 2032-03 is "now" on the usage clock

        env.configure(custom_quota=5)  # room for the last one: nothing waits any more
        await env.sweep_k(2)
        assert env.transfer_k(2, second["orderId"]).state == TransferState.TRANSFERRED
    finally:
        env.configure(plan=None, custom_quota=None, custom_features=None)


async def test_quota_crossed_by_two_shops_with_two_orders_each(
    env: MultiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The brief's case: a quota of 3 over two shops with 2 orders each: 3 transferred, 1 waits."""
    at(monkeypatch, datetime(2032, 7, 1, 8, tzinfo=UTC))
    [sku] = await skus(env, 1)
    env.configure(plan="custom", custom_quota=3, custom_features=["multishop"])
    try:
        made = {k: [await env.order_in(k, [item(sku)]) for _ in range(2)] for k in (1, 2)}
        reports = [await env.sweep_k(k) for k in (1, 2)]
        states = [env.transfer_k(k, o["orderId"]).state for k in (1, 2) for o in made[k]]
        assert states.count(TransferState.TRANSFERRED) == 3, states
        assert states.count(TransferState.WAITING_FOR_QUOTA) == 1, states
        assert sum(r.counts["transferred"] for r in reports) == 3
        assert sum(r.counts["waiting_for_quota"] for r in reports) == 1
    finally:
        env.configure(plan=None, custom_quota=None, custom_features=None)
        for k in (1, 2):  # the waiting order goes now: it would otherwise keep its place in the queue
            await env.sweep_k(k)


async def test_raised_quota_goes_to_the_order_that_waited_whatever_the_shop(
    env: MultiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    at(monkeypatch, datetime(2032, 10, 5, tzinfo=UTC))
    [sku] = await skus(env, 1)
    env.configure(plan="custom", custom_quota=1, custom_features=["multishop"])
    try:
        first = await env.order_in(2, [item(sku)])
        await env.sweep_k(2)
        waited = await env.order_in(2, [item(sku)])
        await env.sweep_k(2)
        assert env.transfer_k(2, first["orderId"]).state == TransferState.TRANSFERRED
        assert env.transfer_k(2, waited["orderId"]).state == TransferState.WAITING_FOR_QUOTA

        env.configure(custom_quota=2)  # room for one more: the order that has waited should get it
        newer = await env.order_in(1, [item(sku)])
        await env.sweep_k(1)  # the engine sweeps the shops one after the other, the root first
        await env.sweep_k(2)
        assert env.transfer_k(2, waited["orderId"]).state == TransferState.TRANSFERRED
        assert env.transfer_k(1, newer["orderId"]).state == TransferState.WAITING_FOR_QUOTA
    finally:
        env.configure(custom_quota=10)  # let whatever waits go, then back to the default plan
        await env.sweep_k(1)
        await env.sweep_k(2)
        env.configure(plan=None, custom_quota=None, custom_features=None)


async def test_usage_command_counts_the_shops_of_the_company(env: MultiEnv) -> None:
    out = env.cli("usage", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = json.loads(out.stdout)
    assert [x["connection"] for x in lines] == [ROOT], lines  # the further shops are in the root's line
    [line] = lines
    assert line["shops"] == 3
    month = usage_mod.month_of()
    assert line["transferred_orders"] == sum(env.store.usage.orders(env.conn_id(k), month) for k in NAMES)
    one = env.cli("usage", "--json", "--connection", NAMES[2])
    assert json.loads(one.stdout) == lines  # asking for a further shop shows its company


# ---------------------------------------------------------------------- catalogue
async def shop_variants(env: MultiEnv, k: int) -> dict[str, dict[str, Any]]:
    """Every variant of shop k by SKU, with prices, its product id and its stock per location."""
    out: dict[str, dict[str, Any]] = {}
    async with StarwebClient(
        env.shop_url(k), d.STARWEB_CLIENT_ID, d.STARWEB_CLIENT_SECRET, rate_limit=None
    ) as sw:
        async for product in sw.iter_products():
            for v in await sw.list_variants(int(product.productId), include="prices"):
                row = v.model_dump(mode="json")
                row["productId"] = product.productId
                path = f"products/{product.productId}/variants/{v.variantId}/stocks"
                stocks = (await sw.request("GET", path))["data"]
                row["stock"] = {s["stockLocationId"]: s["stockQuantity"] for s in stocks}
                out[v.sku or ""] = row
    return out


def price(v: dict[str, Any], pricelist: int) -> Decimal | None:
    for p in v.get("prices") or []:
        if p["pricelistId"] == pricelist:
            return dec(p["priceExVat"])
    return None


def visma_admin(env: MultiEnv, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = env.admin("visma", "POST", f"/visma{path}", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def starweb_bulk(env: MultiEnv, body: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(f"{env.starweb.url}/_sandbox/starweb/catalog", json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def writes_of(ctx: Any) -> dict[str, int]:
    """The Starweb writes since `record_calls()`, by method and path (ids kept)."""
    return dict(
        Counter(k for k in ctx.starweb.recorded if not k.startswith("GET ") and not k.endswith("token"))
    )


async def test_erp_master_reaches_every_shop_and_a_stock_change_writes_only_that_variant(
    cat: MultiEnv,
) -> None:
    visma_admin(cat, "/catalog", {"articles": 8, "prefix": "MS", "net_price": "150.00", "stock": 10})
    visma_admin(cat, "/catalog", {"articles": 1, "prefix": "NEW", "net_price": "70.00", "stock": 5})
    for k in NAMES:
        starweb_bulk(cat, {"shop": k, "products": 8, "prefix": "MS", "price": "120.00", "stock": 0})
    cat.configure_shop(2, price_rules={str(EUR): {"factor": "0.2", "rounding": "0.01"}})
    cat.configure_shop(3, stock_location=str(STORE_LOCATION))
    for k in NAMES:
        async with cat.context_k(k) as ctx:
            plan = await ShopCatalogFlow(ctx).plan(full=True, observe=True)
            done = await plan.apply()
        assert plan.counts["error"] == plan.counts["conflict"] == 0, plan.rows()[:5]
        assert plan.counts["create"] == 1 and plan.counts["update"] == 8, (k, plan.counts)
        assert "failed" not in done, done

    shops = {k: await shop_variants(cat, k) for k in NAMES}
    location = {1: ECOM_LOCATION, 2: ECOM_LOCATION, 3: STORE_LOCATION}
    for k, variants in shops.items():
        assert set(variants) == {f"MS-{i:06d}" for i in range(1, 9)} | {"NEW-000001"}, k
        for sku, v in variants.items():
            want = Decimal("70") if sku.startswith("NEW") else Decimal("150")
            assert price(v, MASTER) == want, (k, sku)
            assert v["stock"].get(location[k]) == (5 if sku.startswith("NEW") else 10), (k, sku, v["stock"])
    assert price(shops[2]["MS-000001"], EUR) == Decimal("30")  # shop 2's own price rule
    assert price(shops[1]["MS-000001"], EUR) != Decimal("30")
    assert shops[3]["MS-000001"]["stock"].get(ECOM_LOCATION, 0) == 0  # shop 3 writes to its own location

    for k in NAMES:  # nothing changed: no writes
        async with cat.context_k(k) as ctx:
            ctx.starweb.record_calls()
            await sweep_connection(ctx)
            assert writes_of(ctx) == {} and ctx.visma.write_calls == 0, (k, writes_of(ctx))

    visma_admin(cat, "/articles/stock", {"Number": "MS-000003", "StockBalance": "4"})
    for k in NAMES:
        async with cat.context_k(k) as ctx:
            ctx.starweb.record_calls()
            await sweep_connection(ctx)
            writes = writes_of(ctx)
        v = shops[k]["MS-000003"]
        assert list(writes.values()) == [1], (k, writes)
        [(call, _)] = writes.items()
        assert call == f"PUT products/{v['productId']}/variants/{v['variantId']}/stocks/{location[k]}", call
        now = await shop_variants(cat, k)
        assert now["MS-000003"]["stock"][location[k]] == 4
        assert all(
            x["stock"].get(location[k]) == 10
            for s, x in now.items()
            if s.startswith("MS-") and s != "MS-000003"
        )


async def test_erp_master_holds_back_orders_of_every_shop(cat: MultiEnv) -> None:
    """An order in shop 2 not drawn in Visma yet lowers the stock every shop is given."""
    sku = "MS-000005"
    cat.configure(catalog_full_check_s=0, missing_article="wait")
    try:
        order = await cat.order_in(
            2,
            [item(sku, 2, 150)],
            customerId=None,
            originalCustomerEmail="kund.butik2@example.se",
            addresses={
                "customerInvoice": {
                    "firstName": "Kund",
                    "lastName": "Tvåsson",
                    "address": "Storgatan 2",
                    "postalCode": "11122",
                    "city": "Stockholm",
                    "countryCode": "SE",
                }
            },
        )
        await cat.sweep_k(2)
        t = cat.transfer_k(2, order["orderId"])
        assert t.state == TransferState.TRANSFERRED, t.last_error
        for k in (1, 3):
            await cat.sweep_k(k)
        location = {1: ECOM_LOCATION, 3: STORE_LOCATION}
        for k in (1, 3):
            now = await shop_variants(cat, k)
            assert now[sku]["stock"][location[k]] == 8, (k, now[sku]["stock"])
    finally:
        cat.configure(catalog_full_check_s=None, missing_article=None)


async def test_ecom_master_only_the_master_shop_makes_articles(cat: MultiEnv) -> None:
    cat.configure(preset="ecom-master")
    try:
        starweb_bulk(cat, {"shop": 1, "products": 3, "prefix": "ONE", "price": "99.00"})
        starweb_bulk(cat, {"shop": 2, "products": 3, "prefix": "TWO", "price": "99.00"})
        for k in NAMES:
            async with cat.context_k(k) as ctx:
                assert ctx.settings.product_master is (k == 1)
                await sweep_connection(ctx)
                if k != 1:
                    assert ctx.visma.write_calls == 0, (k, dict(ctx.visma.calls))
        body = await cat.visma_get("articles", **{"$pagesize": 1000})
        numbers = {a["Number"] for a in body["Data"]}
        assert {"ONE-000001", "ONE-000002", "ONE-000003"} <= numbers
        assert not {n for n in numbers if n.startswith("TWO-")}, numbers
    finally:
        cat.configure(preset="erp-master")
