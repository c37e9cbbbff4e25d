"""In-memory state of one sandbox Starweb shop, and its JSON (de)serialisation.

Entities keep their wire fields (Starweb's names) in `data`; money and rates are `Decimal`.
Children (variants, prices, items, addresses, ...) live next to `data` so that `include=`
can be answered without scanning.  Everything is mutated from the event loop thread only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

STATE_VERSION = 1


@dataclass
class Variant:
    data: dict[str, Any]  # variantId, sku, isActive, sortIndex, stockStatusId, stockQuantity, ...
    # pricelistId -> price model; its "volume" key lists its volume prices (pricelistId, quantity, priceExVat)
    prices: dict[int, dict[str, Any]] = field(default_factory=dict)
    stocks: dict[int, dict[str, Any]] = field(default_factory=dict)  # stockLocationId -> stock model
    attribute_value_ids: list[int] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.data["variantId"]


@dataclass
class Product:
    data: dict[str, Any]
    languages: dict[str, dict[str, Any]] = field(default_factory=dict)  # langCode -> language model
    variants: dict[int, Variant] = field(default_factory=dict)
    vat_rates: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # countryCode -> {countryCode, vatRate}
    created_ts: float = 0.0
    modified_ts: float = 0.0

    @property
    def id(self) -> int:
        return self.data["productId"]


@dataclass
class Customer:
    data: dict[str, Any]
    addresses: dict[str, dict[str, Any]] = field(default_factory=dict)  # invoice / delivery
    external_services: dict[str, dict[str, Any]] = field(default_factory=dict)
    has_account: bool = True
    tags: list[int] = field(default_factory=list)  # tagIds of the shop's customer tags
    created_ts: float = 0.0
    modified_ts: float = 0.0

    @property
    def id(self) -> int:
        return self.data["customerId"]


@dataclass
class Order:
    data: dict[str, Any]
    items: dict[int, dict[str, Any]] = field(default_factory=dict)
    addresses: dict[str, dict[str, Any]] = field(default_factory=dict)  # the six address types
    external_services: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    status_log: list[dict[str, Any]] = field(default_factory=list)  # observable: what the shop received
    mails: list[dict[str, Any]] = field(default_factory=list)  # e-mails the shop "sent" to the customer
    payments: list[dict[str, Any]] = field(default_factory=list)  # payment actions (capture / cancel)
    created_ts: float = 0.0
    modified_ts: float = 0.0

    @property
    def id(self) -> int:
        return self.data["orderId"]


@dataclass
class ShopState:
    """Everything one shop holds. Reference tables are plain wire dicts keyed by id."""

    shop_no: int
    shop: dict[str, Any] = field(default_factory=dict)
    currencies: dict[str, dict[str, Any]] = field(default_factory=dict)
    order_statuses: dict[int, dict[str, Any]] = field(default_factory=dict)
    payment_methods: dict[int, dict[str, Any]] = field(default_factory=dict)
    shipping_methods: dict[int, dict[str, Any]] = field(default_factory=dict)
    tracking_types: dict[int, dict[str, Any]] = field(default_factory=dict)
    vat_rates: dict[str, dict[str, Any]] = field(default_factory=dict)
    pricelists: dict[int, dict[str, Any]] = field(default_factory=dict)
    stock_locations: dict[int, dict[str, Any]] = field(default_factory=dict)
    stock_statuses: dict[int, dict[str, Any]] = field(default_factory=dict)
    units: dict[int, dict[str, Any]] = field(default_factory=dict)
    attributes: dict[int, dict[str, Any]] = field(
        default_factory=dict
    )  # attributeId -> {attributeId, languages}
    attribute_values: dict[int, dict[str, Any]] = field(
        default_factory=dict
    )  # valueId -> value + attributeId
    discount_codes: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> {type, value}
    customer_tags: dict[int, dict[str, Any]] = field(default_factory=dict)  # tagId -> {tagId, name}
    customers: dict[int, Customer] = field(default_factory=dict)
    products: dict[int, Product] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    webhooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)  # access token -> expiry (epoch seconds)
    seq: dict[str, int] = field(default_factory=dict)
    # derived indexes (not persisted)
    sku_index: dict[str, tuple[int, int]] = field(default_factory=dict)  # sku -> (productId, variantId)

    def next_id(self, kind: str, start: int = 1) -> int:
        value = self.seq.get(kind, start - 1) + 1
        self.seq[kind] = value
        return value

    def bump_seq(self, kind: str, used: int) -> None:
        """Make sure `next_id(kind)` never hands out `used` again."""
        if self.seq.get(kind, 0) < used:
            self.seq[kind] = used

    def rebuild_indexes(self) -> None:
        self.sku_index = {
            v.data["sku"]: (p.id, v.id)
            for p in self.products.values()
            for v in p.variants.values()
            if v.data.get("sku")
        }

    def ecommerce_location_id(self) -> int | None:
        for loc in self.stock_locations.values():
            if loc.get("ecommerceStockLocation"):
                return loc["stockLocationId"]
        return next(iter(self.stock_locations), None)

    def status_by_code(self, id_code: str) -> dict[str, Any] | None:
        for status in self.order_statuses.values():
            if status.get("idCode") == id_code:
                return status
        return None

    def master_pricelist(self) -> dict[str, Any] | None:
        for pricelist in self.pricelists.values():
            if pricelist.get("isMaster"):
                return pricelist
        return next(iter(self.pricelists.values()), None)

    def pricelist_for_currency(self, currency: str) -> dict[str, Any] | None:
        for pricelist in self.pricelists.values():
            if pricelist.get("currencyCode") == currency:
                return pricelist
        return None


# --- JSON persistence -------------------------------------------------------------------------


def _enc(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return {"$dec": str(obj)}
    raise TypeError(f"not serializable: {type(obj).__name__}")


def _dec_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$dec" in obj:
        return Decimal(obj["$dec"])
    return obj


def _by_id(rows: list[dict[str, Any]], key: str) -> dict[int, dict[str, Any]]:
    return {row[key]: row for row in rows}


_REF_TABLES = {  # attribute -> id field (int-keyed tables)
    "order_statuses": "statusId",
    "payment_methods": "paymentMethodId",
    "shipping_methods": "shippingMethodId",
    "tracking_types": "type",
    "pricelists": "pricelistId",
    "stock_locations": "stockLocationId",
    "stock_statuses": "stockStatusId",
    "units": "unitId",
    "attributes": "attributeId",
    "attribute_values": "attributeValueId",
    "webhooks": "webHookId",
    "customer_tags": "tagId",
}


def shop_to_json(state: ShopState) -> dict[str, Any]:
    out: dict[str, Any] = {
        "shop_no": state.shop_no,
        "shop": state.shop,
        "currencies": state.currencies,
        "vat_rates": state.vat_rates,
        "discount_codes": state.discount_codes,
        "tokens": state.tokens,
        "seq": state.seq,
    }
    for name in _REF_TABLES:
        out[name] = list(getattr(state, name).values())
    out["customers"] = [
        {
            "data": c.data,
            "addresses": c.addresses,
            "external_services": c.external_services,
            "has_account": c.has_account,
            "tags": c.tags,
            "created_ts": c.created_ts,
            "modified_ts": c.modified_ts,
        }
        for c in state.customers.values()
    ]
    out["products"] = [
        {
            "data": p.data,
            "languages": p.languages,
            "vat_rates": p.vat_rates,
            "created_ts": p.created_ts,
            "modified_ts": p.modified_ts,
            "variants": [
                {
                    "data": v.data,
                    "prices": list(v.prices.values()),
                    "stocks": list(v.stocks.values()),
                    "attribute_value_ids": v.attribute_value_ids,
                }
                for v in p.variants.values()
            ],
        }
        for p in state.products.values()
    ]
    out["orders"] = [
        {
            "data": o.data,
            "items": list(o.items.values()),
            "addresses": o.addresses,
            "external_services": o.external_services,
            "comments": list(o.comments.values()),
            "status_log": o.status_log,
            "mails": o.mails,
            "payments": o.payments,
            "created_ts": o.created_ts,
            "modified_ts": o.modified_ts,
        }
        for o in state.orders.values()
    ]
    return out


def shop_from_json(raw: dict[str, Any]) -> ShopState:
    state = ShopState(
        shop_no=raw["shop_no"],
        shop=raw["shop"],
        currencies=raw["currencies"],
        vat_rates=raw["vat_rates"],
        discount_codes=raw.get("discount_codes", {}),
        tokens=raw.get("tokens", {}),
        seq=raw["seq"],
    )
    for name, key in _REF_TABLES.items():
        setattr(state, name, _by_id(raw.get(name, []), key))
    for c in raw["customers"]:
        cust = Customer(
            data=c["data"],
            addresses=c["addresses"],
            external_services=c["external_services"],
            has_account=c["has_account"],
            tags=c.get("tags", []),
            created_ts=c["created_ts"],
            modified_ts=c["modified_ts"],
        )
        state.customers[cust.id] = cust
    for p in raw["products"]:
        prod = Product(
            data=p["data"],
            languages=p["languages"],
            vat_rates=p["vat_rates"],
            created_ts=p["created_ts"],
            modified_ts=p["modified_ts"],
        )
        for v in p["variants"]:
            var = Variant(
                data=v["data"],
                prices=_by_id(v["prices"], "pricelistId"),
                stocks=_by_id(v["stocks"], "stockLocationId"),
                attribute_value_ids=v.get("attribute_value_ids", []),
            )
            prod.variants[var.id] = var
        state.products[prod.id] = prod
    for o in raw["orders"]:
        order = Order(
            data=o["data"],
            items=_by_id(o["items"], "itemId"),
            addresses=o["addresses"],
            external_services=o["external_services"],
            comments=_by_id(o["comments"], "commentId"),
            status_log=o["status_log"],
            mails=o["mails"],
            payments=o["payments"],
            created_ts=o["created_ts"],
            modified_ts=o["modified_ts"],
        )
        state.orders[order.id] = order
    state.rebuild_indexes()
    return state


def dump_state(shops: dict[int, ShopState]) -> str:
    doc = {"version": STATE_VERSION, "shops": [shop_to_json(s) for s in shops.values()]}
    return json.dumps(doc, default=_enc, ensure_ascii=False, separators=(",", ":"))


def load_state(text: str) -> dict[int, ShopState]:
    doc = json.loads(text, object_hook=_dec_hook)
    if doc.get("version") != STATE_VERSION:
        raise ValueError(f"unsupported sandbox state version: {doc.get('version')!r}")
    shops = [shop_from_json(raw) for raw in doc["shops"]]
    return {s.shop_no: s for s in shops}
