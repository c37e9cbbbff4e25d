"""Reference data every sandbox shop has (also with seed "empty").

Statuses (ids fixed): 1 created "Ny", 2 picking "Plockas", 3 completed "Levererad",
4 canceled "Makulerad" (standard, with idCode), 5 "Skickad", 6 "Returnerad", 7 "Väntar på betalning"
(shop-specific, without idCode).  Payment methods 1 Klarna, 2 card, 3 invoice, 4 Swish;
shipping methods 1-4; pricelists 1 SEK (master) and 2 EUR; stock locations 1 "Huvudlager"
(e-commerce location) and 2 "Butik Göteborg"; currencies SEK (base), EUR, NOK, DKK.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from shopbridge.sandbox.catalog import EUR_PER_SEK, STOCK_LOCATIONS

from .state import ShopState

CURRENCY_RATES = {  # order currency units per 1 SEK (Starweb's currencyExchangeRate direction)
    "SEK": Decimal("1"),
    "EUR": EUR_PER_SEK,
    "NOK": Decimal("0.9700"),
    "DKK": Decimal("0.6500"),
}

STATUS_CREATED, STATUS_PICKING, STATUS_COMPLETED, STATUS_CANCELED = 1, 2, 3, 4
STATUS_SHIPPED, STATUS_RETURNED, STATUS_AWAITING_PAYMENT = 5, 6, 7

PM_KLARNA, PM_CARD, PM_INVOICE, PM_SWISH = 1, 2, 3, 4
SM_POSTNORD, SM_DHL, SM_HOME, SM_PICKUP = 1, 2, 3, 4

PRICELIST_SEK, PRICELIST_EUR = 1, 2
LOCATION_MAIN, LOCATION_STORE = 1, 2
STOCK_IN, STOCK_OUT, STOCK_ORDER, STOCK_FEW = 1, 2, 3, 4
UNIT_IDS = {"st": 1, "par": 2, "förp": 3, "kg": 4}
ATTRIBUTE_IDS = {"Storlek": 1, "Färg": 2, "Förpackning": 3}

# Payment methods that can capture / cancel on a status change (onOrderStatusChangeProcessPayment).
PROCESSING_PAYMENT_METHODS = {PM_KLARNA, PM_CARD}


def _status(status_id: int, sv: str, en: str, id_code: str | None, send_email: bool) -> dict[str, Any]:
    status: dict[str, Any] = {"statusId": status_id, "shouldSendEmail": send_email}
    if id_code:
        status["idCode"] = id_code
    status["languages"] = [{"langCode": "sv", "name": sv}, {"langCode": "en", "name": en}]
    return status


def _method_languages(sv: str, en: str, description: str) -> dict[str, Any]:
    return {
        "data": [
            {"langCode": "sv", "name": sv, "title": sv, "shortDescription": description},
            {"langCode": "en", "name": en, "title": en, "shortDescription": ""},
        ]
    }


def _payment_method(
    pm_id: int,
    id_code: str,
    sv: str,
    en: str,
    fee: str,
    desc: str,
    countries: str = "all",
    customer_type: str | None = None,
) -> dict[str, Any]:
    return {
        "paymentMethodId": pm_id,
        "idCode": id_code,
        "active": True,
        "fee": Decimal(fee),
        "validForCountries": countries,
        "validCountriesSelected": ["SE"] if countries == "selected" else [],
        "validForMinItemsSubtotal": None,
        "validForMaxItemsSubtotal": None,
        "validForMinWeight": None,
        "validForMaxWeight": None,
        "validForShippingMethods": "all",
        "validForCustomerType": customer_type,
        "isClickAndCollect": False,
        "languages": _method_languages(sv, en, desc),
    }


def _shipping_method(
    sm_id: int, sv: str, en: str, desc: str, free_over: str | None, click_collect: bool = False
) -> dict[str, Any]:
    return {
        "shippingMethodId": sm_id,
        "active": True,
        "validForCountries": "all",
        "validCountriesSelected": [],
        "validForMinItemsSubtotal": None,
        "validForMaxItemsSubtotal": None,
        "validForMinWeight": None,
        "validForMaxWeight": None,
        "validForCustomerType": None,
        "freeShippingMinItemsSubtotal": Decimal(free_over) if free_over else None,
        "freeShippingMinWeight": None,
        "isClickAndCollect": click_collect,
        "languages": _method_languages(sv, en, desc),
    }


# Shipping prices (ex VAT, SEK) the sandbox uses when an order does not state shippingCost.
SHIPPING_COST_SEK = {
    SM_POSTNORD: Decimal("39.20"),
    SM_DHL: Decimal("47.20"),
    SM_HOME: Decimal("63.20"),
    SM_PICKUP: Decimal("0"),
}
FREE_SHIPPING_OVER_SEK = Decimal("800")


CUSTOMER_TAGS = ("Stamkund", "Grossist", "Nyhetsbrev")  # tagIds 1, 2, 3 (set up in the shop's admin)


def seed_reference(state: ShopState) -> None:
    """Fill the reference tables of an (empty) shop."""
    n = state.shop_no
    suffix = "" if n == 1 else f" {n}"
    state.shop = {
        "name": f"Nordisk Hemslöjd{suffix}",
        "idCode": "sandbox-shop" if n == 1 else f"sandbox-shop-{n}",
        "status": "open",
        "defaultLangCode": "sv",
        "activeLangCodes": ["sv", "en"],
        "baseCurrency": "SEK",
        "defaultCustomerCountryCode": "SE",
        "generalDefaultVatRate": Decimal("25"),
        "shopCompanyName": f"Nordisk Hemslöjd{suffix} AB",
        "shopAddress": "Storgatan 12",
        "shopPostalCode": "411 38",
        "shopCity": "Göteborg",
        "shopOrgNo": "556677-8899",
        "shopPhoneNo": "+46 31 174 06 50",
        "shopVatNo": "SE556677889901",
        "shopCountryCode": "SE",
    }
    state.currencies = {
        code: {"code": code, "exchangeRate": rate, "precision": 2} for code, rate in CURRENCY_RATES.items()
    }
    state.customer_tags = {
        tag_id: {"tagId": tag_id, "name": name} for tag_id, name in enumerate(CUSTOMER_TAGS, start=1)
    }
    state.order_statuses = {
        s["statusId"]: s
        for s in [
            _status(STATUS_CREATED, "Ny", "New", "created", True),
            _status(STATUS_PICKING, "Plockas", "Picking", "picking", False),
            _status(STATUS_COMPLETED, "Levererad", "Delivered", "completed", True),
            _status(STATUS_CANCELED, "Makulerad", "Cancelled", "canceled", True),
            _status(STATUS_SHIPPED, "Skickad", "Shipped", None, True),
            _status(STATUS_RETURNED, "Returnerad", "Returned", None, False),
            _status(STATUS_AWAITING_PAYMENT, "Väntar på betalning", "Awaiting payment", None, False),
        ]
    }
    state.payment_methods = {
        m["paymentMethodId"]: m
        for m in [
            _payment_method(PM_KLARNA, "klarna_checkout", "Klarna", "Klarna", "0", "Betala med Klarna"),
            _payment_method(PM_CARD, "card", "Kortbetalning", "Card payment", "0", "Visa och Mastercard"),
            _payment_method(
                PM_INVOICE,
                "invoice",
                "Faktura",
                "Invoice",
                "23.20",
                "Faktura 30 dagar, avgift 29 kr",
                countries="selected",
            ),
            _payment_method(
                PM_SWISH, "swish", "Swish", "Swish", "0", "Betala med Swish", countries="selected"
            ),
        ]
    }
    state.shipping_methods = {
        m["shippingMethodId"]: m
        for m in [
            _shipping_method(
                SM_POSTNORD, "PostNord ombud", "PostNord service point", "Hämta hos ombud", "800"
            ),
            _shipping_method(
                SM_DHL, "DHL Service Point", "DHL Service Point", "Leverans till DHL-ombud", "800"
            ),
            _shipping_method(SM_HOME, "Hemleverans", "Home delivery", "Leverans till dörren kvällstid", None),
            _shipping_method(
                SM_PICKUP,
                "Hämta i butik",
                "Click and collect",
                "Hämta i butiken i Göteborg",
                None,
                click_collect=True,
            ),
        ]
    }
    state.tracking_types = {
        t["type"]: t
        for t in [
            {"type": 1, "name": "PostNord"},
            {"type": 2, "name": "DHL Freight"},
            {"type": 3, "name": "DB Schenker"},
            {"type": 4, "name": "Bring"},
            {"type": 5, "name": "UPS"},
            {"type": 6, "name": "Budbee"},
        ]
    }
    state.vat_rates = {
        r["countryCode"]: r
        for r in [
            _vat("SE", "25", "25", "25", "25"),
            _vat("NO", "25", "25", "25", "25"),
            _vat("DK", "25", "25", "25", "25"),
            _vat("FI", "25.5", "25.5", "25.5", "25.5"),
            _vat("DE", "19", "19", "19", "19"),
        ]
    }
    state.pricelists = {
        PRICELIST_SEK: {
            "pricelistId": PRICELIST_SEK,
            "name": "Standard",
            "isMaster": True,
            "isActive": True,
            "region": "all",
            "countryCodes": [],
            "currencyCode": "SEK",
            "parentPricelistId": 0,
            "isCustomerPricelist": False,
            "isCountryPricelist": False,
        },
        PRICELIST_EUR: {
            "pricelistId": PRICELIST_EUR,
            "name": "Euro",
            "isMaster": False,
            "isActive": True,
            "region": "EU",
            "countryCodes": [],
            "currencyCode": "EUR",
            "parentPricelistId": 0,
            "isCustomerPricelist": False,
            "isCountryPricelist": True,
        },
    }
    state.stock_locations = {
        LOCATION_MAIN: {
            "stockLocationId": LOCATION_MAIN,
            "visibility": "show_if_in_stock",
            "sortIndex": 1,
            "ecommerceStockLocation": True,
            "languages": {
                "data": [
                    {"langCode": "sv", "name": STOCK_LOCATIONS[0]},
                    {"langCode": "en", "name": "Main warehouse"},
                ]
            },
        },
        LOCATION_STORE: {
            "stockLocationId": LOCATION_STORE,
            "visibility": "always_show_in_store",
            "sortIndex": 2,
            "ecommerceStockLocation": False,
            "languages": {
                "data": [
                    {"langCode": "sv", "name": STOCK_LOCATIONS[1]},
                    {"langCode": "en", "name": "Store Gothenburg"},
                ]
            },
        },
    }
    state.stock_statuses = {
        s["stockStatusId"]: s
        for s in [
            _stock_status(STOCK_IN, "inStock", 1, None, True, True, "I lager", "In stock"),
            _stock_status(STOCK_OUT, "outOfStock", 2, None, False, False, "Slut i lager", "Out of stock"),
            _stock_status(STOCK_ORDER, "backOrder", 3, None, True, False, "Beställningsvara", "Back order"),
            _stock_status(STOCK_FEW, None, 4, STOCK_OUT, True, True, "Få kvar", "Few left"),
        ]
    }
    state.units = {
        uid: {
            "unitId": uid,
            "languages": {
                "data": [
                    {"langCode": "sv", "name": sv, "symbol": sym_sv},
                    {"langCode": "en", "name": en, "symbol": sym_en},
                ]
            },
        }
        for uid, sv, sym_sv, en, sym_en in [
            (1, "Styck", "st", "Piece", "pcs"),
            (2, "Par", "par", "Pair", "pr"),
            (3, "Förpackning", "förp", "Package", "pkg"),
            (4, "Kilogram", "kg", "Kilogram", "kg"),
        ]
    }
    state.attributes = {
        aid: {"attributeId": aid, "languages": {"data": [{"langCode": "sv", "name": name}]}}
        for name, aid in ATTRIBUTE_IDS.items()
    }
    state.discount_codes = {
        "SOMMAR10": {"code": "SOMMAR10", "type": "percent", "value": Decimal("10")},
        "VINTER20": {"code": "VINTER20", "type": "percent", "value": Decimal("20")},
        "VALKOMMEN50": {"code": "VALKOMMEN50", "type": "amount", "value": Decimal("50")},  # SEK incl. VAT
    }
    for kind, last in (
        ("status", 7),
        ("paymentMethod", 4),
        ("shippingMethod", 4),
        ("pricelist", 2),
        ("stockLocation", 2),
        ("stockStatus", 4),
        ("unit", 4),
        ("attribute", 3),
    ):
        state.bump_seq(kind, last)


def _vat(country: str, default: str, payment: str, shipping: str, discount: str) -> dict[str, Any]:
    return {
        "countryCode": country,
        "defaultVatRate": Decimal(default),
        "fixedOrderPaymentVatRate": Decimal(payment),
        "fixedOrderShippingVatRate": Decimal(shipping),
        "fixedOrderDiscountVatRate": Decimal(discount),
    }


def _stock_status(
    sid: int,
    id_code: str | None,
    sort: int,
    stockout: int | None,
    buyable: bool,
    in_stock: bool,
    sv: str,
    en: str,
) -> dict[str, Any]:
    status: dict[str, Any] = {"stockStatusId": sid}
    if id_code:
        status["idCode"] = id_code
    status.update(
        {
            "sortIndex": sort,
            "stockoutNewStatusId": stockout,
            "productBuyable": buyable,
            "inStock": in_stock,
            "languages": [{"langCode": "sv", "name": sv}, {"langCode": "en", "name": en}],
        }
    )
    return status
