"""Token, shop and reference-data endpoints, and web hooks."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from shopbridge.sandbox.common import get_runtime
from shopbridge.starweb.schemas import WEBHOOK_EVENTS

from .context import body_of, check_query, ctx, shop_of
from .wire import ApiError, SwJSONResponse, bad_request, collection, item, no_content, not_found

token_router = APIRouter()
router = APIRouter()


# --- token --------------------------------------------------------------------------------


@token_router.post("/token", name="token")
async def create_token(request: Request) -> Response:
    raw = await request.body()
    ctype = request.headers.get("content-type", "")
    fields: dict[str, str] = {}
    if "json" in ctype:
        try:
            data = json.loads(raw or b"{}")
        except ValueError as exc:
            raise ApiError(400, "invalid_request", "The request body is not valid JSON") from exc
        if isinstance(data, dict):
            fields = {k: str(v) for k, v in data.items()}
    else:
        fields = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            fields.setdefault("client_id", user)
            fields.setdefault("client_secret", password)
        except ValueError:
            pass
    grant = fields.get("grant_type")
    if not grant:
        raise ApiError(400, "invalid_request", "The request is missing a required parameter: grant_type")
    if grant != "client_credentials":
        raise ApiError(400, "unsupported_grant_type", "The authorization grant type is not supported")
    settings = ctx(request).settings
    if not fields.get("client_id") or not fields.get("client_secret"):
        raise ApiError(400, "invalid_request", "The request is missing client_id or client_secret")
    if not (
        secrets.compare_digest(fields["client_id"], settings.client_id)
        and secrets.compare_digest(fields["client_secret"], settings.client_secret)
    ):
        raise ApiError(400, "invalid_client", "Client authentication failed")
    shop = shop_of(request)
    now = time.time()
    for token, expiry in list(shop.tokens.items()):  # forget long-dead tokens
        if expiry < now - 3600:
            del shop.tokens[token]
    ttl = get_runtime(request).token_ttl_s
    token = secrets.token_urlsafe(32)
    shop.tokens[token] = now + ttl
    ctx(request).changed()
    return SwJSONResponse({"access_token": token, "scope": "shop", "expires_in": max(0, int(ttl))})


# --- shop, currencies, methods ------------------------------------------------------------


@router.get("/shop")
async def get_shop(request: Request) -> Response:
    return item(shop_of(request).shop)


@router.get("/currencies")
async def list_currencies(request: Request) -> Response:
    return collection(list(shop_of(request).currencies.values()))


@router.get("/currencies/{currencyCode}")
async def get_currency(request: Request, currencyCode: str) -> Response:
    currency = shop_of(request).currencies.get(currencyCode.upper())
    if currency is None:
        raise not_found("currency")
    return item(currency)


@router.get("/payment-methods")
async def list_payment_methods(request: Request) -> Response:
    return collection(list(shop_of(request).payment_methods.values()))


@router.get("/payment-methods/{paymentMethodId}")
async def get_payment_method(request: Request, paymentMethodId: int) -> Response:
    return item(_get(shop_of(request).payment_methods, paymentMethodId, "payment method"))


@router.get("/shipping-methods")
async def list_shipping_methods(request: Request) -> Response:
    return collection(list(shop_of(request).shipping_methods.values()))


@router.get("/shipping-methods/{shippingMethodId}")
async def get_shipping_method(request: Request, shippingMethodId: int) -> Response:
    return item(_get(shop_of(request).shipping_methods, shippingMethodId, "shipping method"))


@router.get("/shipping-tracking-types")
async def list_tracking_types(request: Request) -> Response:
    return collection(list(shop_of(request).tracking_types.values()))


@router.get("/vat-rates")
async def list_vat_rates(request: Request) -> Response:
    return collection(list(shop_of(request).vat_rates.values()))


@router.get("/vat-rates/{countryCode}")
async def get_vat_rate(request: Request, countryCode: str) -> Response:
    rate = shop_of(request).vat_rates.get(countryCode.upper())
    if rate is None:
        raise not_found("vat rate")
    return item(rate)


@router.get("/product-units")
async def list_units(request: Request) -> Response:
    return collection(list(shop_of(request).units.values()))


@router.get("/product-units/{unitId}")
async def get_unit(request: Request, unitId: int) -> Response:
    return item(_get(shop_of(request).units, unitId, "product unit"))


def _get(table: dict[int, dict[str, Any]], key: int, what: str) -> dict[str, Any]:
    row = table.get(key)
    if row is None:
        raise not_found(what)
    return row


def _languages(raw: Any, allowed: tuple[str, ...] = ("langCode", "name")) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise bad_request("languages must be a list")
    out = []
    for lang in raw:
        if not isinstance(lang, dict) or not lang.get("langCode") or "name" not in lang:
            raise bad_request("Each language needs langCode and name")
        out.append({k: lang[k] for k in allowed if k in lang})
    return out


def _merge_languages(current: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_code = {lang["langCode"]: dict(lang) for lang in current}
    for lang in new:
        by_code.setdefault(lang["langCode"], {}).update(lang)
    return list(by_code.values())


# --- order statuses -----------------------------------------------------------------------


@router.get("/order-statuses")
async def list_order_statuses(request: Request) -> Response:
    return collection(list(shop_of(request).order_statuses.values()))


@router.post("/order-statuses")
async def create_order_status(request: Request) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    languages = _languages(body.get("languages", []))
    if not languages:
        raise bad_request("An order status needs at least one language with a name")
    sid = shop.next_id("status")
    status = {
        "statusId": sid,
        "shouldSendEmail": bool(body.get("shouldSendEmail", False)),
        "languages": languages,
    }
    shop.order_statuses[sid] = status
    ctx(request).changed()
    return item(status, 201)


@router.get("/order-statuses/{orderStatusId}")
async def get_order_status(request: Request, orderStatusId: int) -> Response:
    return item(_get(shop_of(request).order_statuses, orderStatusId, "order status"))


@router.put("/order-statuses/{orderStatusId}")
@router.patch("/order-statuses/{orderStatusId}")
async def update_order_status(request: Request, orderStatusId: int) -> Response:
    body = await body_of(request)
    status = _get(shop_of(request).order_statuses, orderStatusId, "order status")
    if "languages" in body:
        languages = _languages(body["languages"])
        if status.get("idCode") and any(
            lang["name"]
            != next((c["name"] for c in status["languages"] if c["langCode"] == lang["langCode"]), None)
            for lang in languages
        ):
            raise ApiError(403, "forbidden", "The names of standard order statuses cannot be changed")
        status["languages"] = (
            languages if request.method == "PUT" else _merge_languages(status["languages"], languages)
        )
    if "shouldSendEmail" in body:
        status["shouldSendEmail"] = bool(body["shouldSendEmail"])
    ctx(request).changed()
    return item(status)


@router.delete("/order-statuses/{orderStatusId}")
async def delete_order_status(request: Request, orderStatusId: int) -> Response:
    shop = shop_of(request)
    status = _get(shop.order_statuses, orderStatusId, "order status")
    if status.get("idCode"):
        raise ApiError(403, "forbidden", "Standard order statuses cannot be removed")
    if any(o.data["statusId"] == orderStatusId for o in shop.orders.values()):
        raise ApiError(403, "forbidden", "The order status is used by orders and cannot be removed")
    del shop.order_statuses[orderStatusId]
    ctx(request).changed()
    return no_content()


# --- pricelists ---------------------------------------------------------------------------

PRICELIST_FIELDS = (
    "pricelistId",
    "name",
    "isMaster",
    "isActive",
    "region",
    "countryCodes",
    "currencyCode",
    "parentPricelistId",
    "isCustomerPricelist",
    "isCountryPricelist",
)


def _pricelist_apply(shop: Any, pricelist: dict[str, Any], body: dict[str, Any]) -> None:
    if "currencyCode" in body:
        code = str(body["currencyCode"]).upper()
        if code not in shop.currencies:
            raise bad_request(f"Currency {code} is not enabled in this shop")
        pricelist["currencyCode"] = code
    if "name" in body:
        if pricelist.get("isMaster"):
            raise bad_request("The name of the master pricelist cannot be changed")
        pricelist["name"] = str(body["name"])[:30]
    if "isActive" in body:
        pricelist["isActive"] = bool(body["isActive"])
    if "region" in body:
        if body["region"] not in ("all", "EU", "non-EU", "selected"):
            raise bad_request("region must be one of all, EU, non-EU, selected")
        pricelist["region"] = body["region"]
    if "countryCodes" in body:
        codes = body["countryCodes"]
        pricelist["countryCodes"] = (
            [c.strip().upper() for c in codes.split(",") if c.strip()]
            if isinstance(codes, str)
            else list(codes or [])
        )
    for key in (
        "parentPricelistId",
        "isCustomerPricelist",
        "isCountryPricelist",
        "pricesInclVatByDefault",
        "inputAdminProductPricesInclVat",
    ):
        if key in body:
            pricelist[key] = body[key]


def _pricelist_out(pricelist: dict[str, Any]) -> dict[str, Any]:
    return {k: pricelist[k] for k in PRICELIST_FIELDS if k in pricelist}


@router.get("/pricelists")
async def list_pricelists(request: Request) -> Response:
    return collection([_pricelist_out(p) for p in shop_of(request).pricelists.values()])


@router.post("/pricelists")
async def create_pricelist(request: Request) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    if not body.get("name") or not body.get("currencyCode"):
        raise bad_request("A pricelist needs name and currencyCode")
    if any(p["name"] == body["name"] for p in shop.pricelists.values()):
        raise bad_request("A pricelist with this name already exists")
    pid = shop.next_id("pricelist")
    pricelist: dict[str, Any] = {
        "pricelistId": pid,
        "name": "",
        "isMaster": False,
        "isActive": False,
        "region": "all",
        "countryCodes": [],
        "currencyCode": "SEK",
        "parentPricelistId": 0,
        "isCustomerPricelist": False,
        "isCountryPricelist": True,
    }
    _pricelist_apply(shop, pricelist, body)
    shop.pricelists[pid] = pricelist
    ctx(request).changed()
    return item(_pricelist_out(pricelist), 201)


@router.get("/pricelists/{pricelistId}")
async def get_pricelist(request: Request, pricelistId: int) -> Response:
    return item(_pricelist_out(_get(shop_of(request).pricelists, pricelistId, "pricelist")))


@router.put("/pricelists/{pricelistId}")
@router.patch("/pricelists/{pricelistId}")
async def update_pricelist(request: Request, pricelistId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    pricelist = _get(shop.pricelists, pricelistId, "pricelist")
    _pricelist_apply(shop, pricelist, body)
    ctx(request).changed()
    return item(_pricelist_out(pricelist))


@router.delete("/pricelists/{pricelistId}")
async def delete_pricelist(request: Request, pricelistId: int) -> Response:
    shop = shop_of(request)
    pricelist = _get(shop.pricelists, pricelistId, "pricelist")
    if pricelist.get("isMaster"):
        raise ApiError(403, "forbidden", "The master pricelist cannot be removed")
    del shop.pricelists[pricelistId]
    for product in shop.products.values():
        for variant in product.variants.values():
            variant.prices.pop(pricelistId, None)
    ctx(request).changed()
    return no_content()


# --- stock locations ----------------------------------------------------------------------


def _location_apply(shop: Any, location: dict[str, Any], body: dict[str, Any], replace: bool) -> None:
    for key in ("visibility", "sortIndex"):
        if key in body:
            location[key] = body[key]
    if body.get("ecommerceStockLocation") is True:
        for other in shop.stock_locations.values():
            other["ecommerceStockLocation"] = False
        location["ecommerceStockLocation"] = True
    if "languages" in body:
        raw = body["languages"].get("data", []) if isinstance(body["languages"], dict) else body["languages"]
        languages = _languages(raw)
        current = location.get("languages", {}).get("data", [])
        location["languages"] = {"data": languages if replace else _merge_languages(current, languages)}


@router.get("/stock-locations")
async def list_stock_locations(request: Request) -> Response:
    return collection(list(shop_of(request).stock_locations.values()))


@router.post("/stock-locations")
async def create_stock_location(request: Request) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    lid = shop.next_id("stockLocation")
    location: dict[str, Any] = {
        "stockLocationId": lid,
        "visibility": "show_if_in_stock",
        "sortIndex": lid,
        "ecommerceStockLocation": False,
        "languages": {"data": []},
    }
    _location_apply(shop, location, body, replace=True)
    shop.stock_locations[lid] = location
    ctx(request).changed()
    return item(location, 201)


@router.get("/stock-locations/{stockLocationId}")
async def get_stock_location(request: Request, stockLocationId: int) -> Response:
    return item(_get(shop_of(request).stock_locations, stockLocationId, "stock location"))


@router.put("/stock-locations/{stockLocationId}")
@router.patch("/stock-locations/{stockLocationId}")
async def update_stock_location(request: Request, stockLocationId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    location = _get(shop.stock_locations, stockLocationId, "stock location")
    if body.get("ecommerceStockLocation") is False and location.get("ecommerceStockLocation"):
        raise ApiError(403, "forbidden", "Set another stock location as e-commerce location instead")
    _location_apply(shop, location, body, replace=request.method == "PUT")
    ctx(request).changed()
    return item(location)


@router.delete("/stock-locations/{stockLocationId}")
async def delete_stock_location(request: Request, stockLocationId: int) -> Response:
    shop = shop_of(request)
    location = _get(shop.stock_locations, stockLocationId, "stock location")
    if location.get("ecommerceStockLocation"):
        raise ApiError(403, "forbidden", "The e-commerce stock location cannot be removed")
    del shop.stock_locations[stockLocationId]
    for product in shop.products.values():
        for variant in product.variants.values():
            variant.stocks.pop(stockLocationId, None)
    ctx(request).changed()
    return no_content()


# --- stock statuses -----------------------------------------------------------------------

STOCK_STATUS_WRITABLE = ("sortIndex", "stockoutNewStatusId", "productBuyable", "inStock")


def _stock_status_apply(shop: Any, status: dict[str, Any], body: dict[str, Any], replace: bool) -> None:
    if body.get("stockoutNewStatusId") is not None and body["stockoutNewStatusId"] not in shop.stock_statuses:
        raise bad_request(f"Invalid stockoutNewStatusId: {body['stockoutNewStatusId']}")
    for key in STOCK_STATUS_WRITABLE:
        if key in body:
            status[key] = body[key]
    if "languages" in body:
        languages = _languages(body["languages"])
        if status.get("idCode") and languages:
            raise bad_request("The names of standard stock statuses cannot be changed")
        status["languages"] = (
            languages if replace else _merge_languages(status.get("languages", []), languages)
        )


@router.get("/product-stock-statuses")
async def list_stock_statuses(request: Request) -> Response:
    return collection(list(shop_of(request).stock_statuses.values()))


@router.post("/product-stock-statuses")
async def create_stock_status(request: Request) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    sid = shop.next_id("stockStatus")
    status: dict[str, Any] = {
        "stockStatusId": sid,
        "sortIndex": sid,
        "stockoutNewStatusId": None,
        "productBuyable": True,
        "inStock": False,
        "languages": [],
    }
    _stock_status_apply(shop, status, body, replace=True)
    shop.stock_statuses[sid] = status
    ctx(request).changed()
    return item(status, 201)


@router.get("/product-stock-statuses/{stockStatusId}")
async def get_stock_status(request: Request, stockStatusId: int) -> Response:
    return item(_get(shop_of(request).stock_statuses, stockStatusId, "stock status"))


@router.put("/product-stock-statuses/{stockStatusId}")
@router.patch("/product-stock-statuses/{stockStatusId}")
async def update_stock_status(request: Request, stockStatusId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    status = _get(shop.stock_statuses, stockStatusId, "stock status")
    _stock_status_apply(shop, status, body, replace=request.method == "PUT")
    ctx(request).changed()
    return item(status)


@router.delete("/product-stock-statuses/{stockStatusId}")
async def delete_stock_status(request: Request, stockStatusId: int) -> Response:
    shop = shop_of(request)
    _get(shop.stock_statuses, stockStatusId, "stock status")
    del shop.stock_statuses[stockStatusId]
    ctx(request).changed()
    return no_content()


# --- product attributes (read-only) -------------------------------------------------------


@router.get("/product-attributes")
async def list_attributes(request: Request) -> Response:
    return collection(list(shop_of(request).attributes.values()))


@router.get("/product-attributes/{attributeId}")
async def get_attribute(request: Request, attributeId: int) -> Response:
    return item(_get(shop_of(request).attributes, attributeId, "product attribute"))


def _value_out(value: dict[str, Any]) -> dict[str, Any]:
    return {k: value[k] for k in ("attributeValueId", "skuSuffix", "sortIndex", "languages")}


@router.get("/product-attributes/{attributeId}/values")
async def list_attribute_values(request: Request, attributeId: int) -> Response:
    shop = shop_of(request)
    _get(shop.attributes, attributeId, "product attribute")
    return collection(
        [_value_out(v) for v in shop.attribute_values.values() if v["attributeId"] == attributeId]
    )


@router.get("/product-attributes/{attributeId}/values/{attributeValueId}")
async def get_attribute_value(request: Request, attributeId: int, attributeValueId: int) -> Response:
    value = shop_of(request).attribute_values.get(attributeValueId)
    if value is None or value["attributeId"] != attributeId:
        raise not_found("attribute value")
    return item(_value_out(value))


# --- web hooks ----------------------------------------------------------------------------


def _webhook_apply(shop: Any, hook: dict[str, Any], body: dict[str, Any]) -> None:
    for key in ("name", "event", "url", "statusId"):
        if key in body:
            hook[key] = body[key]
    if hook.get("event") not in WEBHOOK_EVENTS:
        raise bad_request("event must be one of " + ", ".join(WEBHOOK_EVENTS))
    url = str(hook.get("url") or "")
    if not url.startswith(("http://", "https://")):
        raise bad_request("url must be an http(s) URL")
    if hook.get("statusId") is not None and hook["statusId"] not in shop.order_statuses:
        raise bad_request(f"Invalid statusId: {hook['statusId']}")
    if hook.get("statusId") is None:
        hook.pop("statusId", None)


def _webhook_out(hook: dict[str, Any]) -> dict[str, Any]:
    return {k: hook[k] for k in ("webHookId", "name", "event", "statusId", "url") if k in hook}


@router.get("/web-hooks")
async def list_webhooks(request: Request, sortOrder: str = Query("ASC")) -> Response:
    check_query(request)
    hooks = sorted(
        shop_of(request).webhooks.values(), key=lambda h: h["webHookId"], reverse=sortOrder == "DESC"
    )
    return collection([_webhook_out(h) for h in hooks])


@router.post("/web-hooks")
async def create_webhook(request: Request) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    hook: dict[str, Any] = {"webHookId": 0, "name": ""}
    _webhook_apply(shop, hook, body)
    hook["webHookId"] = shop.next_id("webhook")
    shop.webhooks[hook["webHookId"]] = hook
    ctx(request).changed()
    return item(_webhook_out(hook), 201)


@router.get("/web-hooks/{webHookId}")
async def get_webhook(request: Request, webHookId: int) -> Response:
    return item(_webhook_out(_get(shop_of(request).webhooks, webHookId, "web hook")))


@router.put("/web-hooks/{webHookId}")
@router.patch("/web-hooks/{webHookId}")
async def update_webhook(request: Request, webHookId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    hook = _get(shop.webhooks, webHookId, "web hook")
    candidate = dict(hook)
    _webhook_apply(shop, candidate, body)
    hook.clear()
    hook.update(candidate)
    ctx(request).changed()
    return item(_webhook_out(hook))


@router.delete("/web-hooks/{webHookId}")
async def delete_webhook(request: Request, webHookId: int) -> Response:
    shop = shop_of(request)
    _get(shop.webhooks, webHookId, "web hook")
    del shop.webhooks[webHookId]
    ctx(request).changed()
    return no_content()
