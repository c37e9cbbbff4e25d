"""StarwebClient against the real Starweb sandbox over HTTP (uvicorn on a free 127.0.0.1 port).

Faults and limits are set through the sandbox's `/_sandbox` admin endpoints and checked through
`/_sandbox/stats`; rate-limit windows are compressed to one second.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from shopbridge.http import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    RetryPolicy,
    ServerError,
    SlidingWindowLimiter,
    TransportError,
)
from shopbridge.sandbox.common import start_in_thread
from shopbridge.sandbox.common.defaults import STARWEB_API_PREFIX, STARWEB_CLIENT_ID, STARWEB_CLIENT_SECRET
from shopbridge.sandbox.settings import RateLimitSettings, SandboxSettings
from shopbridge.sandbox.starweb.app import create_app
from shopbridge.starweb import StarwebClient, StarwebConflictError, StarwebError
from shopbridge.starweb.schemas import (
    Order,
    OrderItem,
    Product,
    ProductLanguage,
    Variant,
    VariantPrice,
)

FAST = RetryPolicy(max_attempts=8, base_delay=0.005, max_delay=0.05)
OPEN_LIMIT = {"limit": 100_000, "window_s": 1.0, "enabled": True, "reset": True}


class Sandbox:
    def __init__(self, url: str) -> None:
        self.url = url
        self.api = url + STARWEB_API_PREFIX
        self._admin = httpx.Client(base_url=url + "/_sandbox", timeout=10)

    def faults(self, **changes: Any) -> None:
        """Replace the fault settings (unspecified ones back to their defaults)."""
        self._admin.put("/faults", json=changes).raise_for_status()

    def ratelimit(self, **changes: Any) -> None:
        self._admin.post("/ratelimit", json=changes).raise_for_status()

    def expire_tokens(self) -> None:
        self._admin.post("/starweb/tokens/expire").raise_for_status()

    def stats(self) -> dict[str, Any]:
        return self._admin.get("/stats").raise_for_status().json()

    def reset(self) -> None:
        self.faults()
        self.ratelimit(**OPEN_LIMIT)
        self._admin.post("/stats/reset").raise_for_status()

    def close(self) -> None:
        self._admin.close()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    settings = SandboxSettings(
        client_id=STARWEB_CLIENT_ID,
        client_secret=STARWEB_CLIENT_SECRET,
        seed="demo",
        rate_limit=RateLimitSettings(limit=100_000, window_s=1.0),
    )
    server = start_in_thread(create_app(settings))
    box = Sandbox(server.url)
    try:
        yield box
    finally:
        box.close()
        server.stop()


@pytest.fixture(autouse=True)
def clean(sandbox: Sandbox) -> Iterator[None]:
    sandbox.reset()
    yield
    sandbox.faults()


def client(sandbox: Sandbox, **kw: Any) -> StarwebClient:
    kw.setdefault("retry", FAST)
    kw.setdefault("rate_limit", None)
    return StarwebClient(sandbox.api, STARWEB_CLIENT_ID, STARWEB_CLIENT_SECRET, **kw)


class LoseAnswers(httpx.AsyncBaseTransport):
    """Real HTTP, but the answer to the first `n` matching requests is lost after the server
    handled them (the case a POST retry must never double)."""

    def __init__(self, method: str, path_suffix: str, n: int = 1) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.method, self.path_suffix, self.left = method, path_suffix, n

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if self.left > 0 and request.method == self.method and request.url.path.endswith(self.path_suffix):
            self.left -= 1
            await response.aread()
            await response.aclose()
            raise httpx.ReadError("answer lost on the way back (test)", request=request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def routes(stats: dict[str, Any], route: str) -> dict[str, int]:
    return stats["by_route_status"].get(route, {})


async def some_order_ids(sw: StarwebClient, n: int) -> list[int]:
    page = await sw.list_orders_page(1, sortBy="orderId", sortOrder="ASC")
    return [o.orderId for o in page.items[:n] if o.orderId is not None]


async def newest_order_with(sw: StarwebClient, ref: str) -> list[Order]:
    page = await sw.list_orders_page(1, sortBy="orderId", sortOrder="DESC", includeNonCompletePayments=True)
    return [o for o in page.items if o.customInfo1 == ref]


async def new_order_body(sw: StarwebClient, ref: str) -> Order:
    customer = (await sw.list_customers_page(1)).items[0]
    products = await sw.list_products_page(1, include="primaryVariant")
    sku = next(p.primaryVariant.sku for p in products.items if p.primaryVariant)
    return Order(
        customerId=customer.customerId,
        customInfo1=ref,
        onOrderStatusChangeSendEmail=False,
        items=[OrderItem(sku=sku, quantity=2)],
    )


# -- auth ---------------------------------------------------------------------------------------


async def test_token_is_fetched_once_shared_and_cached(sandbox: Sandbox) -> None:
    async with client(sandbox) as sw:
        shops = await asyncio.gather(*(sw.get_shop() for _ in range(20)))
        await sw.list_order_statuses()
    assert {s.idCode for s in shops} == {shops[0].idCode}
    assert sw.token_fetches == 1
    assert routes(sandbox.stats(), "POST /token") == {"200": 1}


async def test_short_lived_tokens_are_renewed_before_they_expire(sandbox: Sandbox) -> None:
    sandbox.faults(token_ttl_s=1.0)
    async with client(sandbox) as sw:
        await sw.get_shop()
        await asyncio.sleep(1.1)
        await sw.get_shop()
    assert sw.token_fetches == 2
    stats = sandbox.stats()
    assert routes(stats, "POST /token") == {"200": 2}
    assert routes(stats, "GET /shop") == {"200": 2}  # renewed in time: no 401


async def test_token_fetched_again_once_on_401(sandbox: Sandbox) -> None:
    """A token the server no longer accepts gets one new token, shared by all the callers that
    ran into the 401 together."""
    async with client(sandbox) as sw:
        await sw.get_shop()
        sandbox.expire_tokens()
        shops = await asyncio.gather(*(sw.get_shop() for _ in range(10)))
    stats = sandbox.stats()
    assert len(shops) == 10
    assert sw.token_fetches == 2
    assert routes(stats, "POST /token") == {"200": 2}
    assert 1 <= routes(stats, "GET /shop").get("401", 0) <= 10
    assert routes(stats, "GET /shop")["200"] == 11


async def test_bad_credentials_raise_authentication_error(sandbox: Sandbox) -> None:
    sw = StarwebClient(sandbox.api, STARWEB_CLIENT_ID, "wrong-secret", retry=FAST, rate_limit=None)
    async with sw:
        with pytest.raises(AuthenticationError) as info:
            await sw.get_shop()
    assert isinstance(info.value, StarwebError)
    assert info.value.error
    assert "wrong-secret" not in str(info.value)
    assert sw.calls["POST token"] == 1  # refused credentials are not retried


# -- paging, filters, include -------------------------------------------------------------------


async def test_iter_orders_walks_every_page(sandbox: Sandbox) -> None:
    filters = {"includeNonCompletePayments": True, "sortBy": "orderId", "sortOrder": "ASC"}
    async with client(sandbox) as sw:
        first = await sw.list_orders_page(1, **filters)
        assert first.pagination is not None and first.pagination.total_pages is not None
        before = sw.calls["GET orders"]
        ids = [o.orderId async for o in sw.iter_orders(**filters)]
        pages_fetched = sw.calls["GET orders"] - before
        complete = [o async for o in sw.iter_orders()]
        complete_total = (await sw.list_orders_page(1)).pagination.total  # type: ignore[union-attr]
    assert first.pagination.total_pages > 1 and pages_fetched == first.pagination.total_pages
    assert len(ids) == first.pagination.total == len(set(ids)) >= 300
    assert ids == sorted(ids)
    assert len(complete) == complete_total
    assert all(o.isComplete for o in complete)


async def test_order_filters_are_kept_on_every_page(sandbox: Sandbox) -> None:
    async with client(sandbox) as sw:
        statuses = await sw.list_order_statuses()
        completed = next(s for s in statuses if s.idCode == "completed")
        found = [o async for o in sw.iter_orders(statusFilter=completed.statusId)]
        total = (await sw.list_orders_page(1, statusFilter=completed.statusId)).pagination.total  # type: ignore[union-attr]
        assert found and len(found) == total
        assert {o.statusId for o in found} == {completed.statusId}
        cutoff = sorted(o.createdAt or "" for o in found)[len(found) // 2]
        later = [o async for o in sw.iter_orders(ordersCreatedAfter=cutoff)]
        assert later and all((o.createdAt or "") > cutoff for o in later)


async def test_include_returns_typed_children_with_exact_amounts(sandbox: Sandbox) -> None:
    async with client(sandbox) as sw:
        [order_id] = await some_order_ids(sw, 1)
        order = await sw.get_order(
            order_id, include=["items", "addresses", "customer", "status", "externalServices"]
        )
        bare = await sw.get_order(order_id)
        raw = await sw.request("GET", f"orders/{order_id}")
    assert order.items and all(isinstance(i.unitPrice, Decimal) for i in order.items)
    assert order.status is not None and order.status.statusId == order.statusId
    assert order.customer is not None and order.customer.customerId == order.customerId
    assert order.addresses is not None and order.addresses.customerInvoice is not None
    assert order.externalServices is not None
    assert bare.items is None and bare.status is None
    for name in ("totalAmount", "totalVat", "amountToPay", "shippingCost", "paymentFee"):
        value = getattr(order, name)
        assert isinstance(value, Decimal) and value == raw["data"][name]
        assert isinstance(raw["data"][name], Decimal | int)  # parse_float=Decimal: never a float
    net = order.totalAmount - order.totalVat  # type: ignore[operator]
    assert net == net.quantize(Decimal("0.01"))


# -- errors -------------------------------------------------------------------------------------


async def test_404_is_typed_with_starweb_error_fields(sandbox: Sandbox) -> None:
    async with client(sandbox) as sw:
        with pytest.raises(NotFoundError) as info:
            await sw.get_order(987_654_321)
        assert await sw.get_external_service(987_654_321, "nope") is None
    exc = info.value
    assert isinstance(exc, StarwebError)
    assert exc.status == 404 and exc.error and exc.error_description
    assert exc.code == exc.error
    assert sw.calls["GET orders/{id}"] == 1  # a 404 is not retried


async def test_400_is_typed(sandbox: Sandbox) -> None:
    async with client(sandbox) as sw:
        with pytest.raises(BadRequestError) as info:
            await sw.create_web_hook("bad", "no-such-event", "https://example.invalid/hook")
    assert isinstance(info.value, StarwebError)
    assert info.value.status == 400 and info.value.error


# -- rate limits --------------------------------------------------------------------------------


async def test_burst_of_2000_calls_stays_under_the_limit(sandbox: Sandbox) -> None:
    sandbox.ratelimit(limit=200, window_s=1.0, reset=True)
    async with client(sandbox, rate_limit=200, rate_window_s=1.0) as sw:
        shops = await asyncio.gather(*(sw.get_shop() for _ in range(2000)))
    stats = sandbox.stats()
    assert len(shops) == 2000
    assert stats["rate_limited"] == 0 and "429" not in stats["by_status"]
    assert routes(stats, "GET /shop") == {"200": 2000}


async def test_429_recovery_when_the_server_limit_is_lower(sandbox: Sandbox) -> None:
    sandbox.ratelimit(limit=25, window_s=1.0, reset=True)
    async with client(sandbox, limiter=SlidingWindowLimiter(1000, 1.0)) as sw:
        statuses = await sw.list_order_statuses()
        ids = [s.statusId for s in statuses if s.statusId is not None]
        got = await asyncio.gather(*(sw.get_order_status(ids[i % len(ids)]) for i in range(60)))
    stats = sandbox.stats()
    assert [g.statusId for g in got] == [ids[i % len(ids)] for i in range(60)]  # no call lost
    assert stats["rate_limited"] > 0
    assert routes(stats, "GET /order-statuses/{orderStatusId}")["200"] == 60


# -- retries ------------------------------------------------------------------------------------


async def test_gets_are_retried_on_injected_5xx(sandbox: Sandbox) -> None:
    async with client(sandbox) as sw:
        ids = await some_order_ids(sw, 30)
        sandbox.faults(error_rate=0.3, seed=7)
        orders = await asyncio.gather(*(sw.get_order(i) for i in ids))
    stats = sandbox.stats()
    assert [o.orderId for o in orders] == ids
    assert stats["faults"]["error"] > 0
    assert sum(routes(stats, "GET /orders/{orderId}").get(s, 0) for s in ("500", "502", "503")) > 0


async def test_gets_are_retried_after_hangs(sandbox: Sandbox) -> None:
    async with client(sandbox, timeout=0.5) as sw:
        ids = await some_order_ids(sw, 12)
        sandbox.faults(hang_rate=0.3, hang_s=1.0, seed=3)
        orders = await asyncio.gather(*(sw.get_order(i) for i in ids))
    assert [o.orderId for o in orders] == ids
    assert sandbox.stats()["faults"]["hang"] > 0


async def test_post_is_not_retried_blindly(sandbox: Sandbox) -> None:
    ref = f"no-retry-{uuid.uuid4().hex[:8]}"
    async with client(sandbox) as sw:
        body = await new_order_body(sw, ref)
        sandbox.faults(reset_rate=1.0, paths=[f"{STARWEB_API_PREFIX}/orders"])
        with pytest.raises(TransportError):
            await sw.create_order(body)
        assert sw.calls["POST orders"] == 1
        sandbox.faults(error_rate=1.0, paths=[f"{STARWEB_API_PREFIX}/orders"])
        with pytest.raises(ServerError):
            await sw.create_order(body)
        assert sw.calls["POST orders"] == 2
        sandbox.faults()
        assert await newest_order_with(sw, ref) == []  # the sandbox faults struck before storing


async def test_post_with_lost_answer_is_found_by_reconcile(sandbox: Sandbox) -> None:
    ref = f"reconcile-{uuid.uuid4().hex[:8]}"
    async with client(sandbox) as plain:
        body = await new_order_body(plain, ref)
    lossy = client(sandbox, transport=LoseAnswers("POST", "/orders"))
    async with lossy as sw:

        async def reconcile() -> Order | None:
            found = await newest_order_with(sw, ref)
            return found[0] if found else None

        order = await sw.create_order(body, reconcile=reconcile)
        assert [o.orderId for o in await newest_order_with(sw, ref)] == [order.orderId]
    assert sw.calls["POST orders"] == 1
    assert routes(sandbox.stats(), "POST /orders") == {"201": 1}


async def test_add_external_service_exactly_once_under_faults(sandbox: Sandbox) -> None:
    async with client(sandbox) as sw:
        first, second = await some_order_ids(sw, 2)
        name = f"visma-{uuid.uuid4().hex[:6]}"
        sandbox.faults(error_rate=0.3, reset_rate=0.2, seed=11, paths=["external-services"])
        svc = await sw.add_external_service(first, name, "INV-1001")
        sandbox.faults()
        assert svc.serviceName == name and svc.externalIdValue == "INV-1001"
        again = await sw.add_external_service(first, name, "INV-1001")  # an earlier run: fine
        assert again.externalIdValue == "INV-1001"
        with pytest.raises(StarwebConflictError):
            await sw.add_external_service(first, name, "INV-9999")
        listed = [s for s in await sw.list_external_services(first) if s.serviceName == name]
        assert [s.externalIdValue for s in listed] == ["INV-1001"]
    assert sandbox.stats()["faults"]["error"] + sandbox.stats()["faults"]["reset"] > 0

    sandbox.reset()
    async with client(sandbox, transport=LoseAnswers("POST", "/external-services")) as sw:
        svc = await sw.add_external_service(second, name, "INV-1002")
        order = await sw.get_order(second, include="externalServices")
    assert svc.externalIdValue == "INV-1002" and order.external_id(name) == "INV-1002"
    assert sw.calls["POST orders/{id}/external-services"] == 1
    assert routes(sandbox.stats(), "POST /orders/{orderId}/external-services") == {"201": 1}


# -- the rest of the surface --------------------------------------------------------------------


async def test_order_status_write_back_is_idempotent(sandbox: Sandbox) -> None:
    async with client(sandbox) as sw:
        [order_id] = await some_order_ids(sw, 1)
        statuses = {s.idCode: s for s in await sw.list_order_statuses()}
        tracking = await sw.list_shipping_tracking_types()
        picking = statuses["picking"].statusId
        kwargs = {
            "statusId": picking,
            "onOrderStatusChangeSendEmail": False,
            "onOrderStatusChangeProcessPayment": False,
            "shippingTrackingNo": "00370712345678901234",
            "shippingTrackerType": tracking[0].type,
        }
        sandbox.faults(error_rate=0.5, seed=5, paths=[f"/orders/{order_id}"])
        updated = await sw.update_order(order_id, **kwargs)
        sandbox.faults()
        assert updated.statusId == picking
        assert (await sw.get_order(order_id)).shippingTrackingNo == "00370712345678901234"


async def test_reference_lists(sandbox: Sandbox) -> None:
    async with client(sandbox) as sw:
        shop = await sw.get_shop()
        pricelists = await sw.list_pricelists()
        locations = await sw.list_stock_locations()
        vat = await sw.list_vat_rates()
        stock_statuses = await sw.list_stock_statuses()
        payment = await sw.list_payment_methods()
        shipping = await sw.list_shipping_methods()
        currencies = await sw.list_currencies()
        statuses = [s async for s in sw.iter_order_statuses()]
    assert shop.baseCurrency == "SEK"
    assert {p.currencyCode for p in pricelists} >= {"SEK", "EUR"}
    assert len(locations) >= 2 and all(loc.stockLocationId for loc in locations)
    assert {v.countryCode for v in vat} >= {"SE"} and all(isinstance(v.defaultVatRate, Decimal) for v in vat)
    assert stock_statuses and payment and shipping
    assert {c.code for c in currencies} >= {"SEK", "EUR", "NOK"}
    assert {s.idCode for s in statuses} >= {"created", "picking", "completed", "canceled"}


async def test_products_variants_prices_and_stock(sandbox: Sandbox) -> None:
    async with client(sandbox) as sw:
        multi = None
        async for product in sw.iter_products(
            include=["primaryVariant", "primaryVariant.prices", "languages"]
        ):
            if product.hasSeveralVariants:
                multi = product
                break
        assert multi is not None and multi.productId is not None and multi.name()
        variants = await sw.list_variants(multi.productId, include="prices")
        assert len(variants) > 1 and all(v.variantId for v in variants)
        variant = variants[-1]
        assert variant.sku and variant.variantId is not None and variant.prices
        found = await sw.find_product_by_sku(variant.sku)
        assert found is not None and found.productId == multi.productId
        pricelist = variant.prices[0].pricelistId
        price = await sw.set_variant_price(
            multi.productId,
            variant.variantId,
            pricelist,
            priceExVat=Decimal("123.45"),
            specialPriceExVat=Decimal("99.90"),
        )
        assert (price.priceExVat, price.specialPriceExVat) == (Decimal("123.45"), Decimal("99.90"))
        price = await sw.set_variant_price(
            multi.productId, variant.variantId, pricelist, priceExVat=Decimal("123.45")
        )
        assert price.specialPriceExVat is None
        assert (
            await sw.get_variant_price(multi.productId, variant.variantId, pricelist)
        ).priceExVat == Decimal("123.45")
        location = (await sw.list_stock_locations())[-1].stockLocationId
        assert location is not None
        stock = await sw.set_variant_stock(multi.productId, variant.variantId, location, 17)
        assert stock.stockQuantity == 17
        stocks = {
            s.stockLocationId: s for s in await sw.list_variant_stocks(multi.productId, variant.variantId)
        }
        assert stocks[location].stockQuantity == 17


async def test_create_product_and_variant_with_reconcile(sandbox: Sandbox) -> None:
    sku = f"T-{uuid.uuid4().hex[:8]}"
    async with client(sandbox) as sw:
        pricelist = next(p for p in await sw.list_pricelists() if p.isMaster)
        body = Product(
            visibility="visible",
            defaultVatRate=Decimal("25"),  # a string on the wire; the model knows
            languages=[ProductLanguage(langCode="sv", name="Testprodukt")],
            variants=[
                Variant(
                    sku=sku,
                    stockQuantity=3,
                    prices=[VariantPrice(pricelistId=pricelist.pricelistId, priceExVat=Decimal("79.20"))],
                )
            ],
        )
    async with client(sandbox, transport=LoseAnswers("POST", "/products")) as sw:
        product = await sw.create_product(body)  # answer lost, found again by SKU
        assert product.productId is not None and product.defaultVatRate == Decimal("25")
        assert sw.calls["POST products"] == 1
        page = await sw.list_products_page(1, filterSku=sku)
        assert [p.productId for p in page.items] == [product.productId]
        variant = await sw.create_variant(product.productId, Variant(sku=f"{sku}-B", stockQuantity=1))
        assert variant.variantId is not None
        updated = await sw.update_variant(product.productId, variant.variantId, {"ean": "7350000000001"})
        assert updated.ean == "7350000000001"
        changed = await sw.update_product(product.productId, {"visibility": "hidden"})
        assert changed.visibility == "hidden"


async def test_customers(sandbox: Sandbox) -> None:
    email = f"kund-{uuid.uuid4().hex[:8]}@example.se"
    async with client(sandbox) as sw:
        everyone = [c async for c in sw.iter_customers(includeWithoutAccount=True)]
        assert len(everyone) >= 50 and len({c.customerId for c in everyone}) == len(everyone)
    async with client(sandbox, transport=LoseAnswers("POST", "/customers")) as sw:
        created = await sw.create_customer(
            {
                "type": "company",
                "email": email,
                "vatNo": "SE556677889901",
                "addresses": {"invoice": {"companyName": "Testbolaget AB", "city": "Göteborg"}},
            }
        )
        assert created.customerId is not None and created.email == email
        assert sw.calls["POST customers"] == 1
        got = await sw.get_customer(created.customerId, include="addresses")
        assert got.addresses is not None and got.addresses.invoice is not None
        assert got.addresses.invoice.city == "Göteborg"
        updated = await sw.update_customer(created.customerId, {"customInfo1": "vip"})
        assert updated.customInfo1 == "vip"
        recent = [c.customerId async for c in sw.iter_customers(updatedSince=got.createdAt)]
        assert created.customerId in recent


async def test_web_hooks(sandbox: Sandbox) -> None:
    url = f"http://127.0.0.1:9/hooks/{uuid.uuid4().hex}"
    async with client(sandbox, transport=LoseAnswers("POST", "/web-hooks")) as sw:
        statuses = {s.idCode: s.statusId for s in await sw.list_order_statuses()}
        hook = await sw.create_web_hook(
            "shopbridge", "order-status-changed", url, statusId=statuses["completed"]
        )
        assert hook.webHookId is not None and hook.url == url
        assert [h.webHookId for h in await sw.list_web_hooks() if h.url == url] == [hook.webHookId]
        await sw.delete_web_hook(hook.webHookId)
        await sw.delete_web_hook(hook.webHookId)  # already gone: fine
        with pytest.raises(NotFoundError):
            await sw.delete_web_hook(hook.webHookId, missing_ok=False)
        assert all(h.url != url for h in await sw.list_web_hooks())
