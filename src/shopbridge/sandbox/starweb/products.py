"""Product, variant, price and stock logic of the Starweb sandbox.

A product's name lives in its languages (``include=languages``); SKUs, stock and prices live on
variants.  A variant's ``stockQuantity`` / ``stockStatusId`` mirror its stock at the shop's e-commerce
stock location (id 1, "Huvudlager"); other locations are only visible via ``/stocks``.
Variants carry ``variantId`` (used in the variant paths) although the published model omits it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from .state import Product, ShopState, Variant
from .wire import bad_request, dec, fmt_ts, not_found, now, parse_ts

PRODUCT_FIELDS = (
    "productId",
    "createdAt",
    "defaultVatRate",
    "visibility",
    "visibilityPricelistIds",
    "moreInfoUrl",
    "manufacturerId",
    "unitId",
    "sortIndex",
    "type",
    "isBackInStockWatchable",
    "bundleUseManualPrice",
    "accounting",
    "hasSeveralVariants",
    "modifiedAt",
)
PRODUCT_NULLABLE = {"defaultVatRate", "manufacturerId", "unitId", "sortIndex", "accounting"}
PRODUCT_WRITABLE = (
    "createdAt",
    "defaultVatRate",
    "visibility",
    "visibilityPricelistIds",
    "moreInfoUrl",
    "manufacturerId",
    "unitId",
    "sortIndex",
    "type",
    "isBackInStockWatchable",
    "bundleUseManualPrice",
    "accounting",
)
VARIANT_FIELDS = (
    "variantId",
    "sku",
    "isActive",
    "sortIndex",
    "stockStatusId",
    "stockQuantity",
    "weightInKg",
    "costPrice",
    "ean",
    "mpn",
    "imageFileId",
    "attributeValueLinks",
    "volumePricingInheritancePricelistIds",
)
VARIANT_WRITABLE = (
    "sku",
    "isActive",
    "sortIndex",
    "stockStatusId",
    "stockQuantity",
    "weightInKg",
    "costPrice",
    "ean",
    "mpn",
    "imageFileId",
    "attributeValueLinks",
    "volumePricingInheritancePricelistIds",
)
LANGUAGE_FIELDS = (
    "langCode",
    "name",
    "shortDescription",
    "longDescription",
    "permalink",
    "pageTitle",
    "pageMetaDescription",
)
EMPTY_INCLUDES = ("categories", "mediaFiles", "metaData", "bundledProducts", "bundledProducts.prices", "tags")


# --- output -------------------------------------------------------------------------------


def price_out(price: dict[str, Any]) -> dict[str, Any]:
    return {
        "pricelistId": price["pricelistId"],
        "priceExVat": price["priceExVat"],
        "specialPriceExVat": price.get("specialPriceExVat"),
    }


def attribute_value_out(state: ShopState, value_id: int) -> dict[str, Any] | None:
    value = state.attribute_values.get(value_id)
    if value is None:
        return None
    return {k: value[k] for k in ("attributeValueId", "skuSuffix", "sortIndex", "languages")}


def variant_out(state: ShopState, variant: Variant, includes: set[str]) -> dict[str, Any]:
    out = {k: variant.data[k] for k in VARIANT_FIELDS if k in variant.data}
    if "prices" in includes:
        out["prices"] = [price_out(p) for p in variant.prices.values()]
    if "attributeValues" in includes:
        values = (attribute_value_out(state, v) for v in variant.attribute_value_ids)
        out["attributeValues"] = [v for v in values if v is not None]
    return out


def _sub(includes: set[str], prefix: str) -> set[str]:
    return {i.split(".", 1)[1] for i in includes if i.startswith(prefix + ".")}


def product_out(state: ShopState, product: Product, includes: set[str]) -> dict[str, Any]:
    data = product.data
    out = {k: data.get(k) for k in PRODUCT_FIELDS if data.get(k) is not None or k in PRODUCT_NULLABLE}
    out["hasSeveralVariants"] = len(product.variants) > 1
    variants = list(product.variants.values())
    if "variants" in includes or any(i.startswith("variants.") for i in includes):
        sub = _sub(includes, "variants")
        out["variants"] = {"data": [variant_out(state, v, sub) for v in variants]}
    if ("primaryVariant" in includes or any(i.startswith("primaryVariant.") for i in includes)) and variants:
        out["primaryVariant"] = {"data": variant_out(state, variants[0], _sub(includes, "primaryVariant"))}
    if "languages" in includes:
        out["languages"] = {
            "data": [
                {k: lang[k] for k in ("langCode", "name", "shortDescription", "permalink") if k in lang}
                for lang in product.languages.values()
            ]
        }
    if "vatRates" in includes:
        out["vatRates"] = {"data": list(product.vat_rates.values())}
    if "unit" in includes:
        unit = state.units.get(data.get("unitId"))
        if unit is not None:
            out["unit"] = {"data": unit}
    if "attributes" in includes:
        ids = sorted(
            {
                state.attribute_values[v]["attributeId"]
                for var in variants
                for v in var.attribute_value_ids
                if v in state.attribute_values
            }
        )
        out["attributes"] = {"data": [{"attributeId": a} for a in ids]}
    for name in EMPTY_INCLUDES:
        if name in includes and "." not in name:
            out[name] = {"data": []}
    return out


# --- lookups ------------------------------------------------------------------------------


def get_product(state: ShopState, product_id: int) -> Product:
    product = state.products.get(product_id)
    if product is None:
        raise not_found("product")
    return product


def get_variant(state: ShopState, product_id: int, variant_id: int) -> tuple[Product, Variant]:
    product = get_product(state, product_id)
    variant = product.variants.get(variant_id)
    if variant is None:
        raise not_found("product variant")
    return product, variant


# --- writes -------------------------------------------------------------------------------


def touch(product: Product, at: datetime | None = None) -> None:
    at = at or now()
    product.data["modifiedAt"] = fmt_ts(at)
    product.modified_ts = at.timestamp()


def _check_product(state: ShopState, body: dict[str, Any]) -> None:
    if body.get("unitId") is not None and body["unitId"] not in state.units:
        raise bad_request(f"Invalid unitId: {body['unitId']}")
    if "visibility" in body and body["visibility"] not in ("hidden", "visible", "pricelists"):
        raise bad_request("visibility must be one of hidden, visible, pricelists")
    if body.get("defaultVatRate") is not None:
        try:
            rate = Decimal(str(body["defaultVatRate"]))
        except ArithmeticError as exc:
            raise bad_request("defaultVatRate must be a number") from exc
        if not 0 <= rate <= 100:
            raise bad_request("defaultVatRate must be between 0 and 100")
    if "createdAt" in body:
        parse_ts(str(body["createdAt"]), "createdAt")
    for pid in body.get("visibilityPricelistIds") or []:
        if pid not in state.pricelists:
            raise bad_request(f"Invalid pricelist id in visibilityPricelistIds: {pid}")


def _apply_product(data: dict[str, Any], body: dict[str, Any]) -> None:
    for key in PRODUCT_WRITABLE:
        if key in body:
            value = body[key]
            if key == "createdAt":
                value = fmt_ts(parse_ts(str(value)))
            elif key == "defaultVatRate" and value is not None:
                value = f"{Decimal(str(value)):.2f}"
            data[key] = value


def _apply_languages(product: Product, languages: Any) -> None:
    if not isinstance(languages, list):
        return
    for lang in languages:
        if not isinstance(lang, dict) or not lang.get("langCode"):
            raise bad_request("Each language needs langCode and name")
        stored = product.languages.setdefault(lang["langCode"], {"langCode": lang["langCode"], "name": ""})
        stored.update({k: lang[k] for k in LANGUAGE_FIELDS if k in lang and lang[k] is not None})


def _apply_vat_rates(product: Product, rates: Any) -> None:
    if not isinstance(rates, list):
        return
    for rate in rates:
        if isinstance(rate, dict) and rate.get("countryCode"):
            product.vat_rates[rate["countryCode"]] = {
                "countryCode": rate["countryCode"],
                "vatRate": dec(rate.get("vatRate", 0)),
            }


def new_product_data(product_id: int, stamp: str, **fields: Any) -> dict[str, Any]:
    """A new product's stored fields with Starweb's defaults (hidden, no VAT rate, no unit)."""
    return {
        "productId": product_id,
        "createdAt": stamp,
        "defaultVatRate": None,
        "visibility": "hidden",
        "visibilityPricelistIds": [],
        "moreInfoUrl": "",
        "manufacturerId": None,
        "unitId": None,
        "sortIndex": None,
        "type": "basic",
        "isBackInStockWatchable": True,
        "bundleUseManualPrice": False,
        "accounting": None,
        "modifiedAt": stamp,
        **fields,
    }


def create_product(state: ShopState, body: dict[str, Any], at: datetime | None = None) -> Product:
    _check_product(state, body)
    at = at or now()
    variants_in = body.get("variants") or []
    seen: set[str] = set()
    for raw in variants_in:
        sku = raw.get("sku") if isinstance(raw, dict) else None
        if sku and (sku in state.sku_index or sku in seen):
            raise bad_request(f"The SKU {sku} is already in use")
        if sku:
            seen.add(sku)
    pid = state.next_id("product")
    data = new_product_data(pid, fmt_ts(at))
    _apply_product(data, body)
    product = Product(
        data=data, created_ts=parse_ts(data["createdAt"]).timestamp(), modified_ts=at.timestamp()
    )
    _apply_languages(product, body.get("languages"))
    _apply_vat_rates(product, body.get("vatRates"))
    state.products[pid] = product
    try:
        for raw in variants_in or [{}]:
            add_variant(state, product, raw if isinstance(raw, dict) else {})
    except Exception:
        for var in product.variants.values():
            state.sku_index.pop(var.data.get("sku", ""), None)
        del state.products[pid]
        raise
    return product


def update_product(state: ShopState, product: Product, body: dict[str, Any], replace: bool = False) -> None:
    _check_product(state, body)
    _apply_product(product.data, body)
    _apply_languages(product, body.get("languages"))
    if replace and isinstance(body.get("vatRates"), list):
        product.vat_rates = {}
    _apply_vat_rates(product, body.get("vatRates"))
    if replace and isinstance(body.get("variants"), list):
        by_sku = {v.data.get("sku"): v for v in product.variants.values()}
        for raw in body["variants"]:
            if not isinstance(raw, dict):
                continue
            existing = by_sku.get(raw.get("sku"))
            if existing is not None:
                update_variant(state, product, existing, raw)
            else:
                add_variant(state, product, raw)
    touch(product)


def delete_product(state: ShopState, product: Product) -> None:
    for var in product.variants.values():
        state.sku_index.pop(var.data.get("sku", ""), None)
    del state.products[product.id]


def _check_variant(state: ShopState, body: dict[str, Any], current: Variant | None) -> None:
    sku = body.get("sku")
    if sku and sku in state.sku_index and (current is None or current.data.get("sku") != sku):
        raise bad_request(f"The SKU {sku} is already in use")
    if body.get("stockStatusId") is not None and body["stockStatusId"] not in state.stock_statuses:
        raise bad_request(f"Invalid stockStatusId: {body['stockStatusId']}")
    for vid in body.get("attributeValueLinks") or []:
        if vid not in state.attribute_values:
            raise bad_request(f"Invalid attribute value id: {vid}")
    for price in body.get("prices") or []:
        if not isinstance(price, dict) or price.get("pricelistId") not in state.pricelists:
            raise bad_request("Each price needs a valid pricelistId")


def add_variant(state: ShopState, product: Product, body: dict[str, Any]) -> Variant:
    _check_variant(state, body, None)
    vid = state.next_id("variant")
    data: dict[str, Any] = {
        "variantId": vid,
        "sku": "",
        "isActive": True,
        "sortIndex": len(product.variants) + 1,
        "stockStatusId": None,
        "stockQuantity": None,
        "weightInKg": None,
        "costPrice": None,
        "ean": "",
        "mpn": "",
        "imageFileId": None,
        "attributeValueLinks": [],
        "volumePricingInheritancePricelistIds": [],
    }
    variant = Variant(data=data)
    product.variants[vid] = variant
    _apply_variant(state, product, variant, body)
    if not variant.prices:
        master = state.master_pricelist()
        if master:
            variant.prices[master["pricelistId"]] = {
                "pricelistId": master["pricelistId"],
                "priceExVat": Decimal(0),
                "specialPriceExVat": None,
            }
    return variant


def update_variant(state: ShopState, product: Product, variant: Variant, body: dict[str, Any]) -> None:
    _check_variant(state, body, variant)
    _apply_variant(state, product, variant, body)
    touch(product)


def _apply_variant(state: ShopState, product: Product, variant: Variant, body: dict[str, Any]) -> None:
    old_sku = variant.data.get("sku")
    for key in VARIANT_WRITABLE:
        if key in body:
            value = body[key]
            if key == "weightInKg" and value is not None:
                value = dec(value)
            if key == "costPrice" and value is not None:
                value = str(value)
            variant.data[key] = value
    if "attributeValueLinks" in body:
        variant.attribute_value_ids = list(body.get("attributeValueLinks") or [])
    for price in body.get("prices") or []:
        set_price(variant, price)
    if "stockQuantity" in body or "stockStatusId" in body:
        loc = state.ecommerce_location_id()
        if loc is not None:
            default_status = variant.data.get("stockStatusId") or next(iter(state.stock_statuses), 1)
            stock = variant.stocks.setdefault(
                loc, {"stockLocationId": loc, "stockStatusId": default_status, "stockQuantity": Decimal(0)}
            )
            if body.get("stockQuantity") is not None:
                stock["stockQuantity"] = dec(body["stockQuantity"])
            if body.get("stockStatusId") is not None:
                stock["stockStatusId"] = body["stockStatusId"]
    new_sku = variant.data.get("sku")
    if old_sku and old_sku != new_sku:
        state.sku_index.pop(old_sku, None)
    if new_sku:
        state.sku_index[new_sku] = (product.id, variant.id)


def set_price(variant: Variant, body: dict[str, Any], replace: bool = True) -> dict[str, Any]:
    pid = body["pricelistId"]
    price = variant.prices.get(pid) if not replace or pid in variant.prices else None
    price = price or {"pricelistId": pid, "priceExVat": Decimal(0), "specialPriceExVat": None}
    if "priceExVat" in body and body["priceExVat"] is not None:
        price["priceExVat"] = dec(body["priceExVat"])
    if "specialPriceExVat" in body:
        value = body["specialPriceExVat"]
        price["specialPriceExVat"] = dec(value) if value is not None else None
    variant.prices[pid] = price
    return price


def set_stock(state: ShopState, variant: Variant, location_id: int, body: dict[str, Any]) -> dict[str, Any]:
    if body.get("stockStatusId") not in state.stock_statuses:
        raise bad_request(f"Invalid stockStatusId: {body.get('stockStatusId')}")
    stock = {
        "stockLocationId": location_id,
        "stockStatusId": body["stockStatusId"],
        "stockQuantity": dec(body["stockQuantity"]),
    }
    variant.stocks[location_id] = stock
    if location_id == state.ecommerce_location_id():
        variant.data["stockQuantity"] = int(stock["stockQuantity"])
        variant.data["stockStatusId"] = stock["stockStatusId"]
    return stock


def stock_out(stock: dict[str, Any]) -> dict[str, Any]:
    return {
        "stockLocationId": stock["stockLocationId"],
        "stockStatusId": stock["stockStatusId"],
        "stockQuantity": stock["stockQuantity"],
    }
