"""`StarwebClient`: the Starweb Shop API v2 over the shared request loop (`shopbridge.http`).

One client talks to one shop (`https://{shopId}.starwebserver.se/api/v2`, or any base URL such as
the sandbox's). It fetches a client-credentials token from `POST /token`, keeps it until shortly
before `expires_in`, and fetches a new one once when a call gets a 401 (one fetch at a time; callers
waiting meanwhile share its result). Calls wait for a per-shop `SlidingWindowLimiter` (Starweb does
not document its limit: 300 per 60 s by default, configurable), honour 429 + `Retry-After`, and are
retried with exponential backoff and jitter on timeouts, connection errors and 5xx *when that is
safe*. JSON is decoded with `parse_float=Decimal`, so amounts arrive exactly; Decimals in request
bodies are written digit for digit as JSON numbers.

Retrying writes: how a caller decides
-------------------------------------
A failure is *ambiguous* when the request may have reached Starweb: a timeout, a reset connection
or a 5xx. Repeating an ambiguous call is only safe when doing it twice has the same effect as once.

* GET, PUT and DELETE are idempotent and are retried (`set_variant_stock`, `set_variant_price`,
  `delete_web_hook`, ...).
* A PATCH that sets absolute values is idempotent too; the client says so with `idempotent=True`
  (`update_order`, `update_customer`, `update_product`, `update_variant`). Never mark a relative
  change ("add 1") idempotent.
* A POST creates something and is *never* repeated blindly. Either it comes with a `reconcile`
  callback, which after an ambiguous failure looks on Starweb for the effect of the lost call (the
  created object); found -> that is the result, not found -> the call provably did not happen and is
  sent again. Or, without one, the ambiguous error is raised and the caller decides (usually: record
  the intent, reconcile later, never just call again).
  Built-in reconciles: `add_external_service` (GET the service name on the order; an existing entry
  with the same value is success), `create_product` (by the first variant's SKU, `filterSku`),
  `create_variant` (by SKU), `create_customer` (by email among recently created customers),
  `create_web_hook` (by event, URL and status). `create_order` has no natural key: pass your own
  `reconcile=` (for example search `filterQuery` for a reference you put in `customInfo1`).
* A 429 and a refused connection are always repeated: the server did not process the call.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from shopbridge.http import (
    ApiClient,
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PageNumberPaginator,
    RetryPolicy,
    SlidingWindowLimiter,
    error_class_for_status,
    paginate,
    parse_retry_after,
    shared_limiter,
)
from shopbridge.starweb.errors import STARWEB_ERRORS, StarwebConflictError, StarwebError
from shopbridge.starweb.schemas import (
    Currency,
    Customer,
    Order,
    OrderAddresses,
    OrderExternalService,
    OrderItem,
    OrderStatus,
    Pagination,
    PaymentMethod,
    Pricelist,
    Product,
    ShippingMethod,
    ShippingTrackingType,
    Shop,
    StarwebModel,
    StockLocation,
    StockStatus,
    Token,
    Variant,
    VariantPrice,
    VariantStock,
    VatRate,
    WebHook,
    _unwrap_data,
)

M = TypeVar("M", bound=StarwebModel)
Reconcile = Callable[[], Awaitable[Any]]
Include = str | Iterable[str] | None
Body = StarwebModel | Mapping[str, Any]

STARWEB_URL = "https://{shop_id}.starwebserver.se/api/v2"
PAGINATOR = PageNumberPaginator(
    page_param="page", items_path=("data",), total_pages_path=("meta", "pagination", "total_pages")
)

# The token a call was sent with, so a 401 re-fetches only when nobody has done so meanwhile.
_sent_token: ContextVar[str | None] = ContextVar("starweb_sent_token", default=None)


@dataclass
class Page(Generic[M]):
    """One page of a paged list: its items and Starweb's `meta.pagination`."""

    items: list[M]
    pagination: Pagination | None


class StarwebClient(ApiClient):
    """Async client for one Starweb shop. Use as `async with StarwebClient(...) as sw:`."""

    service = "starweb"

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        rate_limit: int | None = 300,
        rate_window_s: float = 60.0,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: SlidingWindowLimiter | None = None,
        token_skew_s: float = 60.0,
    ) -> None:
        """`rate_limit` calls per `rate_window_s` seconds for this shop (None: no client-side limit).

        Clients of the same shop in one process share one limiter unless `limiter` is given.
        """
        url = httpx.URL(base_url)
        self.shop_key = f"{url.host}:{url.port or ''}{url.path.rstrip('/')}"
        if limiter is None and rate_limit:
            limiter = shared_limiter(f"starweb:{self.shop_key}", rate_limit, rate_window_s)
        super().__init__(base_url, timeout=timeout, retry=retry, limiter=limiter, transport=transport)
        self._client_id = client_id
        self._client_secret = client_secret
        self._token_skew_s = token_skew_s
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._token_lock = asyncio.Lock()
        self.token_fetches = 0  # how many tokens this client has fetched

    @classmethod
    def for_shop(cls, shop_id: str, client_id: str, client_secret: str, **kw: Any) -> StarwebClient:
        """A client for `https://{shop_id}.starwebserver.se/api/v2`."""
        return cls(STARWEB_URL.format(shop_id=shop_id), client_id, client_secret, **kw)

    def __repr__(self) -> str:
        return f"StarwebClient({self.base_url!r})"

    async def __aenter__(self) -> StarwebClient:
        return self

    # -- ApiClient hooks --------------------------------------------------------------------------
    async def auth_headers(self) -> dict[str, str]:
        token = await self._current_token()
        _sent_token.set(token)
        return {"Authorization": f"Bearer {token}"}

    async def on_unauthorized(self) -> bool:
        used = _sent_token.get()
        async with self._token_lock:
            if self._token is None or self._token == used:
                self._token = None
                await self._fetch_token()
        return True

    def limit_key(self, method: str, path: str) -> str:
        # /token has a bucket of its own: a renewal must not queue behind the calls waiting for it.
        return f"{self.shop_key} token" if path == "token" else self.shop_key

    def decode(self, response: httpx.Response) -> Any:
        """JSON with every non-integer number as an exact `Decimal`."""
        if not response.content:
            return None
        try:
            return json.loads(response.content, parse_float=Decimal)
        except ValueError:
            return {"raw": response.text[:2000]}

    def encode(self, payload: Any) -> bytes | None:
        """JSON with Decimals written exactly as they are."""
        return dumps_exact(_jsonable(payload)).encode("utf-8")

    def error_from_response(self, response: httpx.Response, method: str, path: str) -> ApiError:
        body = self.decode(response)
        status = response.status_code
        category = error_class_for_status(status)
        if path == "token" and status in (400, 401):
            category = AuthenticationError  # /token answers bad credentials with 400
        cls = STARWEB_ERRORS.get(category, STARWEB_ERRORS[ApiError])
        err = body.get("error") if isinstance(body, dict) else None
        desc = body.get("error_description") if isinstance(body, dict) else None
        return cls(
            str(desc or err or f"HTTP {status}"),
            service=self.service,
            status=status,
            code=err,
            request_id=response.headers.get("X-Request-Id"),
            body=body,
            method=method,
            path=path,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    # -- token ------------------------------------------------------------------------------------
    async def _current_token(self) -> str:
        if self._token is not None and time.monotonic() < self._token_expires_at:
            return self._token
        async with self._token_lock:
            if self._token is None or time.monotonic() >= self._token_expires_at:
                await self._fetch_token()
            assert self._token is not None
            return self._token

    async def _fetch_token(self) -> None:
        """POST /token (form-encoded client credentials); call with `_token_lock` held."""
        body = await self.request(
            "POST",
            "token",
            data={
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            },
            auth=False,
            idempotent=True,  # a second token does no harm
        )
        token = Token.model_validate(body)
        lifetime = float(token.expires_in or 3600)
        lifetime -= min(self._token_skew_s, lifetime * 0.1)
        self._token = token.access_token
        self._token_expires_at = time.monotonic() + lifetime
        self.token_fetches += 1

    def forget_token(self) -> None:
        """Drop the cached token (the next call fetches a new one)."""
        self._token = None
        self._token_expires_at = 0.0

    # -- small helpers ----------------------------------------------------------------------------
    async def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return await self.request("GET", path, params=_query(params or {}))

    async def _item(self, model: type[M], path: str, params: Mapping[str, Any] | None = None) -> M:
        return model.model_validate(_unwrap_data(await self._get(path, params)))

    async def _list(self, model: type[M], path: str, params: Mapping[str, Any] | None = None) -> list[M]:
        data = _unwrap_data(await self._get(path, params))
        return [model.model_validate(x) for x in data or []]

    async def _page(self, model: type[M], path: str, params: Mapping[str, Any]) -> Page[M]:
        body = await self._get(path, params)
        meta = body.get("meta", {}) if isinstance(body, dict) else {}
        pagination = meta.get("pagination") if isinstance(meta, dict) else None
        return Page(
            items=[model.model_validate(x) for x in PAGINATOR.items(body)],
            pagination=Pagination.model_validate(pagination) if pagination else None,
        )

    async def _iter(self, model: type[M], path: str, params: Mapping[str, Any]) -> AsyncIterator[M]:
        async def fetch(p: dict[str, Any]) -> Any:
            return await self.request("GET", path, params=p)

        async for body in paginate(fetch, PAGINATOR, _query(params)):
            for raw in PAGINATOR.items(body):
                yield model.model_validate(raw)

    async def _write(
        self,
        model: type[M],
        method: str,
        path: str,
        body: Any,
        *,
        idempotent: bool | None = None,
        reconcile: Reconcile | None = None,
    ) -> M:
        result = await self.request(
            method, path, json=_jsonable(body), idempotent=idempotent, reconcile=reconcile
        )
        return _as(model, result)

    # -- shop -------------------------------------------------------------------------------------
    async def get_shop(self) -> Shop:
        """GET /shop."""
        return await self._item(Shop, "shop")

    # -- orders -----------------------------------------------------------------------------------
    async def list_orders_page(
        self, page: int = 1, *, include: Include = None, **filters: Any
    ) -> Page[Order]:
        """One page of GET /orders. Filters as in the spec: `ordersCreatedAfter`, `ordersCreatedBefore`,
        `statusFilter`, `includeNonCompletePayments`, `filterQuery`, `filterPaymentMethodId`,
        `filterShippingMethodId`, `sortBy`, `sortOrder` (datetimes are sent as ISO-8601)."""
        return await self._page(Order, "orders", {**filters, "include": _include(include), "page": page})

    def iter_orders(self, *, include: Include = None, **filters: Any) -> AsyncIterator[Order]:
        """Every order matching `filters` (see `list_orders_page`), page after page.

        Only orders with a completed payment unless `includeNonCompletePayments=True`. For a stable
        walk while orders are being created, sort ascending (`sortBy="orderId", sortOrder="ASC"`).
        """
        return self._iter(Order, "orders", {**filters, "include": _include(include)})

    async def get_order(self, order_id: int, *, include: Include = None) -> Order:
        """GET /orders/{id}; `include` any of items, addresses, customer, status, externalServices."""
        return await self._item(Order, f"orders/{order_id}", {"include": _include(include)})

    async def create_order(self, order: Body, *, reconcile: Reconcile | None = None) -> Order:
        """POST /orders (`OrderUpdateModel`); Starweb computes the totals.

        Not repeated after an ambiguous failure unless `reconcile` finds the order (see module doc).
        """
        return await self._write(Order, "POST", "orders", order, reconcile=reconcile)

    async def update_order(
        self,
        order_id: int,
        *,
        statusId: int | None = None,
        onOrderStatusChangeSendEmail: bool | None = None,
        onOrderStatusChangeProcessPayment: bool | None = None,
        shippingTrackingNo: str | None = None,
        shippingTrackerType: int | None = None,
        **fields: Any,
    ) -> Order:
        """PATCH /orders/{id} with absolute values (so it is safe to repeat). None = leave as is.

        `onOrderStatusChangeSendEmail` mails the customer, `onOrderStatusChangeProcessPayment` lets
        the payment method capture or cancel (Klarna, Svea, ...) for this call only.
        """
        body = {
            "statusId": statusId,
            "onOrderStatusChangeSendEmail": onOrderStatusChangeSendEmail,
            "onOrderStatusChangeProcessPayment": onOrderStatusChangeProcessPayment,
            "shippingTrackingNo": shippingTrackingNo,
            "shippingTrackerType": shippingTrackerType,
            **fields,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return await self._write(Order, "PATCH", f"orders/{order_id}", body, idempotent=True)

    async def list_order_items(self, order_id: int) -> list[OrderItem]:
        """GET /orders/{id}/items."""
        return await self._list(OrderItem, f"orders/{order_id}/items")

    async def get_order_item(self, order_id: int, item_id: int) -> OrderItem:
        """GET /orders/{id}/items/{itemId}."""
        return await self._item(OrderItem, f"orders/{order_id}/items/{item_id}")

    async def get_order_addresses(self, order_id: int) -> OrderAddresses:
        """GET /orders/{id}/addresses (all six address types)."""
        return await self._item(OrderAddresses, f"orders/{order_id}/addresses")

    async def list_external_services(self, order_id: int) -> list[OrderExternalService]:
        """GET /orders/{id}/external-services."""
        return await self._list(OrderExternalService, f"orders/{order_id}/external-services")

    async def get_external_service(self, order_id: int, service_name: str) -> OrderExternalService | None:
        """GET /orders/{id}/external-services/{serviceName}; None when the order has none by that name."""
        try:
            return await self._item(OrderExternalService, _ext_path(order_id, service_name))
        except NotFoundError:
            return None

    async def add_external_service(
        self, order_id: int, service_name: str, external_id: str
    ) -> OrderExternalService:
        """Record `external_id` under `service_name` on an order, exactly once.

        POST /orders/{id}/external-services is not idempotent; after an ambiguous failure the client
        looks the service name up on the order instead of posting again. An entry that already holds
        the same value counts as success; one with another value raises `StarwebConflictError`.
        """
        external_id = str(external_id)

        async def reconcile() -> Any:
            found = await self.get_external_service(order_id, service_name)
            if found is None:
                return None
            if found.externalIdValue != external_id:
                raise _conflict(order_id, service_name, found.externalIdValue, external_id)
            return found

        body = {"serviceName": service_name, "externalIdValue": external_id}
        path = f"orders/{order_id}/external-services"
        try:
            return await self._write(OrderExternalService, "POST", path, body, reconcile=reconcile)
        except (BadRequestError, ConflictError) as exc:
            # Most likely "already exists" (an earlier run, or a lost answer before this call).
            found = await self.get_external_service(order_id, service_name)
            if found is None:
                raise
            if found.externalIdValue != external_id:
                raise _conflict(order_id, service_name, found.externalIdValue, external_id) from exc
            return found

    # -- order statuses ---------------------------------------------------------------------------
    async def list_order_statuses(self) -> list[OrderStatus]:
        """GET /order-statuses (standard ones carry idCode created, picking, completed, canceled)."""
        return await self._list(OrderStatus, "order-statuses")

    async def iter_order_statuses(self) -> AsyncIterator[OrderStatus]:
        """The order statuses one by one (the list is not paged)."""
        for status in await self.list_order_statuses():
            yield status

    async def get_order_status(self, status_id: int) -> OrderStatus:
        """GET /order-statuses/{id}."""
        return await self._item(OrderStatus, f"order-statuses/{status_id}")

    # -- customers --------------------------------------------------------------------------------
    async def list_customers_page(
        self, page: int = 1, *, include: Include = None, **filters: Any
    ) -> Page[Customer]:
        """One page of GET /customers. Filters: `updatedSince`, `createdSince`,
        `includeWithoutAccount`, `sortBy`, `sortOrder`; `include` tags, externalServices, addresses."""
        return await self._page(
            Customer, "customers", {**filters, "include": _include(include), "page": page}
        )

    def iter_customers(
        self,
        *,
        include: Include = None,
        updatedSince: datetime | str | None = None,
        createdSince: datetime | str | None = None,
        **filters: Any,
    ) -> AsyncIterator[Customer]:
        """Every customer matching the filters, page after page."""
        params = {**filters, "updatedSince": updatedSince, "createdSince": createdSince}
        return self._iter(Customer, "customers", {**params, "include": _include(include)})

    async def get_customer(self, customer_id: int, *, include: Include = None) -> Customer:
        """GET /customers/{id}."""
        return await self._item(Customer, f"customers/{customer_id}", {"include": _include(include)})

    async def create_customer(self, customer: Body, *, reconcile: Reconcile | None = None) -> Customer:
        """POST /customers (`CustomerUpdateModel`). With an email and no `reconcile` of your own, a lost
        answer is reconciled by looking for that email among customers created in the last hour."""
        body = _jsonable(customer)
        email = body.get("email") if isinstance(body, dict) else None
        if reconcile is None and email:
            since = datetime.now(UTC) - timedelta(hours=1)

            async def reconcile() -> Any:
                async for found in self.iter_customers(createdSince=since, includeWithoutAccount=True):
                    if (found.email or "").lower() == email.lower():
                        return found
                return None

        return await self._write(Customer, "POST", "customers", body, reconcile=reconcile)

    async def update_customer(self, customer_id: int, changes: Body) -> Customer:
        """PATCH /customers/{id} with absolute values (safe to repeat)."""
        return await self._write(Customer, "PATCH", f"customers/{customer_id}", changes, idempotent=True)

    # -- products ---------------------------------------------------------------------------------
    async def list_products_page(
        self, page: int = 1, *, include: Include = None, **filters: Any
    ) -> Page[Product]:
        """One page of GET /products. Filters: `updatedSince`, `createdSince`, `filterSku`,
        `filterVisible`, `sortBy`, `sortOrder`."""
        return await self._page(Product, "products", {**filters, "include": _include(include), "page": page})

    def iter_products(
        self,
        *,
        include: Include = None,
        updatedSince: datetime | str | None = None,
        createdSince: datetime | str | None = None,
        filterSku: str | None = None,
        **filters: Any,
    ) -> AsyncIterator[Product]:
        """Every product matching the filters, page after page. Lists carry only the primary
        variant (`include="primaryVariant,primaryVariant.prices"`); use `list_variants` for the rest."""
        params = {
            **filters,
            "updatedSince": updatedSince,
            "createdSince": createdSince,
            "filterSku": filterSku,
        }
        return self._iter(Product, "products", {**params, "include": _include(include)})

    async def get_product(self, product_id: int, *, include: Include = None) -> Product:
        """GET /products/{id}."""
        return await self._item(Product, f"products/{product_id}", {"include": _include(include)})

    async def find_product_by_sku(self, sku: str, *, include: Include = None) -> Product | None:
        """The product that has a variant with this SKU (`filterSku`), or None."""
        page = await self.list_products_page(1, include=include, filterSku=sku)
        return page.items[0] if page.items else None

    async def create_product(self, product: Body, *, reconcile: Reconcile | None = None) -> Product:
        """POST /products (`ProductModelUpdatable`, variants inline). A lost answer is reconciled by
        the first variant's SKU unless you pass your own `reconcile`."""
        body = _jsonable(product)
        variants = body.get("variants") if isinstance(body, dict) else None
        sku = variants[0].get("sku") if variants and isinstance(variants[0], dict) else None
        if reconcile is None and sku:

            async def reconcile() -> Any:
                return await self.find_product_by_sku(sku)

        return await self._write(Product, "POST", "products", body, reconcile=reconcile)

    async def update_product(self, product_id: int, changes: Body) -> Product:
        """PATCH /products/{id} (`ProductModelPatchable`) with absolute values (safe to repeat).

        `variants` and `bundledProducts` cannot be patched here and are left out: use `update_variant`.
        """
        body = _jsonable(changes)
        for key in ("variants", "bundledProducts"):
            body.pop(key, None)
        return await self._write(Product, "PATCH", f"products/{product_id}", body, idempotent=True)

    # -- variants and prices ----------------------------------------------------------------------
    async def list_variants(self, product_id: int, *, include: Include = None) -> list[Variant]:
        """Every variant of a product (GET /products/{id}/variants, all pages); `include` prices,
        attributeValues."""
        path = f"products/{product_id}/variants"
        return [v async for v in self._iter(Variant, path, {"include": _include(include)})]

    async def get_variant(self, product_id: int, variant_id: int, *, include: Include = None) -> Variant:
        """GET /products/{id}/variants/{variantId}."""
        path = f"products/{product_id}/variants/{variant_id}"
        return await self._item(Variant, path, {"include": _include(include)})

    async def create_variant(
        self, product_id: int, variant: Body, *, reconcile: Reconcile | None = None
    ) -> Variant:
        """POST /products/{id}/variants; a lost answer is reconciled by SKU."""
        body = _jsonable(variant)
        sku = body.get("sku") if isinstance(body, dict) else None
        if reconcile is None and sku:

            async def reconcile() -> Any:
                for found in await self.list_variants(product_id):
                    if found.sku == sku:
                        return found
                return None

        path = f"products/{product_id}/variants"
        return await self._write(Variant, "POST", path, body, reconcile=reconcile)

    async def update_variant(self, product_id: int, variant_id: int, changes: Body) -> Variant:
        """PATCH /products/{id}/variants/{variantId} with absolute values (safe to repeat)."""
        path = f"products/{product_id}/variants/{variant_id}"
        return await self._write(Variant, "PATCH", path, changes, idempotent=True)

    async def list_variant_prices(self, product_id: int, variant_id: int) -> list[VariantPrice]:
        """GET /products/{id}/variants/{variantId}/prices (one per pricelist)."""
        return await self._list(VariantPrice, f"products/{product_id}/variants/{variant_id}/prices")

    async def get_variant_price(self, product_id: int, variant_id: int, pricelist_id: int) -> VariantPrice:
        """GET /products/{id}/variants/{variantId}/prices/{pricelistId}."""
        path = f"products/{product_id}/variants/{variant_id}/prices/{pricelist_id}"
        return await self._item(VariantPrice, path)

    async def set_variant_price(
        self,
        product_id: int,
        variant_id: int,
        pricelist_id: int,
        *,
        priceExVat: Decimal,
        specialPriceExVat: Decimal | None = None,
    ) -> VariantPrice:
        """PUT a variant's price in one pricelist (ex VAT). `specialPriceExVat=None` removes a
        campaign price."""
        path = f"products/{product_id}/variants/{variant_id}/prices/{pricelist_id}"
        body = {"pricelistId": pricelist_id, "priceExVat": priceExVat, "specialPriceExVat": specialPriceExVat}
        return await self._write(VariantPrice, "PUT", path, body)

    async def list_pricelists(self) -> list[Pricelist]:
        """GET /pricelists."""
        return await self._list(Pricelist, "pricelists")

    async def get_pricelist(self, pricelist_id: int) -> Pricelist:
        """GET /pricelists/{id}."""
        return await self._item(Pricelist, f"pricelists/{pricelist_id}")

    # -- stock ------------------------------------------------------------------------------------
    async def list_stock_locations(self) -> list[StockLocation]:
        """GET /stock-locations."""
        return await self._list(StockLocation, "stock-locations")

    async def list_variant_stocks(self, product_id: int, variant_id: int) -> list[VariantStock]:
        """GET /products/{id}/variants/{variantId}/stocks (one per stock location)."""
        return await self._list(VariantStock, f"products/{product_id}/variants/{variant_id}/stocks")

    async def get_variant_stock(
        self, product_id: int, variant_id: int, stock_location_id: int
    ) -> VariantStock:
        """GET /products/{id}/variants/{variantId}/stocks/{stockLocationId}."""
        path = f"products/{product_id}/variants/{variant_id}/stocks/{stock_location_id}"
        return await self._item(VariantStock, path)

    async def set_variant_stock(
        self,
        product_id: int,
        variant_id: int,
        stock_location_id: int,
        quantity: int | Decimal,
        *,
        stock_status_id: int | None = None,
    ) -> VariantStock:
        """PUT a variant's stock quantity in one location (absolute, safe to repeat).

        The API requires a `stockStatusId`; without `stock_status_id` the one the location (or else
        the variant) has now is kept.
        """
        path = f"products/{product_id}/variants/{variant_id}/stocks/{stock_location_id}"
        if stock_status_id is None:
            stock_status_id = await self._current_stock_status(product_id, variant_id, stock_location_id)
        body = {"stockStatusId": stock_status_id, "stockQuantity": quantity}
        return await self._write(VariantStock, "PUT", path, body)

    async def _current_stock_status(self, product_id: int, variant_id: int, stock_location_id: int) -> int:
        try:
            current = await self.get_variant_stock(product_id, variant_id, stock_location_id)
            if current.stockStatusId is not None:
                return current.stockStatusId
        except NotFoundError:
            pass
        variant = await self.get_variant(product_id, variant_id)
        if variant.stockStatusId is None:
            raise ValueError("no stock status known for this variant: pass stock_status_id")
        return variant.stockStatusId

    async def list_stock_statuses(self) -> list[StockStatus]:
        """GET /product-stock-statuses."""
        return await self._list(StockStatus, "product-stock-statuses")

    # -- settings-like lists ----------------------------------------------------------------------
    async def list_vat_rates(self) -> list[VatRate]:
        """GET /vat-rates (per country)."""
        return await self._list(VatRate, "vat-rates")

    async def list_shipping_tracking_types(self) -> list[ShippingTrackingType]:
        """GET /shipping-tracking-types (`type` is what `update_order(shippingTrackerType=)` takes)."""
        return await self._list(ShippingTrackingType, "shipping-tracking-types")

    async def list_payment_methods(self) -> list[PaymentMethod]:
        """GET /payment-methods."""
        return await self._list(PaymentMethod, "payment-methods")

    async def list_shipping_methods(self) -> list[ShippingMethod]:
        """GET /shipping-methods."""
        return await self._list(ShippingMethod, "shipping-methods")

    async def list_currencies(self) -> list[Currency]:
        """GET /currencies."""
        return await self._list(Currency, "currencies")

    # -- web hooks --------------------------------------------------------------------------------
    async def list_web_hooks(self) -> list[WebHook]:
        """GET /web-hooks."""
        return await self._list(WebHook, "web-hooks")

    async def create_web_hook(
        self, name: str, event: str, url: str, *, statusId: int | None = None
    ) -> WebHook:
        """POST /web-hooks. `statusId` only with `order-status-changed`. Put an unguessable secret
        in `url`: Starweb does not sign its calls. A lost answer is reconciled by event, URL and status."""
        body: dict[str, Any] = {"name": name, "event": event, "url": url}
        if statusId is not None:
            body["statusId"] = statusId

        async def reconcile() -> Any:
            for hook in await self.list_web_hooks():
                if hook.event == event and hook.url == url and hook.statusId == statusId:
                    return hook
            return None

        return await self._write(WebHook, "POST", "web-hooks", body, reconcile=reconcile)

    async def delete_web_hook(self, web_hook_id: int, *, missing_ok: bool = True) -> None:
        """DELETE /web-hooks/{id}. A hook already gone is fine unless `missing_ok=False` (a repeated
        DELETE whose first answer was lost gets a 404)."""
        try:
            await self.request("DELETE", f"web-hooks/{web_hook_id}")
        except NotFoundError:
            if not missing_ok:
                raise


# -- module helpers ------------------------------------------------------------------------------


def _ext_path(order_id: int, service_name: str) -> str:
    return f"orders/{order_id}/external-services/{quote(service_name, safe='')}"


def _conflict(order_id: int, service_name: str, have: str | None, want: str) -> StarwebError:
    return StarwebConflictError(
        f"order {order_id} already has {service_name}={have!r}, not {want!r}",
        service="starweb",
        status=409,
        code="conflict",
        body={"error": "conflict", "error_description": f"{service_name} already set to another value"},
        method="POST",
        path=f"orders/{order_id}/external-services",
    )


def _as(model: type[M], result: Any) -> M:
    """A write's result as `model`: a reconcile may already have returned one."""
    if isinstance(result, model):
        return result
    return model.model_validate(_unwrap_data(result))


def _include(include: Include) -> str | None:
    if include is None or isinstance(include, str):
        return include or None
    return ",".join(include) or None


def _query(params: Mapping[str, Any]) -> dict[str, Any]:
    """Query parameters as Starweb reads them: no None values, ISO-8601 times, lowercase booleans."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, datetime | date):
            out[key] = value.isoformat()
        elif isinstance(value, list | tuple | set | frozenset):
            out[key] = ",".join(str(v) for v in value)
        else:
            out[key] = str(value) if isinstance(value, Decimal) else value
    return out


def _jsonable(value: Any) -> Any:
    """A request body as plain data: models via `to_wire()`, datetimes as ISO-8601, Decimals kept."""
    if isinstance(value, StarwebModel):
        value = value.to_wire()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def dumps_exact(value: Any) -> str:
    """JSON text in which every Decimal is written digit for digit (no float on the way)."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send {value} as a JSON number")
        return format(value, "f")
    if isinstance(value, Mapping):
        members = (f"{json.dumps(str(k), ensure_ascii=False)}:{dumps_exact(v)}" for k, v in value.items())
        return "{" + ",".join(members) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps_exact(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)
