"""Bulk catalogue seeding of a sandbox shop (admin route ``POST /_sandbox/starweb/catalog``).

Builds the in-memory records directly (no per-item HTTP, no rate limit, no web hooks), so benches and
tests can get tens of thousands of products in well under a second or two.  Product i (``start`` ..
``start + products - 1``) is named "Bulk product i"; its variants carry the SKU ``{prefix}-{i:06d}``
(one variant) or ``{prefix}-{i:06d}-{j}`` (j = 1..K) and, when K > 1, a "Storlek" attribute value
(S, M, L, XL, XXL, 3XL, ...).  Every variant gets ``price`` ex VAT in the master pricelist (and
``price / 10`` in the EUR pricelist when the shop has one) and ``stock`` in the e-commerce stock location.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from . import reference as ref
from .products import new_product_data
from .state import Product, ShopState, Variant
from .wire import fmt_ts, now, q2

MAX_PRODUCTS = 200_000
MAX_VARIANTS = 50
MAX_TOTAL_VARIANTS = 1_000_000
SIZE_NAMES = ("S", "M", "L", "XL", "XXL", "3XL", "4XL", "5XL", "XS")
SIZE_ATTRIBUTE = "Storlek"
_PREFIX_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


@dataclass(frozen=True)
class BulkSpec:
    """What one bulk call creates (validated by `parse_bulk`)."""

    shop: int = 1
    products: int = 0
    variants_per_product: int = 1
    prefix: str = "BULK"
    price: Decimal = Decimal("199.00")
    stock: int = 10
    vat_rate: Decimal = Decimal(25)
    start: int = 1
    visibility: str = "visible"

    def skus(self, i: int) -> list[str]:
        if self.variants_per_product == 1:
            return [f"{self.prefix}-{i:06d}"]
        return [f"{self.prefix}-{i:06d}-{j}" for j in range(1, self.variants_per_product + 1)]


def _int(body: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}")
    return value


def _dec(body: dict[str, Any], name: str, default: str) -> Decimal:
    raw = body.get(name, default)
    if isinstance(raw, bool):
        raise ValueError(f"{name} must be a number")
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"{name} must be a number") from exc
    if not value.is_finite() or value < 0 or value >= Decimal(10) ** 9:
        raise ValueError(f"{name} must be a number between 0 and 999999999")
    return value


def parse_bulk(body: dict[str, Any]) -> BulkSpec:
    """Validate an admin request body; ValueError says what is wrong."""
    known = {f for f in BulkSpec.__dataclass_fields__}
    unknown = sorted(set(body) - known)
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    prefix = body.get("prefix", "BULK")
    if not isinstance(prefix, str) or not prefix or not set(prefix) <= _PREFIX_CHARS or len(prefix) > 40:
        raise ValueError("prefix must be 1-40 characters of A-Z a-z 0-9 . _ -")
    visibility = body.get("visibility", "visible")
    if visibility not in ("visible", "hidden"):
        raise ValueError("visibility must be visible or hidden")
    spec = BulkSpec(
        shop=_int(body, "shop", 1, 1, 10_000),
        products=_int(body, "products", 0, 0, MAX_PRODUCTS),
        variants_per_product=_int(body, "variants_per_product", 1, 1, MAX_VARIANTS),
        prefix=prefix,
        price=q2(_dec(body, "price", "199.00")),
        stock=_int(body, "stock", 10, -100_000_000, 100_000_000),
        vat_rate=_dec(body, "vat_rate", "25"),
        start=_int(body, "start", 1, 0, 999_999),
        visibility=visibility,
    )
    if spec.vat_rate > 100:
        raise ValueError("vat_rate must be between 0 and 100")
    if spec.products * spec.variants_per_product > MAX_TOTAL_VARIANTS:
        raise ValueError(f"at most {MAX_TOTAL_VARIANTS} variants per call")
    if spec.start + spec.products - 1 > 999_999:
        raise ValueError("start + products - 1 must stay below 1000000 (six-digit SKUs)")
    return spec


def _status_id(state: ShopState, in_stock: bool) -> int | None:
    wanted = "inStock" if in_stock else "outOfStock"
    for status in state.stock_statuses.values():
        if status.get("idCode") == wanted:
            return status["stockStatusId"]
    return next(iter(state.stock_statuses), None)


def _piece_unit(state: ShopState) -> int | None:
    for unit in state.units.values():
        for lang in unit.get("languages", {}).get("data", []):
            if lang.get("symbol") == "st":
                return unit["unitId"]
    return None


def _size_values(state: ShopState, count: int) -> list[int]:
    """Attribute value ids of the first `count` sizes, reusing the shop's existing values."""
    attribute_id = ref.ATTRIBUTE_IDS[SIZE_ATTRIBUTE]
    if attribute_id not in state.attributes:
        state.attributes[attribute_id] = {
            "attributeId": attribute_id,
            "languages": {"data": [{"langCode": "sv", "name": SIZE_ATTRIBUTE}]},
        }
        state.bump_seq("attribute", attribute_id)
    existing = {
        value["languages"][0]["name"]: vid
        for vid, value in state.attribute_values.items()
        if value.get("attributeId") == attribute_id and value.get("languages")
    }
    ids = []
    for n in range(count):
        name = SIZE_NAMES[n] if n < len(SIZE_NAMES) else f"Storlek {n + 1}"
        if name not in existing:
            vid = state.next_id("attributeValue")
            state.attribute_values[vid] = {
                "attributeValueId": vid,
                "attributeId": attribute_id,
                "skuSuffix": name.replace(" ", ""),
                "sortIndex": len(state.attribute_values) + 1,
                "languages": [{"langCode": "sv", "name": name}],
            }
            existing[name] = vid
        ids.append(existing[name])
    return ids


def seed_bulk(state: ShopState, spec: BulkSpec, at: datetime | None = None) -> dict[str, Any]:
    """Add the products of `spec` to `state`; ValueError (nothing stored) when a SKU is already in use."""
    last = spec.start + spec.products - 1
    for i in range(spec.start, last + 1):
        for sku in spec.skus(i):
            if sku in state.sku_index:
                raise ValueError(f"The SKU {sku} is already in use (choose another prefix or start)")
    at = at or now()
    stamp, ts = fmt_ts(at), at.timestamp()
    master = state.master_pricelist()
    eur = state.pricelist_for_currency("EUR")
    master_id = master["pricelistId"] if master else None
    eur_id = eur["pricelistId"] if eur and eur is not master else None
    price, eur_price = spec.price, q2(spec.price / 10)
    location = state.ecommerce_location_id()
    status = _status_id(state, spec.stock > 0)
    quantity = Decimal(spec.stock)
    unit_id = _piece_unit(state)
    country = state.shop.get("shopCountryCode", "SE")
    vat_text = f"{spec.vat_rate:.2f}"
    value_ids = _size_values(state, spec.variants_per_product) if spec.variants_per_product > 1 else []
    pid = state.seq.get("product", 0)
    vid = state.seq.get("variant", 0)
    first_pid = pid + 1
    for i in range(spec.start, last + 1):
        pid += 1
        product = Product(
            data=new_product_data(
                pid, stamp, defaultVatRate=vat_text, visibility=spec.visibility, unitId=unit_id
            ),
            created_ts=ts,
            modified_ts=ts,
        )
        product.languages["sv"] = {
            "langCode": "sv",
            "name": f"Bulk product {i}",
            "shortDescription": "",
            "permalink": f"{spec.prefix.lower()}-{i:06d}",
        }
        product.vat_rates[country] = {"countryCode": country, "vatRate": spec.vat_rate}
        for j, sku in enumerate(spec.skus(i)):
            vid += 1
            links = [value_ids[j]] if value_ids else []
            variant = Variant(
                data={
                    "variantId": vid,
                    "sku": sku,
                    "isActive": True,
                    "sortIndex": j + 1,
                    "stockStatusId": status,
                    "stockQuantity": spec.stock,
                    "weightInKg": None,
                    "costPrice": None,
                    "ean": "",
                    "mpn": "",
                    "imageFileId": None,
                    "attributeValueLinks": links,
                    "volumePricingInheritancePricelistIds": [],
                },
                attribute_value_ids=list(links),
            )
            if master_id is not None:
                variant.prices[master_id] = {
                    "pricelistId": master_id,
                    "priceExVat": price,
                    "specialPriceExVat": None,
                }
            if eur_id is not None:
                variant.prices[eur_id] = {
                    "pricelistId": eur_id,
                    "priceExVat": eur_price,
                    "specialPriceExVat": None,
                }
            if location is not None:
                variant.stocks[location] = {
                    "stockLocationId": location,
                    "stockStatusId": status,
                    "stockQuantity": quantity,
                }
            product.variants[vid] = variant
            state.sku_index[sku] = (pid, vid)
        state.products[pid] = product
    state.seq["product"] = pid
    state.seq["variant"] = vid
    created = pid - first_pid + 1
    return {
        "shop": state.shop_no,
        "products": created,
        "variants": created * spec.variants_per_product,
        "first_product_id": first_pid if created else None,
        "last_product_id": pid if created else None,
        "first_sku": spec.skus(spec.start)[0] if created else None,
        "last_sku": spec.skus(last)[-1] if created else None,
        "modifiedAt": stamp,
        "total_products": len(state.products),
        "total_variants": len(state.sku_index),
    }
