"""Starweb sandbox over real HTTP (uvicorn on a free port, plain httpx)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from shopbridge.sandbox.catalog import STOCK_LOCATIONS, all_skus, demo_catalog, in_visma
from shopbridge.sandbox.common import get_validator, start_in_thread
from shopbridge.sandbox.common.defaults import STARWEB_CLIENT_ID, STARWEB_CLIENT_SECRET
from shopbridge.sandbox.settings import RateLimitSettings, SandboxSettings
from shopbridge.sandbox.starweb.app import create_app

CREDS = {
    "grant_type": "client_credentials",
    "client_id": STARWEB_CLIENT_ID,
    "client_secret": STARWEB_CLIENT_SECRET,
}

SPEC = get_validator("starweb")


def settings(**kw: Any) -> SandboxSettings:
    kw.setdefault("rate_limit", RateLimitSettings(limit=100_000, window_s=1.0))
    return SandboxSettings(client_id=STARWEB_CLIENT_ID, client_secret=STARWEB_CLIENT_SECRET, **kw)


def login(http: httpx.Client, prefix: str = "/api/v2") -> dict[str, str]:
    r = http.post(f"{prefix}/token", data=CREDS)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "scope", "expires_in"}
    return {"Authorization": f"Bearer {body['access_token']}"}


class Api:
    def __init__(self, url: str, prefix: str = "/api/v2") -> None:
        self.http = httpx.Client(base_url=url, timeout=20)
        self.prefix = prefix
        self.headers = login(self.http, prefix)

    def __call__(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """One API call; every documented answer is checked against the spec's response schema."""
        headers = {**self.headers, **kw.pop("headers", {})}
        response = self.http.request(method, self.prefix + path, headers=headers, **kw)
        template, _ = SPEC.match_path(method, path)
        if template and response.content and SPEC.response_schema(method, template, response.status_code):
            violations = SPEC.validate_response(method, template, response.status_code, response.json())
            assert not violations, (method, path, response.status_code, violations)
        return response

    def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.request(method, "/_sandbox" + path, **kw)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    srv = start_in_thread(create_app(settings(seed="demo", shops=2)))
    try:
        yield srv.url
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def api(server: str) -> Iterator[Api]:
    a = Api(server)
    yield a
    a.http.close()


def d(value: Any) -> Decimal:
    return Decimal(str(value))


# --- catalogue ----------------------------------------------------------------------------


def test_catalogue_is_deterministic_and_shaped() -> None:
    products = demo_catalog()
    assert len(products) >= 200 and products == demo_catalog()
    skus = all_skus()
    assert len(skus) == len(set(skus))
    assert {p.vat_rate for p in products} == {Decimal(25), Decimal(12), Decimal(6)}
    assert any(2 <= len(p.variants) <= 4 for p in products)
    assert all(set(v.stock) == set(STOCK_LOCATIONS) for p in products for v in p.variants)
    assert any(v.campaign_price_sek for p in products for v in p.variants)
    share = sum(map(in_visma, skus)) / len(skus)
    assert 0.5 < share < 0.7
    assert all(p.vat_rate == 6 for p in products if p.category == "Böcker")


# --- auth ---------------------------------------------------------------------------------


def test_token_flow_and_401s(api: Api) -> None:
    assert api("GET", "/shop").status_code == 200
    missing = api.http.get("/api/v2/shop")
    assert missing.status_code == 401
    assert set(missing.json()) == {"error", "error_description"}
    assert api.http.get("/api/v2/shop", headers={"Authorization": "Bearer nope"}).status_code == 401
    bad = api.http.post("/api/v2/token", data={**CREDS, "client_secret": "wrong"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"
    # a token of shop 1 is not valid for shop 2
    assert api.http.get("/shops/2/api/v2/shop", headers=api.headers).status_code == 401
    # an expired token (fault override of the token lifetime)
    api.admin("POST", "/faults", json={"token_ttl_s": 0}).raise_for_status()
    try:
        short = login(api.http)
    finally:
        api.admin("PUT", "/faults", json={}).raise_for_status()
    expired = api.http.get("/api/v2/shop", headers=short)
    assert expired.status_code == 401 and "expired" in expired.json()["error_description"]


def test_multishop_states_are_separate(server: str, api: Api) -> None:
    shop2 = Api(server, "/shops/2/api/v2")
    try:
        assert shop2("GET", "/shop").json()["data"]["idCode"] == "sandbox-shop-2"
        created = shop2("POST", "/customers", json={"type": "person", "email": "only.shop2@example.com"})
        assert created.status_code == 201
        cid = created.json()["data"]["customerId"]
        assert shop2("GET", f"/customers/{cid}").status_code == 200
        one = api("GET", f"/customers/{cid}")
        assert one.status_code == 404 or one.json()["data"]["email"] != "only.shop2@example.com"
    finally:
        shop2.http.close()


# --- lists --------------------------------------------------------------------------------


def test_paging_meta_and_filters(api: Api) -> None:
    first = api("GET", "/orders").json()
    meta = first["meta"]["pagination"]
    assert set(meta) == {"current_page", "per_page", "total", "count", "total_pages"}
    assert meta["current_page"] == 1 and meta["count"] == len(first["data"]) == meta["per_page"]
    assert meta["total_pages"] == math.ceil(meta["total"] / meta["per_page"])
    last = api("GET", "/orders", params={"page": meta["total_pages"]}).json()
    assert last["meta"]["pagination"]["count"] == meta["total"] - meta["per_page"] * (meta["total_pages"] - 1)
    ids = [o["orderId"] for o in first["data"]]
    assert ids == sorted(ids, reverse=True)  # orderId DESC is Starweb's default
    everything = api("GET", "/orders", params={"includeNonCompletePayments": "true"}).json()
    assert everything["meta"]["pagination"]["total"] > meta["total"] >= 300
    assert all(o["isComplete"] for o in first["data"])

    statuses = {s.get("idCode"): s["statusId"] for s in api("GET", "/order-statuses").json()["data"]}
    assert {"created", "picking", "completed", "canceled"} <= set(statuses)
    done = api("GET", "/orders", params={"statusFilter": statuses["completed"], "sortOrder": "ASC"}).json()
    assert done["data"] and {o["statusId"] for o in done["data"]} == {statuses["completed"]}
    cutoff = done["data"][-1]["createdAt"]
    later = api("GET", "/orders", params={"ordersCreatedAfter": cutoff, "includeNonCompletePayments": "true"})
    assert all(o["createdAt"] > cutoff for o in later.json()["data"])
    assert api("GET", "/orders", params={"page": 0}).status_code == 400
    assert api("GET", "/orders", params={"ordersCreatedAfter": "yesterday"}).status_code == 400

    sku = api("GET", "/products", params={"filterSku": "SW-1001-M", "include": "variants,languages"}).json()
    assert sku["meta"]["pagination"]["total"] == 1
    product = sku["data"][0]
    assert "SW-1001-M" in {v["sku"] for v in product["variants"]["data"]}
    assert product["languages"]["data"][0]["name"]
    customers = api("GET", "/customers").json()["meta"]["pagination"]["total"]
    with_guests = api("GET", "/customers", params={"includeWithoutAccount": "true"}).json()
    assert with_guests["meta"]["pagination"]["total"] >= 50 > customers


# --- orders -------------------------------------------------------------------------------


ORDER_BODY: dict[str, Any] = {
    "customerId": 1,
    "paymentMethodId": 3,  # invoice: fee 23.20 ex VAT
    "shippingMethodId": 1,
    "shippingCost": 39.20,
    "onOrderStatusChangeSendEmail": False,
    "items": [
        {
            "sku": "SW-1003-M",
            "quantity": 3,
            "unitPrice": 159.20,
            "vatRate": 25,
            "discount": 10,
            "discountType": "percent",
        },
        {
            "sku": "SW-1061",
            "quantity": 2,
            "unitPrice": 263.21,
            "vatRate": 6,
            "discount": 25,
            "discountType": "amount",
        },
        {"sku": "SW-1037", "quantity": 1, "unitPrice": 79.46, "vatRate": 12},
    ],
}


def test_create_order_computes_totals_to_the_ore(api: Api) -> None:
    r = api("POST", "/orders", json=ORDER_BODY)
    assert r.status_code == 201, r.text
    order = r.json()["data"]
    # 25 %: 477.60 - 47.76 = 429.84, + shipping 39.20 + fee 23.20 = 492.24 -> VAT 123.06
    #  6 %: 526.42 - 25.00 = 501.42 -> VAT 30.09;  12 %: 79.46 -> VAT 9.54
    assert d(order["paymentFee"]) == Decimal("23.20")
    assert d(order["totalVat"]) == Decimal("162.69")
    assert d(order["totalAmount"]) == Decimal("1235.81")
    assert d(order["amountToPay"]) == Decimal("1235.81")
    assert d(order["totalAmountInBaseCurrency"]) == Decimal("1235.81")
    assert order["currencyCode"] == "SEK" and d(order["currencyExchangeRate"]) == 1
    assert order["isComplete"] is True
    assert [i["sku"] for i in order["items"]["data"]] == ["SW-1003-M", "SW-1061", "SW-1037"]
    fetched = api("GET", f"/orders/{order['orderId']}", params={"include": "items,customer,status"}).json()[
        "data"
    ]
    assert fetched["customer"]["data"]["customerId"] == 1
    assert fetched["status"]["data"]["idCode"] == "created"
    assert d(fetched["totalAmount"]) == Decimal("1235.81")


def test_order_in_eur_with_discount_code_and_catalogue_prices(api: Api) -> None:
    body = {
        "customerId": 2,
        "currencyCode": "EUR",
        "discountCode": "SOMMAR10",
        "onOrderStatusChangeSendEmail": False,
        "items": [{"sku": "SW-1001-L", "quantity": 2}],
    }
    order = api("POST", "/orders", json=body).json()["data"]
    rows = order["items"]["data"]
    assert rows[0]["unitPrice"] > 0 and rows[0]["vatRate"] == 25
    assert rows[-1]["description"].startswith("Rabattkod SOMMAR10") and rows[-1]["unitPrice"] < 0
    net = sum(d(r["unitPrice"]) * r["quantity"] for r in rows)
    assert d(order["totalVat"]) == (net * Decimal("0.25")).quantize(Decimal("0.01"))
    rate = d(order["currencyExchangeRate"])
    assert rate == Decimal("0.087")
    assert d(order["totalAmountInBaseCurrency"]) == (d(order["totalAmount"]) / rate).quantize(Decimal("0.01"))


def test_bad_body_is_400_and_nothing_is_stored(api: Api) -> None:
    before = api("GET", "/orders", params={"includeNonCompletePayments": "true"}).json()["meta"]["pagination"]
    customers = api("GET", "/customers", params={"includeWithoutAccount": "true"}).json()["meta"][
        "pagination"
    ]
    for bad in (
        {**ORDER_BODY, "items": [{"sku": "SW-1001-M", "quantity": "many"}]},
        {**ORDER_BODY, "items": [{"sku": "SW-1001-M", "quantity": 1, "discountType": "half"}]},
        {**ORDER_BODY, "currencyCode": "SEKK"},
        {**ORDER_BODY, "customerId": None, "items": [{"sku": "NO-SUCH-SKU", "quantity": 1}]},
        {**ORDER_BODY, "statusId": 999},
    ):
        r = api("POST", "/orders", json=bad)
        assert r.status_code == 400, (bad, r.text)
        assert set(r.json()) == {"error", "error_description"} and r.json()["error_description"]
    after = api("GET", "/orders", params={"includeNonCompletePayments": "true"}).json()["meta"]["pagination"]
    assert after["total"] == before["total"]
    again = api("GET", "/customers", params={"includeWithoutAccount": "true"}).json()["meta"]["pagination"]
    assert again["total"] == customers["total"]
    assert api("POST", "/customers", json={"email": "x" * 300}).status_code == 400
    assert api("GET", "/orders/99999999").status_code == 404


def test_external_services_are_unique_per_order(api: Api) -> None:
    oid = api("POST", "/orders", json=ORDER_BODY).json()["data"]["orderId"]
    path = f"/orders/{oid}/external-services"
    first = api("POST", path, json={"serviceName": "visma", "externalIdValue": "1234"})
    assert first.status_code == 201
    assert first.json()["data"] == {"serviceName": "visma", "externalIdValue": "1234", "readOnly": False}
    dup = api("POST", path, json={"serviceName": "visma", "externalIdValue": "9999"})
    assert dup.status_code == 400 and dup.json()["error"]
    assert api("GET", f"{path}/visma").json()["data"]["externalIdValue"] == "1234"
    assert api("PATCH", f"{path}/visma", json={"externalIdValue": "1235"}).status_code == 200
    listed = api("GET", f"/orders/{oid}", params={"include": "externalServices"}).json()["data"]
    assert listed["externalServices"]["data"] == [
        {"serviceName": "visma", "externalIdValue": "1235", "readOnly": False}
    ]
    assert api("DELETE", f"{path}/visma").status_code == 204
    assert api("GET", f"{path}/visma").status_code == 404


def test_status_patch_records_flags(api: Api) -> None:
    body = {**ORDER_BODY, "paymentMethodId": 1}  # Klarna: captures on completion
    oid = api("POST", "/orders", json=body).json()["data"]["orderId"]
    r = api(
        "PATCH",
        f"/orders/{oid}",
        json={
            "statusId": 2,
            "onOrderStatusChangeSendEmail": False,
            "onOrderStatusChangeProcessPayment": False,
        },
    )
    assert r.status_code == 200 and r.json()["data"]["statusId"] == 2
    r = api(
        "PATCH",
        f"/orders/{oid}",
        json={
            "statusId": 3,
            "onOrderStatusChangeProcessPayment": True,
            "shippingTrackingNo": "UA123456789SE",
            "shippingTrackerType": 1,
        },
    )
    order = r.json()["data"]
    assert order["shippingTrackingNo"] == "UA123456789SE" and order["shippingTrackerType"] == 1
    assert order["paymentStatus"] == "CAPTURED" and d(order["amountPaid"]) == d(order["totalAmount"])
    log = api.admin("GET", f"/starweb/orders/{oid}/status-log").json()
    first, second = log["statusLog"]
    assert (first["fromStatusId"], first["toStatusId"], first["toStatusIdCode"]) == (1, 2, "picking")
    assert (
        first["onOrderStatusChangeSendEmail"] is False and first["onOrderStatusChangeProcessPayment"] is False
    )
    assert first["mailSent"] is False and first["paymentAction"] is None
    assert (
        second["toStatusIdCode"] == "completed" and second["onOrderStatusChangeSendEmail"] is True
    )  # default
    assert second["mailSent"] is True and second["paymentAction"] == "capture"
    assert second["shippingTrackingNo"] == "UA123456789SE"
    assert [m["type"] for m in log["mails"]] == ["status-changed"]
    assert [p["action"] for p in log["payments"]] == ["capture"]
    assert api("PATCH", f"/orders/{oid}", json={"statusId": 12345}).status_code == 400


def test_variant_prices_and_stock(api: Api) -> None:
    product = api("GET", "/products", params={"filterSku": "SW-1002-M", "include": "variants"}).json()[
        "data"
    ][0]
    pid = product["productId"]
    variant = next(v for v in product["variants"]["data"] if v["sku"] == "SW-1002-M")
    vid = variant["variantId"]
    prices = api("GET", f"/products/{pid}/variants/{vid}/prices").json()["data"]
    assert {p["pricelistId"] for p in prices} == {1, 2}
    r = api(
        "PUT",
        f"/products/{pid}/variants/{vid}/prices/1",
        json={"pricelistId": 1, "priceExVat": 99.5, "specialPriceExVat": None},
    )
    assert r.status_code == 200 and r.json()["data"]["priceExVat"] == 99.5
    r = api("PUT", f"/products/{pid}/variants/{vid}/stocks/1", json={"stockStatusId": 1, "stockQuantity": 17})
    assert r.status_code == 200 and r.json()["data"]["stockQuantity"] == 17
    again = api("GET", f"/products/{pid}/variants/{vid}").json()["data"]
    assert again["stockQuantity"] == 17
    assert (
        api("PUT", f"/products/{pid}/variants/{vid}/stocks/1", json={"stockQuantity": 1}).status_code == 400
    )
    updated = api("GET", f"/products/{pid}").json()["data"]["modifiedAt"]
    assert updated >= product["modifiedAt"]


# --- persistence --------------------------------------------------------------------------


def test_state_file_roundtrip(tmp_path: Path) -> None:
    state = tmp_path / "starweb.json"
    cfg = settings(seed="empty", state_file=state)
    srv = start_in_thread(create_app(cfg))
    try:
        a = Api(srv.url)
        cid = a(
            "POST",
            "/customers",
            json={"type": "company", "email": "ab@example.com", "vatNo": "SE556000000001"},
        ).json()["data"]["customerId"]
        body = {
            "customerId": cid,
            "onOrderStatusChangeSendEmail": False,
            "items": [
                {"sku": "X-1", "description": "Konsulttimme", "quantity": 2, "unitPrice": 950, "vatRate": 25}
            ],
        }
        order = a("POST", "/orders", json=body).json()["data"]
        a(
            "POST",
            f"/orders/{order['orderId']}/external-services",
            json={"serviceName": "visma", "externalIdValue": "77"},
        )
        a.http.close()
    finally:
        srv.stop()
    assert state.exists()
    srv = start_in_thread(create_app(cfg))
    try:
        b = Api(srv.url)
        again = b("GET", f"/orders/{order['orderId']}", params={"include": "items,externalServices"}).json()[
            "data"
        ]
        assert d(again["totalAmount"]) == Decimal("2375.00") == d(order["totalAmount"])
        assert again["externalServices"]["data"][0]["externalIdValue"] == "77"
        assert b("GET", f"/customers/{cid}").json()["data"]["email"] == "ab@example.com"
        b.http.close()
    finally:
        srv.stop()


def test_incomplete_orders_and_completion(api: Api) -> None:
    oid = api("POST", "/orders", json={**ORDER_BODY, "isComplete": False}).json()["data"]["orderId"]
    default = {o["orderId"] for o in api("GET", "/orders").json()["data"]}
    assert oid not in default
    every = api("GET", "/orders", params={"includeNonCompletePayments": "true"}).json()["data"]
    assert oid in {o["orderId"] for o in every}
    assert api("PATCH", f"/orders/{oid}", json={"isComplete": True}).json()["data"]["isComplete"] is True
    assert oid in {o["orderId"] for o in api("GET", "/orders").json()["data"]}
    assert api("DELETE", f"/orders/{oid}").status_code == 204
    assert api("GET", f"/orders/{oid}").status_code == 404


def test_rate_limit_is_per_token(api: Api) -> None:
    other = Api(str(api.http.base_url))
    api.admin("POST", "/ratelimit", json={"limit": 3, "window_s": 30.0, "reset": True}).raise_for_status()
    try:
        codes = [api("GET", "/shop").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = api("GET", "/shop")
        assert int(limited.headers["Retry-After"]) >= 1 and set(limited.json()) == {
            "error",
            "error_description",
        }
        assert other("GET", "/shop").status_code == 200  # its own bucket
    finally:
        api.admin(
            "POST", "/ratelimit", json={"limit": 100_000, "window_s": 1.0, "reset": True}
        ).raise_for_status()
        other.http.close()


def test_demo_seed_is_deterministic() -> None:
    from datetime import datetime

    from shopbridge.sandbox.starweb.seed import build_shop
    from shopbridge.sandbox.starweb.state import dump_state
    from shopbridge.sandbox.starweb.wire import SHOP_TZ

    anchor = datetime(2026, 3, 1, tzinfo=SHOP_TZ)
    first, second = build_shop(1, "demo", anchor), build_shop(1, "demo", anchor)
    assert dump_state({1: first}) == dump_state({1: second})
    assert len(first.products) >= 200 and len(first.customers) >= 50 and len(first.orders) >= 300
    orders = list(first.orders.values())
    assert {o.data["currencyCode"] for o in orders} == {"SEK", "EUR", "NOK"}
    assert {o.data["paymentMethodIdCode"] for o in orders} == {"klarna_checkout", "card", "invoice", "swish"}
    assert any(not o.data["isComplete"] for o in orders) and sum(o.data["isComplete"] for o in orders) > 280
    rows = [i for o in orders for i in o.items.values()]
    assert any(i["discountType"] == "amount" and i["discount"] for i in rows)
    assert any(i["discountType"] == "percent" and i["discount"] for i in rows)
    assert all(i["sku"] in first.sku_index for i in rows if i["sku"])
    assert any(o.data["discountCode"] for o in orders)
    vat_nos = {c.data["vatNo"][:2] for c in first.customers.values() if c.data["vatNo"]}
    assert {"SE", "DE"} <= vat_nos
    empty = build_shop(1, "empty", anchor)
    assert (
        not empty.orders and not empty.products and empty.order_statuses and len(empty.stock_locations) == 2
    )
