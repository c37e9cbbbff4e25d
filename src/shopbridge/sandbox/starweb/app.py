"""The Starweb Shop API v2 sandbox app: `create_app(settings) -> FastAPI`.

Shop 1 is served under `/api/v2` (the real base is `https://{shopId}.starwebserver.se/api/v2`); with
`settings.shops = N` every shop k = 1..N is also served under `/shops/{k}/api/v2`, each with its own
state and tokens.  Sandbox-only admin routes (not part of Starweb) live under `/_sandbox/starweb/`:

* ``GET /_sandbox/starweb/orders/{orderId}/status-log?shop=1``: status changes received through the API
  with the flags of each call (``onOrderStatusChangeSendEmail``, ``onOrderStatusChangeProcessPayment``),
  whether a mail was sent and the payment action (capture / cancel), plus ``mails`` and ``payments``.
* ``GET /_sandbox/starweb/webhook-deliveries?shop=1``: every web hook delivery with its attempts.
* ``GET|POST /_sandbox/starweb/webhook-settings``: ``{retry_interval_s, max_retries}``.
* ``POST /_sandbox/starweb/reset`` ``{"seed": "demo"|"empty"}``; ``POST /_sandbox/starweb/tokens/expire``;
  ``POST /_sandbox/starweb/save``; ``GET /_sandbox/starweb/summary``.
* ``POST /_sandbox/starweb/catalog`` ``{"shop": 1, "products": N, "variants_per_product": K, "prefix": "BULK",
  "price": "199.00", "stock": 10, "vat_rate": 25, "start": 1, "visibility": "visible"}`` (all optional
  but ``products``): bulk-creates N products of K variants straight in memory (no rate limit, no web
  hooks), SKUs ``BULK-000001`` (K = 1) or ``BULK-000001-1`` .. ``-K`` with size attribute values S, M, L,
  XL, ...; price ex VAT in the master pricelist (price / 10 in the EUR pricelist), stock in the
  e-commerce stock location. Answers ``{shop, products, variants, first_product_id, last_product_id,
  first_sku, last_sku, modifiedAt, total_products, total_variants}``; 400 ``{"error", "message"}`` for a
  bad body or a SKU already in use (nothing stored). See `bulk.py`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

from shopbridge.sandbox.common import install_common
from shopbridge.sandbox.common.defaults import ADMIN_PREFIX, STARWEB_API_PREFIX
from shopbridge.sandbox.settings import SandboxSettings

from . import api_core, api_customers, api_orders, api_products
from .bulk import parse_bulk, seed_bulk
from .context import StarwebContext, bearer_token, bind_shop, bind_shop_in_path, require_token
from .persist import Persister
from .seed import build_shop
from .state import ShopState
from .webhooks import DEFAULT_MAX_RETRIES, DEFAULT_RETRY_INTERVAL_S, WebhookHub
from .wire import ApiError, SwJSONResponse, error_body

RETRY_ENV = "SHOPBRIDGE_STARWEB_WEBHOOK_RETRY_S"
_STATUS_ERRORS = {
    400: "validation_failed",
    401: "access_denied",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    429: "too_many_requests",
}


def _error_body(status: int, message: str) -> dict[str, Any]:
    return error_body(_STATUS_ERRORS.get(status, "server_error" if status >= 500 else "error"), message)


def _rate_key(request: Request) -> str | None:
    token = bearer_token(request)
    if token:
        return f"token:{token}"
    client = request.client.host if request.client else "unknown"
    return f"ip:{client}"


def _limited_body(retry_after_s: float) -> tuple[dict[str, Any], dict[str, str]]:
    wait = max(1, math.ceil(retry_after_s))
    return (
        error_body("too_many_requests", f"Too many requests. Try again in {wait} seconds."),
        {"Retry-After": str(wait)},
    )


def make_shops(settings: SandboxSettings, anchor: datetime | None = None) -> dict[int, ShopState]:
    """Seeded shops 1..N as `settings.seed` says ("demo", "empty" or None)."""
    return {k: build_shop(k, settings.seed or "empty", anchor) for k in range(1, max(1, settings.shops) + 1)}


def create_app(
    settings: SandboxSettings,
    *,
    webhook_retry_interval_s: float | None = None,
    webhook_max_retries: int | None = None,
    seed_anchor: datetime | None = None,
) -> FastAPI:
    """Build the sandbox app.

    Web hook retries default to Starweb's 30 minutes (env `SHOPBRIDGE_STARWEB_WEBHOOK_RETRY_S`).
    `seed_anchor` fixes the "now" the demo seed's timestamps are relative to (default: today 00:00).
    """
    persister = Persister(settings.state_file, {})
    shops = persister.load()
    if shops is None:
        shops = make_shops(settings, seed_anchor)
        persister.dirty = settings.state_file is not None
    for k in range(1, max(1, settings.shops) + 1):
        if k not in shops:
            shops[k] = build_shop(k, settings.seed or "empty", seed_anchor)
            persister.dirty = settings.state_file is not None
    persister.shops = shops
    persister.flush()
    retry = webhook_retry_interval_s
    if retry is None:
        retry = float(os.environ.get(RETRY_ENV, DEFAULT_RETRY_INTERVAL_S))
    hub = WebhookHub(
        retry_interval_s=retry,
        max_retries=DEFAULT_MAX_RETRIES if webhook_max_retries is None else webhook_max_retries,
    )
    context = StarwebContext(settings=settings, shops=shops, hub=hub, persister=persister)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await hub.aclose()
            persister.close()

    app = FastAPI(
        title="Starweb Shop API v2 sandbox",
        version="2.11.0",
        lifespan=lifespan,
        default_response_class=SwJSONResponse,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.starweb = context
    install_common(
        app,
        settings,
        service="starweb",
        error_body=_error_body,
        rate_key=_rate_key,
        limited_body=_limited_body,
    )

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> Response:
        return SwJSONResponse(
            error_body(exc.error, exc.description), status_code=exc.status, headers=exc.headers
        )

    # shop 1 at the real base path, and every shop (1 included) under /shops/{k}: one set of routes
    for prefix, bind in (
        (STARWEB_API_PREFIX, Depends(bind_shop(1))),
        (f"/shops/{{shop_no}}{STARWEB_API_PREFIX}", Depends(bind_shop_in_path)),
    ):
        app.include_router(api_core.token_router, prefix=prefix, dependencies=[bind])
        for module in (api_core, api_customers, api_products, api_orders):
            app.include_router(module.router, prefix=prefix, dependencies=[bind, Depends(require_token)])
    app.include_router(admin_router(context))
    return app


def admin_router(context: StarwebContext) -> APIRouter:
    router = APIRouter(prefix=f"{ADMIN_PREFIX}/starweb", include_in_schema=False)

    def shop(n: int) -> ShopState:
        if n not in context.shops:
            raise ApiError(404, "not_found", f"No shop {n}")
        return context.shops[n]

    @router.get("/orders/{orderId}/status-log")
    async def status_log(orderId: int, shop_no: int = Query(1, alias="shop")) -> Response:
        order = shop(shop_no).orders.get(orderId)
        if order is None:
            raise ApiError(404, "not_found", "The requested order could not be found")
        return SwJSONResponse(
            {
                "orderId": orderId,
                "statusId": order.data["statusId"],
                "statusLog": order.status_log,
                "mails": order.mails,
                "payments": order.payments,
            }
        )

    @router.get("/shops/{shop_no}/orders/{orderId}/status-log")
    async def status_log_shop(shop_no: int, orderId: int) -> Response:
        return await status_log(orderId, shop_no)

    @router.get("/webhook-deliveries")
    async def deliveries(shop_no: int = Query(1, alias="shop"), event: str | None = None) -> Response:
        shop(shop_no)
        rows = list(context.hub.deliveries.get(shop_no, []))
        if event:
            rows = [r for r in rows if r["event"] == event]
        return SwJSONResponse({"data": rows, "pending": context.hub.pending()})

    @router.get("/webhook-settings")
    async def get_hook_settings() -> dict[str, Any]:
        return {"retry_interval_s": context.hub.retry_interval_s, "max_retries": context.hub.max_retries}

    @router.post("/webhook-settings")
    async def set_hook_settings(request: Request) -> Response:
        body = await request.json()
        if not isinstance(body, dict):
            return JSONResponse(
                {"error": "bad_request", "message": "expected a JSON object"}, status_code=400
            )
        if "retry_interval_s" in body:
            context.hub.retry_interval_s = float(body["retry_interval_s"])
        if "max_retries" in body:
            context.hub.max_retries = int(body["max_retries"])
        return SwJSONResponse(await get_hook_settings())

    @router.post("/reset")
    async def reset(request: Request) -> Response:
        raw = await request.body()
        body = (await request.json()) if raw.strip() else {}
        seed = body.get("seed", context.settings.seed or "empty")
        if seed not in ("demo", "empty"):
            return JSONResponse(
                {"error": "bad_request", "message": "seed must be demo or empty"}, status_code=400
            )
        for n, old in list(context.shops.items()):
            fresh = build_shop(n, seed)
            fresh.tokens = old.tokens
            context.shops[n] = fresh
        context.hub.deliveries.clear()
        context.changed()
        return SwJSONResponse(_summary(context))

    @router.post("/tokens/expire")
    async def expire_tokens() -> Response:
        for s in context.shops.values():
            for token in s.tokens:
                s.tokens[token] = 0.0
        context.changed()
        return SwJSONResponse({"expired": sum(len(s.tokens) for s in context.shops.values())})

    @router.post("/save")
    async def save() -> Response:
        context.persister.dirty = True
        context.persister.flush()
        return SwJSONResponse({"saved": str(context.persister.path) if context.persister.path else None})

    @router.post("/catalog")
    async def bulk_catalog(request: Request) -> Response:
        try:
            raw = await request.body()
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            spec = parse_bulk(body)
            result = seed_bulk(shop(spec.shop), spec)
        except ValueError as exc:
            return JSONResponse({"error": "bad_request", "message": str(exc)}, status_code=400)
        context.changed()
        return SwJSONResponse(result)

    @router.get("/summary")
    async def summary() -> Response:
        return SwJSONResponse(_summary(context))

    return router


def _summary(context: StarwebContext) -> dict[str, Any]:
    return {
        "shops": [
            {
                "shop": n,
                "idCode": s.shop.get("idCode"),
                "products": len(s.products),
                "variants": len(s.sku_index),
                "customers": len(s.customers),
                "orders": len(s.orders),
                "webhooks": len(s.webhooks),
            }
            for n, s in context.shops.items()
        ]
    }
