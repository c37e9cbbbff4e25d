"""`/products` endpoints with variants, prices, volume prices, stocks, vat rates and languages.

Volume prices (`.../prices/{pricelistId}/volume[/{quantity}]`) live beside the variant's price in
that pricelist: the price must exist first (400), `quantity` is a whole number of at least 2, one
step per quantity (POST of an existing one: 400), PUT creates or replaces, PATCH changes an existing
one; deleting the variant's price in a pricelist deletes its volume prices too.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from .context import body_of, check_query, ctx, shop_of
from .products import (
    LANGUAGE_FIELDS,
    add_variant,
    create_product,
    delete_product,
    get_product,
    get_variant,
    price_out,
    product_out,
    set_price,
    set_stock,
    stock_out,
    touch,
    update_product,
    update_variant,
    variant_out,
)
from .state import Product, ShopState
from .wire import (
    bad_request,
    collection,
    dec,
    item,
    no_content,
    not_found,
    page_slice,
    paged,
    parse_include,
    parse_ts,
)

router = APIRouter()
SKU_PATTERN = re.compile(r"[A-Za-z0-9._-]+$")


def _updated(request: Request, shop: ShopState, product: Product) -> None:
    touch(product)
    c = ctx(request)
    c.changed()
    c.hub.product_event(shop, "product-updated", product.id)


@router.get("/products")
async def list_products(
    request: Request,
    page: int = Query(1, ge=1),
    sortOrder: str = Query("ASC"),
    createdSince: str | None = None,
    updatedSince: str | None = None,
    filterVisible: bool = False,
    filterSku: str | None = None,
    include: str | None = None,
) -> Response:
    check_query(request)
    shop = shop_of(request)
    if filterSku is not None:
        if not SKU_PATTERN.match(filterSku):
            raise bad_request("filterSku has to follow the pattern /[A-Za-z0-9._-]+$/")
        found = shop.sku_index.get(filterSku)
        rows = [shop.products[found[0]]] if found else []
    else:
        rows = list(shop.products.values())
    if filterVisible:
        rows = [p for p in rows if p.data.get("visibility") == "visible"]
    if createdSince:
        since = parse_ts(createdSince, "createdSince").timestamp()
        rows = [p for p in rows if p.created_ts >= since]
    if updatedSince:
        since = parse_ts(updatedSince, "updatedSince").timestamp()
        rows = [p for p in rows if p.modified_ts >= since]
    if sortOrder == "DESC":
        rows.reverse()
    chunk, meta = page_slice(rows, page)
    includes = parse_include(include)
    return paged([product_out(shop, p, includes) for p in chunk], meta)


@router.post("/products")
async def post_product(request: Request) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    product = create_product(shop, body)
    c = ctx(request)
    c.changed()
    c.hub.product_event(shop, "product-created", product.id)
    return item(product_out(shop, product, {"variants.prices", "languages"}), 201)


@router.get("/products/{productId}")
async def get_one(request: Request, productId: int, include: str | None = None) -> Response:
    shop = shop_of(request)
    return item(product_out(shop, get_product(shop, productId), parse_include(include)))


@router.put("/products/{productId}")
@router.patch("/products/{productId}")
async def put_product(request: Request, productId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    product = get_product(shop, productId)
    update_product(shop, product, body, replace=request.method == "PUT")
    _updated(request, shop, product)
    return item(product_out(shop, product, set()))


@router.delete("/products/{productId}")
async def delete_one(request: Request, productId: int) -> Response:
    shop = shop_of(request)
    delete_product(shop, get_product(shop, productId))
    c = ctx(request)
    c.changed()
    c.hub.product_event(shop, "product-removed", productId)
    return no_content()


@router.get("/products/{productId}/attributes")
async def product_attributes(request: Request, productId: int) -> Response:
    shop = shop_of(request)
    out = product_out(shop, get_product(shop, productId), {"attributes"})
    return collection(out["attributes"]["data"])


@router.get("/products/{productId}/attributes/{attributeId}")
async def product_attribute(request: Request, productId: int, attributeId: int) -> Response:
    shop = shop_of(request)
    out = product_out(shop, get_product(shop, productId), {"attributes"})
    found = next((a for a in out["attributes"]["data"] if a.get("attributeId") == attributeId), None)
    if found is None:
        raise not_found("attribute")
    return item(found)


# --- variants -----------------------------------------------------------------------------


@router.get("/products/{productId}/variants")
async def list_variants(
    request: Request, productId: int, page: int = Query(1, ge=1), include: str | None = None
) -> Response:
    check_query(request)
    shop = shop_of(request)
    product = get_product(shop, productId)
    includes = parse_include(include)
    chunk, _meta = page_slice(list(product.variants.values()), page)
    return collection([variant_out(shop, v, includes) for v in chunk])


@router.post("/products/{productId}/variants")
async def post_variant(request: Request, productId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    product = get_product(shop, productId)
    variant = add_variant(shop, product, body)
    _updated(request, shop, product)
    return item(variant_out(shop, variant, {"prices"}), 201)


@router.get("/products/{productId}/variants/{variantId}")
async def get_variant_one(
    request: Request, productId: int, variantId: int, include: str | None = None
) -> Response:
    shop = shop_of(request)
    _, variant = get_variant(shop, productId, variantId)
    return item(variant_out(shop, variant, parse_include(include)))


@router.put("/products/{productId}/variants/{variantId}")
@router.patch("/products/{productId}/variants/{variantId}")
async def put_variant(request: Request, productId: int, variantId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    product, variant = get_variant(shop, productId, variantId)
    update_variant(shop, product, variant, body)
    _updated(request, shop, product)
    return item(variant_out(shop, variant, set()))


@router.delete("/products/{productId}/variants/{variantId}")
async def delete_variant(request: Request, productId: int, variantId: int) -> Response:
    shop = shop_of(request)
    product, variant = get_variant(shop, productId, variantId)
    shop.sku_index.pop(variant.data.get("sku", ""), None)
    del product.variants[variantId]
    _updated(request, shop, product)
    return no_content()


# --- prices -------------------------------------------------------------------------------


@router.get("/products/{productId}/variants/{variantId}/prices")
async def list_prices(request: Request, productId: int, variantId: int) -> Response:
    _, variant = get_variant(shop_of(request), productId, variantId)
    return collection([price_out(p) for p in variant.prices.values()])


@router.post("/products/{productId}/variants/{variantId}/prices")
async def post_price(request: Request, productId: int, variantId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    product, variant = get_variant(shop, productId, variantId)
    if body["pricelistId"] not in shop.pricelists:
        raise bad_request(f"Invalid pricelistId: {body['pricelistId']}")
    if body["pricelistId"] in variant.prices:
        raise bad_request("The variant already has a price in this pricelist")
    price = set_price(variant, body)
    _updated(request, shop, product)
    return item(price_out(price), 201)


@router.get("/products/{productId}/variants/{variantId}/prices/{pricelistId}")
async def get_price(request: Request, productId: int, variantId: int, pricelistId: int) -> Response:
    _, variant = get_variant(shop_of(request), productId, variantId)
    price = variant.prices.get(pricelistId)
    if price is None:
        raise not_found("price")
    return item(price_out(price))


@router.put("/products/{productId}/variants/{variantId}/prices/{pricelistId}")
@router.patch("/products/{productId}/variants/{variantId}/prices/{pricelistId}")
async def put_price(request: Request, productId: int, variantId: int, pricelistId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    product, variant = get_variant(shop, productId, variantId)
    if pricelistId not in shop.pricelists:
        raise not_found("pricelist")
    if request.method == "PATCH" and pricelistId not in variant.prices:
        raise not_found("price")
    price = set_price(variant, {**body, "pricelistId": pricelistId})
    _updated(request, shop, product)
    return item(price_out(price))


@router.delete("/products/{productId}/variants/{variantId}/prices/{pricelistId}")
async def delete_price(request: Request, productId: int, variantId: int, pricelistId: int) -> Response:
    shop = shop_of(request)
    product, variant = get_variant(shop, productId, variantId)
    if pricelistId not in variant.prices:
        raise not_found("price")
    del variant.prices[pricelistId]
    _updated(request, shop, product)
    return no_content()


# --- volume prices ------------------------------------------------------------------------


def _base_price(shop: Any, variant: Any, pricelist_id: int) -> dict[str, Any]:
    if pricelist_id not in shop.pricelists:
        raise not_found("pricelist")
    price = variant.prices.get(pricelist_id)
    if price is None:
        raise bad_request(f"The variant has no price in pricelist {pricelist_id}; add that price first")
    return price


def _volume_step(price: dict[str, Any], quantity: int) -> dict[str, Any] | None:
    return next((v for v in price.get("volume") or [] if v["quantity"] == quantity), None)


def _set_volume(
    price: dict[str, Any], pricelist_id: int, quantity: Any, body: dict[str, Any]
) -> dict[str, Any]:
    if quantity != int(quantity) or int(quantity) < 2:
        raise bad_request(f"quantity must be a whole number of at least 2, got {quantity}")
    step = _volume_step(price, int(quantity)) or {"pricelistId": pricelist_id, "quantity": int(quantity)}
    step["priceExVat"] = dec(body.get("priceExVat") if body.get("priceExVat") is not None else 0)
    others = [v for v in price.get("volume") or [] if v["quantity"] != step["quantity"]]
    price["volume"] = sorted([*others, step], key=lambda v: v["quantity"])
    return step


@router.get("/products/{productId}/variants/{variantId}/prices/{pricelistId}/volume")
async def list_volume(request: Request, productId: int, variantId: int, pricelistId: int) -> Response:
    shop = shop_of(request)
    _, variant = get_variant(shop, productId, variantId)
    if pricelistId not in shop.pricelists:
        raise not_found("pricelist")
    price = variant.prices.get(pricelistId) or {}
    return collection([dict(v) for v in price.get("volume") or []])


@router.post("/products/{productId}/variants/{variantId}/prices/{pricelistId}/volume")
async def post_volume(request: Request, productId: int, variantId: int, pricelistId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    product, variant = get_variant(shop, productId, variantId)
    price = _base_price(shop, variant, pricelistId)
    if body.get("pricelistId") not in (None, pricelistId):
        raise bad_request(f"pricelistId {body['pricelistId']} differs from the pricelist in the path")
    if _volume_step(price, body["quantity"]) is not None:
        raise bad_request(f"There is already a volume price from quantity {body['quantity']}")
    step = _set_volume(price, pricelistId, body["quantity"], body)
    _updated(request, shop, product)
    return item(dict(step), 201)


@router.get("/products/{productId}/variants/{variantId}/prices/{pricelistId}/volume/{quantity}")
async def get_volume(
    request: Request, productId: int, variantId: int, pricelistId: int, quantity: int
) -> Response:
    _, variant = get_variant(shop_of(request), productId, variantId)
    step = _volume_step(variant.prices.get(pricelistId) or {}, quantity)
    if step is None:
        raise not_found("volume price")
    return item(dict(step))


@router.put("/products/{productId}/variants/{variantId}/prices/{pricelistId}/volume/{quantity}")
@router.patch("/products/{productId}/variants/{variantId}/prices/{pricelistId}/volume/{quantity}")
async def put_volume(
    request: Request, productId: int, variantId: int, pricelistId: int, quantity: int
) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    product, variant = get_variant(shop, productId, variantId)
    price = _base_price(shop, variant, pricelistId)
    current = _volume_step(price, quantity)
    if current is None and request.method == "PATCH":
        raise not_found("volume price")
    if "priceExVat" not in body and current is not None:
        body = {**body, "priceExVat": current["priceExVat"]}
    step = _set_volume(price, pricelistId, quantity, body)
    _updated(request, shop, product)
    return item(dict(step))


@router.delete("/products/{productId}/variants/{variantId}/prices/{pricelistId}/volume/{quantity}")
async def delete_volume(
    request: Request, productId: int, variantId: int, pricelistId: int, quantity: int
) -> Response:
    shop = shop_of(request)
    product, variant = get_variant(shop, productId, variantId)
    price = variant.prices.get(pricelistId) or {}
    if _volume_step(price, quantity) is None:
        raise not_found("volume price")
    price["volume"] = [v for v in price["volume"] if v["quantity"] != quantity]
    _updated(request, shop, product)
    return no_content()


# --- stocks -------------------------------------------------------------------------------


@router.get("/products/{productId}/variants/{variantId}/stocks")
async def list_stocks(request: Request, productId: int, variantId: int) -> Response:
    _, variant = get_variant(shop_of(request), productId, variantId)
    return collection([stock_out(s) for s in variant.stocks.values()])


@router.get("/products/{productId}/variants/{variantId}/stocks/{stockLocationId}")
async def get_stock(request: Request, productId: int, variantId: int, stockLocationId: int) -> Response:
    _, variant = get_variant(shop_of(request), productId, variantId)
    stock = variant.stocks.get(stockLocationId)
    if stock is None:
        raise not_found("stock")
    return item(stock_out(stock))


@router.put("/products/{productId}/variants/{variantId}/stocks/{stockLocationId}")
async def put_stock(request: Request, productId: int, variantId: int, stockLocationId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    product, variant = get_variant(shop, productId, variantId)
    if stockLocationId not in shop.stock_locations:
        raise not_found("stock location")
    stock = set_stock(shop, variant, stockLocationId, body)
    _updated(request, shop, product)
    return item(stock_out(stock))


@router.delete("/products/{productId}/variants/{variantId}/stocks/{stockLocationId}")
async def delete_stock(request: Request, productId: int, variantId: int, stockLocationId: int) -> Response:
    shop = shop_of(request)
    product, variant = get_variant(shop, productId, variantId)
    if stockLocationId not in variant.stocks:
        raise not_found("stock")
    del variant.stocks[stockLocationId]
    if stockLocationId == shop.ecommerce_location_id():
        variant.data["stockQuantity"] = None
    _updated(request, shop, product)
    return no_content()


# --- vat rates ----------------------------------------------------------------------------


@router.get("/products/{productId}/vat-rates")
async def list_product_vat(request: Request, productId: int) -> Response:
    return collection(list(get_product(shop_of(request), productId).vat_rates.values()))


@router.post("/products/{productId}/vat-rates")
async def post_product_vat(request: Request, productId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    product = get_product(shop, productId)
    code = str(body.get("countryCode") or "").upper()
    if len(code) != 2:
        raise bad_request("countryCode is required (ISO 3166-1 alpha-2)")
    if code in product.vat_rates:
        raise bad_request(f"The product already has a vat rate for {code}")
    product.vat_rates[code] = {"countryCode": code, "vatRate": dec(body.get("vatRate", 0))}
    _updated(request, shop, product)
    return item(product.vat_rates[code], 201)


@router.get("/products/{productId}/vat-rates/{countryCode}")
async def get_product_vat(request: Request, productId: int, countryCode: str) -> Response:
    rate = get_product(shop_of(request), productId).vat_rates.get(countryCode.upper())
    if rate is None:
        raise not_found("vat rate")
    return item(rate)


@router.put("/products/{productId}/vat-rates/{countryCode}")
@router.patch("/products/{productId}/vat-rates/{countryCode}")
async def put_product_vat(request: Request, productId: int, countryCode: str) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    product = get_product(shop, productId)
    code = countryCode.upper()
    if code not in product.vat_rates:
        raise not_found("vat rate")
    if "vatRate" in body:
        product.vat_rates[code]["vatRate"] = dec(body["vatRate"])
    _updated(request, shop, product)
    return item(product.vat_rates[code])


@router.delete("/products/{productId}/vat-rates/{countryCode}")
async def delete_product_vat(request: Request, productId: int, countryCode: str) -> Response:
    shop = shop_of(request)
    product = get_product(shop, productId)
    if product.vat_rates.pop(countryCode.upper(), None) is None:
        raise not_found("vat rate")
    _updated(request, shop, product)
    return no_content()


# --- languages ----------------------------------------------------------------------------


def _lang_out(lang: dict[str, Any]) -> dict[str, Any]:
    return {k: lang[k] for k in LANGUAGE_FIELDS if k in lang}


@router.get("/products/{productId}/languages")
async def list_languages(request: Request, productId: int) -> Response:
    return collection([_lang_out(v) for v in get_product(shop_of(request), productId).languages.values()])


@router.post("/products/{productId}/languages")
async def post_language(request: Request, productId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    product = get_product(shop, productId)
    code = body["langCode"]
    if code in product.languages:
        raise bad_request(f"The product already has the language {code}")
    product.languages[code] = {k: body[k] for k in LANGUAGE_FIELDS if k in body}
    _updated(request, shop, product)
    return item(_lang_out(product.languages[code]), 201)


@router.get("/products/{productId}/languages/{langCode}")
async def get_language(request: Request, productId: int, langCode: str) -> Response:
    lang = get_product(shop_of(request), productId).languages.get(langCode)
    if lang is None:
        raise not_found("product language")
    return item(_lang_out(lang))


@router.put("/products/{productId}/languages/{langCode}")
@router.patch("/products/{productId}/languages/{langCode}")
async def put_language(request: Request, productId: int, langCode: str) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    product = get_product(shop, productId)
    lang = product.languages.get(langCode)
    if lang is None:
        raise not_found("product language")
    lang.update({k: body[k] for k in LANGUAGE_FIELDS if k in body and k != "langCode"})
    _updated(request, shop, product)
    return item(_lang_out(lang))


@router.delete("/products/{productId}/languages/{langCode}")
async def delete_language(request: Request, productId: int, langCode: str) -> Response:
    shop = shop_of(request)
    product = get_product(shop, productId)
    if product.languages.pop(langCode, None) is None:
        raise not_found("product language")
    _updated(request, shop, product)
    return no_content()
