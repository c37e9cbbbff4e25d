"""Catalogue sync fidelity of both sandboxes over real HTTP: bulk seeding admin routes, change tracking
(`updatedSince` / `ChangedUtc`), stock and price changes, article validation, price list rows.

Servers are real uvicorn instances in threads (`start_in_thread`); calls are plain httpx.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from shopbridge.sandbox.common import defaults as d
from shopbridge.sandbox.common import get_validator, start_in_thread
from shopbridge.sandbox.settings import RateLimitSettings, SandboxSettings
from shopbridge.sandbox.starweb.app import create_app as create_starweb
from shopbridge.sandbox.visma.app import create_app as create_visma

SW_SPEC = get_validator("starweb")
SW_CREDS = {
    "grant_type": "client_credentials",
    "client_id": d.STARWEB_CLIENT_ID,
    "client_secret": d.STARWEB_CLIENT_SECRET,
}
V_REDIRECT = "http://127.0.0.1:8765/callback"
V_SCOPE = "ea:api offline_access ea:sales ea:accounting"
V_BASIC = "Basic " + base64.b64encode(f"{d.VISMA_CLIENT_ID}:{d.VISMA_CLIENT_SECRET}".encode()).decode()


def dd(value: Any) -> Decimal:
    return Decimal(str(value))


# =========================================================================== Starweb


class Starweb:
    """A running Starweb sandbox with a token; API answers are checked against the spec's schemas."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=30)
        token = self.http.post("/api/v2/token", data=SW_CREDS)
        assert token.status_code == 200, token.text
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    def __call__(self, method: str, path: str, **kw: Any) -> httpx.Response:
        response = self.http.request(method, "/api/v2" + path, headers=self.headers, **kw)
        template, _ = SW_SPEC.match_path(method, path)
        if template and response.content and SW_SPEC.response_schema(method, template, response.status_code):
            violations = SW_SPEC.validate_response(method, template, response.status_code, response.json())
            assert not violations, (method, path, response.status_code, violations)
        return response

    def bulk(self, **body: Any) -> httpx.Response:
        return self.http.post("/_sandbox/starweb/catalog", json=body)

    def product_by_sku(self, sku: str, include: str = "variants.prices,languages") -> dict[str, Any]:
        found = self("GET", "/products", params={"filterSku": sku, "include": include}).json()["data"]
        assert len(found) == 1, found
        return found[0]

    def variant(self, sku: str) -> tuple[int, dict[str, Any]]:
        product = self.product_by_sku(sku, "variants")
        return product["productId"], next(v for v in product["variants"]["data"] if v["sku"] == sku)

    def deliveries(self, event: str) -> list[dict[str, Any]]:
        resp = self.http.get("/_sandbox/starweb/webhook-deliveries", params={"event": event})
        assert resp.status_code == 200, resp.text
        return resp.json()["data"]


def starweb_app() -> Any:
    cfg = SandboxSettings(
        client_id=d.STARWEB_CLIENT_ID,
        client_secret=d.STARWEB_CLIENT_SECRET,
        seed="demo",
        rate_limit=RateLimitSettings(limit=100_000, window_s=1.0),
    )
    return create_starweb(cfg, webhook_retry_interval_s=0.05, webhook_max_retries=0)


@pytest.fixture(scope="module")
def sw() -> Iterator[Starweb]:
    server = start_in_thread(starweb_app())
    client = Starweb(server.url)
    try:
        yield client
    finally:
        client.http.close()
        server.stop()


@pytest.fixture()
def sw_fresh() -> Iterator[Starweb]:
    server = start_in_thread(starweb_app())
    client = Starweb(server.url)
    try:
        yield client
    finally:
        client.http.close()
        server.stop()


def sw_cursor() -> str:
    """A Starweb `updatedSince` cursor: now, whole seconds (modifiedAt has whole seconds, compared >=)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def test_starweb_bulk_catalogue_single_and_multi_variant(sw: Starweb) -> None:
    before = sw.http.get("/_sandbox/starweb/summary").json()["shops"][0]
    one = sw.bulk(products=3, prefix="ONE", price="149.50", stock=4, vat_rate=12)
    assert one.status_code == 200, one.text
    assert one.json() | {"modifiedAt": None} == {
        "shop": 1,
        "products": 3,
        "variants": 3,
        "first_product_id": before["products"] + 1,
        "last_product_id": before["products"] + 3,
        "first_sku": "ONE-000001",
        "last_sku": "ONE-000003",
        "modifiedAt": None,
        "total_products": before["products"] + 3,
        "total_variants": before["variants"] + 3,
    }
    product = sw.product_by_sku("ONE-000002")
    assert product["languages"]["data"][0]["name"] == "Bulk product 2"
    assert product["defaultVatRate"] == "12.00" and product["visibility"] == "visible"
    assert product["modifiedAt"] == one.json()["modifiedAt"] == product["createdAt"]
    (variant,) = product["variants"]["data"]
    assert variant["sku"] == "ONE-000002" and variant["stockQuantity"] == 4
    prices = {p["pricelistId"]: dd(p["priceExVat"]) for p in variant["prices"]}
    assert prices == {1: Decimal("149.50"), 2: Decimal("14.95")}  # master SEK, EUR at price / 10
    stocks = sw("GET", f"/products/{product['productId']}/variants/{variant['variantId']}/stocks").json()
    assert [(s["stockLocationId"], s["stockQuantity"]) for s in stocks["data"]] == [(1, 4)]

    multi = sw.bulk(products=2, variants_per_product=5, prefix="MULTI")
    assert multi.status_code == 200 and multi.json()["variants"] == 10, multi.text
    product = sw.product_by_sku("MULTI-000002-3", "variants.attributeValues")
    skus = [v["sku"] for v in product["variants"]["data"]]
    assert skus == [f"MULTI-000002-{j}" for j in range(1, 6)]
    assert product["hasSeveralVariants"] is True
    names = [v["attributeValues"][0]["languages"][0]["name"] for v in product["variants"]["data"]]
    assert names == ["S", "M", "L", "XL", "XXL"]
    assert product["variants"]["data"][0]["stockQuantity"] == 10

    again = sw.bulk(products=1, prefix="ONE")
    assert again.status_code == 400 and "ONE-000001" in again.json()["message"]
    assert sw.bulk(products=2, prefix="ONE", start=4).status_code == 200
    for bad in ({"products": -1}, {"products": 1, "prefix": "no spaces"}, {"products": 1, "colour": "red"}):
        resp = sw.bulk(**bad)
        assert resp.status_code == 400 and resp.json()["error"] == "bad_request", (bad, resp.text)
    assert sw.bulk(products=1, shop=9).status_code == 404
    after = sw.http.get("/_sandbox/starweb/summary").json()["shops"][0]
    assert after["products"] == before["products"] + 7 and after["variants"] == before["variants"] + 15


def test_starweb_bulk_twenty_thousand_products(sw_fresh: Starweb) -> None:
    resp = sw_fresh.bulk(products=20_000, prefix="BIG")
    assert resp.status_code == 200, resp.text
    assert resp.json()["products"] == 20_000 and resp.json()["last_sku"] == "BIG-020000"
    listed = sw_fresh("GET", "/products", params={"page": 400}).json()
    assert listed["meta"]["pagination"]["total"] == 20_000 + 224
    assert sw_fresh.product_by_sku("BIG-019999")["languages"]["data"][0]["name"] == "Bulk product 19999"
    since = sw_fresh("GET", "/products", params={"updatedSince": resp.json()["modifiedAt"]}).json()
    assert since["meta"]["pagination"]["total"] >= 20_000


def test_starweb_updated_since_follows_every_kind_of_change(sw_fresh: Starweb) -> None:
    api = sw_fresh
    skus = ["SW-1001-M", "SW-1002-M", "SW-1003-M", "SW-1012", "SW-1004-VIT"]
    ids = {sku: api.variant(sku) for sku in skus}
    cursor = sw_cursor()
    untouched = api("GET", "/products", params={"updatedSince": cursor}).json()
    assert untouched["meta"]["pagination"]["total"] == 0  # demo products were modified before today

    pid, var = ids["SW-1001-M"]
    price = api(
        "PUT",
        f"/products/{pid}/variants/{var['variantId']}/prices/1",
        json={"pricelistId": 1, "priceExVat": 88},
    )
    assert price.status_code == 200
    pid, var = ids["SW-1002-M"]
    stock = api(
        "PUT",
        f"/products/{pid}/variants/{var['variantId']}/stocks/2",
        json={"stockStatusId": 1, "stockQuantity": 3},
    )
    assert stock.status_code == 200
    pid, var = ids["SW-1003-M"]
    assert (
        api(
            "PATCH", f"/products/{pid}/variants/{var['variantId']}", json={"ean": "7350000000017"}
        ).status_code
        == 200
    )
    pid, _ = ids["SW-1012"]
    assert api("PATCH", f"/products/{pid}", json={"visibility": "hidden"}).status_code == 200

    changed = api("GET", "/products", params={"updatedSince": cursor}).json()
    got = {p["productId"] for p in changed["data"]}
    assert got == {ids[s][0] for s in skus[:4]}
    for p in changed["data"]:
        assert datetime.fromisoformat(p["modifiedAt"]) >= datetime.fromisoformat(cursor)
    # hidden products stay listable and findable by SKU; filterVisible drops them
    hidden = api.product_by_sku("SW-1012")
    assert hidden["visibility"] == "hidden"
    visible = api("GET", "/products", params={"updatedSince": cursor, "filterVisible": "true"}).json()
    assert ids["SW-1012"][0] not in {p["productId"] for p in visible["data"]}
    # filterSku finds a product by any of its variants' SKUs
    product = api.product_by_sku("SW-1001-M", "variants")
    for v in product["variants"]["data"]:
        assert api.product_by_sku(v["sku"], "variants")["productId"] == product["productId"]
    assert api("GET", "/products", params={"filterSku": "NO-SUCH-SKU"}).json()["data"] == []
    assert api("GET", "/products", params={"updatedSince": "not a time"}).status_code == 400


def test_starweb_product_hooks_fire_for_api_writes(sw: Starweb) -> None:
    for event in ("product-created", "product-updated", "product-removed"):
        hook = sw(
            "POST", "/web-hooks", json={"name": event, "event": event, "url": sw.url + "/_sandbox/health"}
        )
        assert hook.status_code == 201, hook.text
    created = sw(
        "POST",
        "/products",
        json={
            "languages": [{"langCode": "sv", "name": "Krok"}],
            "variants": [{"sku": "HOOKED-1", "prices": [{"pricelistId": 1, "priceExVat": 10}]}],
        },
    )
    assert created.status_code == 201, created.text
    pid = created.json()["data"]["productId"]
    vid = created.json()["data"]["variants"]["data"][0]["variantId"]
    assert (
        sw(
            "PUT", f"/products/{pid}/variants/{vid}/prices/1", json={"pricelistId": 1, "priceExVat": 12}
        ).status_code
        == 200
    )
    assert (
        sw(
            "PUT", f"/products/{pid}/variants/{vid}/stocks/1", json={"stockStatusId": 1, "stockQuantity": 5}
        ).status_code
        == 200
    )
    assert sw("PATCH", f"/products/{pid}/variants/{vid}", json={"mpn": "X-1"}).status_code == 200
    assert sw("DELETE", f"/products/{pid}").status_code == 204

    def count(event: str) -> int:
        return sum(1 for r in sw.deliveries(event) if r["body"]["productId"] == pid)

    assert count("product-created") == 1
    assert count("product-updated") == 3
    assert count("product-removed") == 1
    bulk = sw.bulk(products=2, prefix="QUIET")
    assert bulk.status_code == 200
    assert not any(
        r["body"]["productId"] >= bulk.json()["first_product_id"] for r in sw.deliveries("product-created")
    )


def test_starweb_negative_stock_and_unknown_pricelist(sw: Starweb) -> None:
    assert sw.bulk(products=1, prefix="NEG").status_code == 200
    pid, var = sw.variant("NEG-000001")
    base = f"/products/{pid}/variants/{var['variantId']}"
    negative = sw("PUT", f"{base}/stocks/1", json={"stockStatusId": 3, "stockQuantity": -3})
    assert negative.status_code == 200, negative.text
    assert negative.json()["data"]["stockQuantity"] == -3
    assert sw("GET", base).json()["data"]["stockQuantity"] == -3
    too_low = sw("PUT", f"{base}/stocks/1", json={"stockStatusId": 3, "stockQuantity": -100_000_001})
    assert too_low.status_code == 400 and set(too_low.json()) == {"error", "error_description"}
    missing = sw("PUT", f"{base}/prices/999", json={"pricelistId": 999, "priceExVat": 5})
    assert missing.status_code == 404 and set(missing.json()) == {"error", "error_description"}
    assert sw("PATCH", f"{base}/prices/999", json={"pricelistId": 999, "priceExVat": 5}).status_code == 404
    posted = sw("POST", f"{base}/prices", json={"pricelistId": 999, "priceExVat": 5})
    assert posted.status_code == 400 and set(posted.json()) == {"error", "error_description"}
    assert sw("PUT", f"{base}/stocks/99", json={"stockStatusId": 1, "stockQuantity": 1}).status_code == 404


def test_starweb_orders_draw_stock(sw: Starweb) -> None:
    assert sw.bulk(products=3, prefix="ORD", stock=10).status_code == 200
    pid1, var1 = sw.variant("ORD-000001")
    pid3, var3 = sw.variant("ORD-000003")
    few = sw(
        "PUT",
        f"/products/{pid3}/variants/{var3['variantId']}/stocks/1",
        json={"stockStatusId": 4, "stockQuantity": 1},
    )
    assert few.status_code == 200
    cursor = sw_cursor()
    order = sw(
        "POST",
        "/orders",
        json={
            "customerId": 1,
            "paymentMethodId": 3,
            "shippingMethodId": 1,
            "onOrderStatusChangeSendEmail": False,
            "items": [
                {"sku": "ORD-000001", "quantity": 3},
                {"sku": "ORD-000003", "quantity": 2},
                {"sku": "NOT-IN-SHOP", "quantity": 1, "unitPrice": 10, "vatRate": 25},
            ],
        },
    )
    assert order.status_code == 201, order.text
    assert sw("GET", f"/products/{pid1}/variants/{var1['variantId']}").json()["data"]["stockQuantity"] == 7
    stock1 = sw("GET", f"/products/{pid1}/variants/{var1['variantId']}/stocks/1").json()["data"]
    assert stock1["stockQuantity"] == 7 and stock1["stockStatusId"] == 1
    # 1 - 2 = -1: back order allowed; "Få kvar" (4) switches to its stockoutNewStatusId (2)
    stock3 = sw("GET", f"/products/{pid3}/variants/{var3['variantId']}/stocks/1").json()["data"]
    assert stock3 == {"stockLocationId": 1, "stockStatusId": 2, "stockQuantity": -1}
    untouched = sw.variant("ORD-000002")[1]
    assert untouched["stockQuantity"] == 10
    since = {p["productId"] for p in sw("GET", "/products", params={"updatedSince": cursor}).json()["data"]}
    assert {pid1, pid3} <= since  # (ORD-000002 was created this second too: no "not in" check)
    # an order whose payment is not complete draws nothing until it becomes complete
    pending = sw(
        "POST",
        "/orders",
        json={"customerId": 1, "isComplete": False, "items": [{"sku": "ORD-000001", "quantity": 2}]},
    )
    assert pending.status_code == 201, pending.text
    assert sw.variant("ORD-000001")[1]["stockQuantity"] == 7
    oid = pending.json()["data"]["orderId"]
    assert sw("PATCH", f"/orders/{oid}", json={"isComplete": True}).status_code == 200
    assert sw.variant("ORD-000001")[1]["stockQuantity"] == 5
    assert sw("PATCH", f"/orders/{oid}", json={"isComplete": True}).status_code == 200
    assert sw.variant("ORD-000001")[1]["stockQuantity"] == 5


# =========================================================================== Visma


class Visma:
    """A running Visma sandbox with an access token (authorization-code flow)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=30)
        params = {
            "client_id": d.VISMA_CLIENT_ID,
            "redirect_uri": V_REDIRECT,
            "scope": V_SCOPE,
            "response_type": "code",
            "state": "s",
            "prompt": "select_account",
            "acr_values": "service:44643EB1-3F76-4C1C-A672-402AE8085934",
        }
        redirect = self.http.get("/connect/authorize", params=params, follow_redirects=False)
        code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
        tokens = self.http.post(
            "/connect/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": V_REDIRECT},
            headers={"Authorization": V_BASIC},
        )
        assert tokens.status_code == 200, tokens.text
        self.http.headers["Authorization"] = f"Bearer {tokens.json()['access_token']}"

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get("/v2" + path, params=params)

    def send(self, method: str, path: str, body: Any) -> httpx.Response:
        content = json.dumps(body, default=lambda o: float(o) if isinstance(o, Decimal) else str(o))
        return self.http.request(
            method, "/v2" + path, content=content, headers={"Content-Type": "application/json"}
        )

    def ok(self, resp: httpx.Response, status: int = 200) -> Any:
        assert resp.status_code == status, resp.text
        return json.loads(resp.content, parse_float=Decimal)

    def admin(self, path: str, body: Any, status: int = 200) -> Any:
        resp = self.http.post("/_sandbox/visma" + path, json=body)
        assert resp.status_code == status, resp.text
        return json.loads(resp.content, parse_float=Decimal)

    def article(self, number: str) -> dict[str, Any]:
        data = self.ok(self.get("/articles", **{"$filter": f"Number eq '{number}'"}))["Data"]
        assert len(data) == 1, data
        return data[0]

    def cursor(self) -> str:
        return self.ok(self.get("/units", **{"$pagesize": 1}))["Meta"]["ServerTimeUtc"]

    def changed_numbers(self, cursor: str) -> set[str]:
        flt = {"$filter": f"ChangedUtc gt {cursor}", "$pagesize": 1000}
        return {a["Number"] for a in self.ok(self.get("/articles", **flt))["Data"]}


def visma_error(resp: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["ErrorCode"] == code and body["ErrorId"] and body["DeveloperErrorMessage"], body
    return body


@pytest.fixture(scope="module")
def vi() -> Iterator[Visma]:
    cfg = SandboxSettings(client_id=d.VISMA_CLIENT_ID, client_secret=d.VISMA_CLIENT_SECRET, seed="demo")
    server = start_in_thread(create_visma(cfg))
    client = Visma(server.url)
    try:
        yield client
    finally:
        client.http.close()
        server.stop()


def refs(vi: Visma) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    codings = vi.ok(vi.get("/articleaccountcodings"))["Data"]
    goods25 = next(c for c in codings if c["Type"] == "Goods" and c["VatRatePercent"] == Decimal("0.25"))
    goods12 = next(c for c in codings if c["Type"] == "Goods" and c["VatRatePercent"] == Decimal("0.12"))
    unit = next(u for u in vi.ok(vi.get("/units"))["Data"] if u["Abbreviation"] == "st")
    return goods25, goods12, unit


def test_visma_bulk_catalogue(vi: Visma) -> None:
    goods25, goods12, unit = refs(vi)
    total = vi.ok(vi.get("/articles", **{"$pagesize": 1}))["Meta"]["TotalNumberOfResults"]
    result = vi.admin("/catalog", {"articles": 20_000, "prefix": "BULK"})
    assert result["created"] == 20_000 and result["articles_total"] == total + 20_000
    assert (result["first_number"], result["last_number"]) == ("BULK-000001", "BULK-020000")
    assert result["CodingId"] == goods25["Id"] and result["UnitId"] == unit["Id"]
    last = vi.article("BULK-020000")
    assert last["IsActive"] is True and last["IsStock"] is True and last["Name"] == "Bulk article 20000"
    assert (
        last["CodingId"] == goods25["Id"]
        and last["UnitId"] == unit["Id"]
        and last["UnitAbbreviation"] == "st"
    )
    assert (last["NetPrice"], last["GrossPrice"]) == (Decimal("199.0"), Decimal("248.75"))
    assert last["StockBalance"] == last["StockBalanceAvailable"] == 10 and last["StockBalanceReserved"] == 0
    assert last["ChangedUtc"] == last["CreatedUtc"] == result["ChangedUtc"]
    assert len(vi.changed_numbers(result["ChangedUtc"][:19] + ".000Z")) == 1000  # one page of the bulk
    # $pagesize is capped at 1000 (the spec names no bound)
    page = vi.ok(vi.get("/articles", **{"$pagesize": 5000, "$page": 2}))
    assert page["Meta"]["PageSize"] == 1000 and len(page["Data"]) == 1000
    assert page["Meta"]["TotalNumberOfPages"] == -(-(total + 20_000) // 1000)

    food = vi.admin(
        "/catalog", {"articles": 2, "prefix": "MAT", "net_price": "10.00", "vat_rate": 12, "stock": 0}
    )
    mat = vi.article("MAT-000002")
    assert food["CodingId"] == goods12["Id"] == mat["CodingId"] and mat["GrossPrice"] == Decimal("11.2")
    assert "BULK-000001" in vi.admin("/catalog", {"articles": 1}, status=400)["message"]
    assert (
        vi.admin("/catalog", {"articles": 1, "prefix": "X", "vat_rate": 7}, status=400)["error"]
        == "bad_request"
    )
    assert vi.admin("/catalog", {"articles": 1, "prefix": "P" * 34}, status=400)
    assert vi.admin("/catalog", {"articles": 1, "price": 5}, status=400)


def test_visma_stock_changes_as_in_the_ui(vi: Visma) -> None:
    vi.admin("/catalog", {"articles": 3, "prefix": "POS", "stock": 10, "purchase_price": "50"})
    cursor = vi.cursor()
    one = vi.admin("/articles/stock", {"Number": "POS-000001", "StockBalance": "12"})["changed"][0]
    assert one["StockBalance"] == one["StockBalanceAvailable"] == 12 and one["StockBalanceReserved"] == 0
    assert one["ChangedUtc"] > cursor and one["StockBalanceManuallyChangedUtc"] == one["ChangedUtc"]
    many = vi.admin(
        "/articles/stock",
        {
            "changes": [
                {"Number": "POS-000002", "StockChange": -1},
                {"Number": "POS-000001", "StockChange": "-2.5"},
            ]
        },
    )["changed"]
    assert [(a["Number"], a["StockBalance"]) for a in many] == [
        ("POS-000002", 9),
        ("POS-000001", Decimal("9.5")),
    ]
    assert vi.changed_numbers(cursor) == {"POS-000001", "POS-000002"}
    article = vi.article("POS-000001")
    assert article["StockBalance"] == Decimal("9.5") and article["StockValue"] == Decimal("475.0")
    # all or nothing: an unknown Number changes nothing
    later = vi.cursor()
    missing = vi.admin(
        "/articles/stock",
        {"changes": [{"Number": "POS-000003", "StockBalance": 1}, {"Number": "NOPE", "StockBalance": 1}]},
        status=404,
    )
    assert missing["error"] == "not_found" and "NOPE" in missing["message"]
    assert vi.changed_numbers(later) == set() and vi.article("POS-000003")["StockBalance"] == 10
    vi.admin("/articles/stock", {"Number": "POS-000003", "StockBalance": 1, "StockChange": 1}, status=400)
    vi.admin("/articles/stock", {"Number": "FRAKT", "StockBalance": 1}, status=400)  # service article


def test_visma_reservations_and_price_changes_bump_changed_utc(vi: Visma) -> None:
    vi.admin("/catalog", {"articles": 2, "prefix": "CAMP", "net_price": "100.00"})
    article = vi.article("CAMP-000001")
    customer = vi.ok(
        vi.get("/customers", **{"$filter": "IsPrivatePerson eq false and CurrencyCode eq 'SEK'"})
    )["Data"][0]
    cursor = vi.cursor()
    order = vi.ok(
        vi.send(
            "POST",
            "/orders",
            {
                "CustomerId": customer["Id"],
                "CurrencyCode": "SEK",
                "EuThirdParty": False,
                "RotReducedInvoicingType": 0,
                "ReverseChargeOnConstructionServices": False,
                "Status": 1,
                "Rows": [
                    {
                        "LineNumber": 1,
                        "ArticleId": article["Id"],
                        "Quantity": 4,
                        "IsTextRow": False,
                        "IsWorkCost": False,
                        "EligibleForReverseChargeOnVat": False,
                    }
                ],
            },
        ),
        201,
    )
    vi.ok(vi.send("PUT", f"/orders/{order['Id']}", {**order, "Status": 2}))
    reserved = vi.article("CAMP-000001")
    assert reserved["StockBalanceReserved"] == 4 and reserved["StockBalanceAvailable"] == 6
    assert reserved["ChangedUtc"] > cursor and vi.changed_numbers(cursor) == {"CAMP-000001"}
    counted = vi.admin("/articles/stock", {"Number": "CAMP-000001", "StockBalance": 8})["changed"][0]
    assert counted["StockBalanceAvailable"] == 4  # balance - reserved

    cursor = vi.cursor()
    price = vi.admin(
        "/articles/price", {"Number": "CAMP-000002", "NetPrice": "99.50", "NetPriceWithDiscount": 79}
    )
    row = price["changed"][0]
    assert (row["NetPrice"], row["NetPriceWithDiscount"], row["GrossPrice"]) == (
        Decimal("99.5"),
        Decimal("79.0"),
        Decimal("124.38"),  # 124.375 rounded half up
    )
    assert vi.changed_numbers(cursor) == {"CAMP-000002"}
    plain = vi.admin("/articles/price", {"changes": [{"Number": "CAMP-000002", "NetPrice": 80}]})["changed"][
        0
    ]
    assert plain["NetPriceWithDiscount"] == plain["NetPrice"] == 80 and plain["GrossPrice"] == 100
    vi.admin("/articles/price", {"Number": "CAMP-000002"}, status=400)
    vi.admin("/articles/price", {"Number": "CAMP-000002", "NetPrice": "-1"}, status=400)
    vi.admin("/articles/price", {"Number": "NOPE", "NetPrice": 1}, status=404)


def test_visma_article_validation(vi: Visma) -> None:
    goods25, _goods12, unit = refs(vi)
    base = {
        "IsActive": True,
        "Number": "VAL-1",
        "Name": "Validerad",
        "CodingId": goods25["Id"],
        "UnitId": unit["Id"],
    }
    created = vi.ok(vi.send("POST", "/articles", base), 201)
    before = vi.ok(vi.get("/articles", **{"$pagesize": 1}))["Meta"]["TotalNumberOfResults"]

    dup = visma_error(vi.send("POST", "/articles", {**base, "Name": "Dubblett"}), 400, 4000)
    assert "Number" in dup["DeveloperErrorMessage"] and dup["Errors"][0]["Field"] == "Number"
    for field, value in (
        ("Number", ""),
        ("Number", "   "),
        ("Name", ""),
        ("Number", "N" * 41),
        ("Name", "x" * 51),
    ):
        body = visma_error(vi.send("POST", "/articles", {**base, "Number": "VAL-2", field: value}), 400, 2000)
        assert field in body["DeveloperErrorMessage"] and body["Errors"][0]["Field"] == field, body
    missing = visma_error(
        vi.send("POST", "/articles", {k: v for k, v in base.items() if k != "Number"}), 400, 2000
    )
    assert "Number" in missing["DeveloperErrorMessage"]
    for field in ("CodingId", "UnitId"):
        body = {**base, "Number": "VAL-3", field: "00000000-0000-0000-0000-00000000000f"}
        assert field in visma_error(vi.send("POST", "/articles", body), 400, 3000)["DeveloperErrorMessage"]
    assert vi.ok(vi.get("/articles", **{"$pagesize": 1}))["Meta"]["TotalNumberOfResults"] == before

    other = vi.ok(vi.send("POST", "/articles", {**base, "Number": "VAL-4"}), 201)
    visma_error(vi.send("PUT", f"/articles/{other['Id']}", {**other, "Number": "VAL-1"}), 400, 4000)
    cursor = vi.cursor()
    renamed = vi.ok(vi.send("PUT", f"/articles/{created['Id']}", {**created, "Name": "Nytt namn"}))
    assert renamed["ChangedUtc"] > cursor and vi.changed_numbers(cursor) == {"VAL-1"}


def test_visma_price_list_rows_carry_changed_utc(vi: Visma) -> None:
    lists = vi.ok(vi.get("/salespricelists"))["Data"]
    reseller = next(p for p in lists if p["CurrencyCode"] == "SEK" and not p["IsStandard"])
    vi.admin("/catalog", {"articles": 2, "prefix": "PL"})
    a1, a2 = vi.article("PL-000001"), vi.article("PL-000002")
    cursor = vi.cursor()
    vi.ok(
        vi.send(
            "PUT", f"/salespricelists/{reseller['Id']}/prices", [{"ArticleId": a1["Id"], "NetPrice": 150}]
        )
    )
    flt = {"$filter": f"ChangedUtc gt {cursor}"}
    rows = vi.ok(vi.get("/salespricelists/prices", **flt))["Data"]
    assert [(r["ArticleId"], r["NetPrice"], r["GrossPrice"]) for r in rows] == [
        (a1["Id"], 150, Decimal("187.5"))
    ]
    assert rows[0]["ChangedUtc"] > cursor and rows[0]["SalesPriceListId"] == reseller["Id"]
    in_list = vi.ok(vi.get(f"/salespricelists/prices/{reseller['Id']}", **flt))["Data"]
    assert [r["ArticleId"] for r in in_list] == [a1["Id"]]
    older = vi.ok(
        vi.get("/salespricelists/prices", **{"$filter": f"ChangedUtc le {cursor}", "$pagesize": 1000})
    )
    assert a1["Id"] not in {r["ArticleId"] for r in older["Data"]}
    too_many = [{"ArticleId": a2["Id"], "NetPrice": 1}] * 1001
    body = visma_error(vi.send("PUT", f"/salespricelists/{reseller['Id']}/prices", too_many), 400, 2000)
    assert "1000" in body["DeveloperErrorMessage"]
