"""Order logic of the Starweb sandbox: creation, totals, status changes with their side effects.

Totals (all `Decimal`, rounded half up to 2 decimals):

* item net = round(unitPrice * quantity, 2); then with ``discountType`` "percent":
  minus round(net * discount / 100, 2);
  "amount": minus ``discount`` once for the whole row (whatever the quantity).  Prices are ex VAT.
* shippingCost (rate shippingVatRate) and paymentFee (rate paymentVatRate) are ex VAT, too.
* nets are summed per VAT rate; VAT per rate = round(net * rate / 100, 2); totalVat = sum of those;
  totalAmount = nets + totalVat; amountToPay = totalAmount.
* ``...InBaseCurrency`` = round(amount / currencyExchangeRate, 2) (rate = order currency per 1 SEK).
* A known discount code (SOMMAR10, VINTER20: percent; VALKOMMEN50: 50 SEK incl. VAT) given at creation
  becomes negative item rows "Rabattkod <code>", one per VAT rate, so the totals above include it.

Stock: a complete order created through the API (or an order that becomes complete through a PATCH/PUT)
draws its rows' quantities from the e-commerce stock location of the SKUs' variants (`draw_stock`); stock
may go negative (back orders), and a status with ``stockoutNewStatusId`` then switches to that status.
The products' ``modifiedAt`` bumps (no product web hook). Deleting or cancelling an order returns nothing.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from .customers import customer_out
from .reference import PROCESSING_PAYMENT_METHODS
from .state import Customer, Order, ShopState
from .wire import ApiError, bad_request, dec, fmt_ts, not_found, now, parse_ts, q2

ADDRESS_TYPES = (
    "originalInvoice",
    "originalDelivery",
    "customerInvoice",
    "customerDelivery",
    "paymentMethodInvoice",
    "paymentMethodDelivery",
)
ITEM_FIELDS = (
    "sku",
    "description",
    "quantity",
    "unitSymbol",
    "unitPrice",
    "vatRate",
    "discount",
    "discountType",
    "sortIndex",
)
MONEY_FIELDS = (
    "paymentFee",
    "paymentVatRate",
    "shippingCost",
    "shippingVatRate",
    "amountPaid",
    "currencyExchangeRate",
)
WRITABLE_SCALARS = (
    "statusId",
    "shippingMethodId",
    "paymentMethodId",
    "paymentMethodName",
    "paymentFee",
    "paymentVatRate",
    "shippingMethodName",
    "shippingCost",
    "shippingVatRate",
    "customInfo1",
    "customInfo2",
    "customInfo3",
    "customInfo4",
    "discountCode",
    "amountPaid",
    "isComplete",
    "currencyCode",
    "currencyExchangeRate",
    "currencyPrecision",
    "langCode",
    "paymentReference",
    "paymentStatus",
    "isRead",
    "internalComment",
    "shippingTrackerType",
    "shippingTrackingNo",
    "originalCustomerEmail",
    "originalCustomerNationalIdNo",
    "originalCustomerVatNo",
    "originalCustomerCustomInfo1",
    "originalCustomerCustomInfo2",
    "sendEmailsOnStatusChange",
    "customerId",
    "createdAt",
)
ORDER_FIELD_ORDER = (
    "orderId",
    "createdAt",
    "modifiedAt",
    "baseCurrencyCode",
    "shopCountryCode",
    "totalAmount",
    "totalVat",
    "amountToPay",
    "totalAmountInBaseCurrency",
    "totalVatInBaseCurrency",
    "amountToPayInBaseCurrency",
    "customerId",
    "statusId",
    "sendEmailsOnStatusChange",
    "shippingMethodId",
    "paymentMethodId",
    "paymentMethodIdCode",
    "paymentMethodName",
    "paymentFee",
    "paymentVatRate",
    "shippingMethodName",
    "shippingCost",
    "shippingVatRate",
    "totalWeight",
    "customInfo1",
    "customInfo2",
    "customInfo3",
    "customInfo4",
    "discountCode",
    "amountPaid",
    "amountPaidInBaseCurrency",
    "isComplete",
    "currencyCode",
    "currencyExchangeRate",
    "currencyPrecision",
    "langCode",
    "paymentReference",
    "paymentStatus",
    "isRead",
    "hasComments",
    "internalComment",
    "shippingTrackerType",
    "shippingTrackingNo",
    "originalCustomerEmail",
    "originalCustomerNationalIdNo",
    "originalCustomerVatNo",
    "originalCustomerCustomInfo1",
    "originalCustomerCustomInfo2",
)


# --- items --------------------------------------------------------------------------------


def item_net(item: dict[str, Any]) -> Decimal:
    """Net (ex VAT) amount of one order row after its own discount."""
    gross = q2(item["unitPrice"] * item["quantity"])
    discount = item.get("discount") or Decimal(0)
    if not discount:
        return gross
    if item.get("discountType") == "amount":
        return q2(gross - discount)
    return q2(gross - q2(gross * discount / 100))


def make_item(
    state: ShopState,
    body: dict[str, Any],
    item_id: int,
    currency: str,
    sort_index: int,
    base: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build a stored order row from a request body (fills price/VAT/description from a known SKU)."""
    item: dict[str, Any] = (
        dict(base)
        if base
        else {
            "itemId": item_id,
            "sku": "",
            "description": "",
            "quantity": 1,
            "unitSymbol": "st",
            "unitPrice": None,
            "vatRate": None,
            "discount": Decimal(0),
            "discountType": "percent",
            "sortIndex": sort_index,
        }
    )
    for key in ITEM_FIELDS:
        if key in body and body[key] is not None:
            item[key] = body[key]
    for key in ("unitPrice", "vatRate", "discount", "quantity"):
        bounded(key, item.get(key))
    for key in ("unitPrice", "vatRate", "discount"):
        if item.get(key) is not None:
            item[key] = dec(item[key])
    found = state.sku_index.get(item["sku"]) if item["sku"] else None
    if found:
        product = state.products[found[0]]
        variant = product.variants[found[1]]
        if item["unitPrice"] is None:
            item["unitPrice"] = variant_price(state, variant, currency)
        if item["vatRate"] is None and product.data.get("defaultVatRate") is not None:
            item["vatRate"] = Decimal(product.data["defaultVatRate"])
        if not item["description"]:
            item["description"] = product_title(state, product.id, variant.id)
        if "unitSymbol" not in body:
            item["unitSymbol"] = unit_symbol(state, product.data.get("unitId"))
    if item["unitPrice"] is None:
        raise bad_request(
            f"Order item {item['sku'] or item_id}: unitPrice is required when the SKU is unknown"
        )
    if item["vatRate"] is None:
        item["vatRate"] = state.shop.get("generalDefaultVatRate", Decimal(25))
    if item["discountType"] not in ("amount", "percent"):
        raise bad_request("discountType must be 'amount' or 'percent'")
    if item["discountType"] == "percent" and item["discount"] > 100:
        raise bad_request("A percent discount cannot exceed 100")
    return item


def variant_price(state: ShopState, variant: Any, currency: str) -> Decimal:
    """Price ex VAT a customer pays in `currency` (special price when there is one)."""
    pricelist = state.pricelist_for_currency(currency) or state.master_pricelist()
    price = variant.prices.get(pricelist["pricelistId"]) if pricelist else None
    if price is None:
        price = next(iter(variant.prices.values()), None)
    if price is None:
        return Decimal(0)
    amount = price.get("specialPriceExVat") or price["priceExVat"]
    amount = Decimal(amount)
    if pricelist and pricelist.get("currencyCode") != currency:
        amount = q2(amount * state.currencies[currency]["exchangeRate"])
    return amount


def product_title(state: ShopState, product_id: int, variant_id: int | None = None) -> str:
    product = state.products[product_id]
    lang = product.languages.get("sv") or next(
        iter(product.languages.values()), {"name": f"Produkt {product_id}"}
    )
    title = lang["name"]
    if variant_id is not None and len(product.variants) > 1:
        values = [
            state.attribute_values[v]["languages"][0]["name"]
            for v in product.variants[variant_id].attribute_value_ids
            if v in state.attribute_values
        ]
        if values:
            title = f"{title}, {', '.join(values)}"
    return title[:255]


def unit_symbol(state: ShopState, unit_id: int | None) -> str:
    unit = state.units.get(unit_id) if unit_id else None
    if not unit:
        return "st"
    return unit["languages"]["data"][0]["symbol"][:5]


# --- totals -------------------------------------------------------------------------------


def compute_totals(state: ShopState, order: Order) -> None:
    """Recompute the calculated fields of `order` from its rows, shipping and payment fee."""
    data = order.data
    nets: dict[Decimal, Decimal] = defaultdict(Decimal)
    weight = Decimal(0)
    for item in order.items.values():
        nets[item["vatRate"]] += item_net(item)
        found = state.sku_index.get(item["sku"]) if item["sku"] else None
        if found:
            w = state.products[found[0]].variants[found[1]].data.get("weightInKg")
            if w:
                weight += Decimal(str(w)) * item["quantity"]
    nets[data.get("shippingVatRate", Decimal(0))] += data.get("shippingCost", Decimal(0))
    nets[data.get("paymentVatRate", Decimal(0))] += data.get("paymentFee", Decimal(0))
    total_vat = sum((q2(net * rate / 100) for rate, net in nets.items()), Decimal(0))
    total = q2(sum(nets.values(), Decimal(0)) + total_vat)
    rate = data.get("currencyExchangeRate") or Decimal(1)
    data["totalAmount"] = total
    data["totalVat"] = total_vat
    data["amountToPay"] = total
    data["totalAmountInBaseCurrency"] = q2(total / rate)
    data["totalVatInBaseCurrency"] = q2(total_vat / rate)
    data["amountToPayInBaseCurrency"] = q2(total / rate)
    data["amountPaidInBaseCurrency"] = q2(data.get("amountPaid", Decimal(0)) / rate)
    data["totalWeight"] = weight.quantize(Decimal("0.001"))


def draw_stock(state: ShopState, order: Order, at: datetime | None = None) -> list[int]:
    """Take the ordered quantities from the e-commerce stock location; returns the touched product ids.

    Variants without stock at that location and without ``stockQuantity`` (stock not kept) are skipped.
    """
    location = state.ecommerce_location_id()
    if location is None:
        return []
    at = at or now()
    touched: dict[int, None] = {}
    for row in order.items.values():
        found = state.sku_index.get(row.get("sku") or "")
        qty = dec(row.get("quantity") or 0)
        if not found or qty <= 0:
            continue
        product = state.products[found[0]]
        variant = product.variants[found[1]]
        stock = variant.stocks.get(location)
        if stock is None:
            if variant.data.get("stockQuantity") is None:
                continue
            stock = variant.stocks[location] = {
                "stockLocationId": location,
                "stockStatusId": variant.data.get("stockStatusId") or next(iter(state.stock_statuses), 1),
                "stockQuantity": dec(variant.data["stockQuantity"]),
            }
        before = dec(stock["stockQuantity"])
        after = before - qty
        stock["stockQuantity"] = after
        status = state.stock_statuses.get(stock["stockStatusId"], {})
        if after < 0 <= before and status.get("stockoutNewStatusId") in state.stock_statuses:
            stock["stockStatusId"] = status["stockoutNewStatusId"]
        variant.data["stockQuantity"] = int(after)
        variant.data["stockStatusId"] = stock["stockStatusId"]
        product.data["modifiedAt"] = fmt_ts(at)
        product.modified_ts = at.timestamp()
        touched[product.id] = None
    return list(touched)


def discount_rows(state: ShopState, order: Order, code: str) -> list[dict[str, Any]]:
    """Negative rows for a known discount code, split per VAT rate."""
    rule = state.discount_codes.get(code.upper())
    if not rule:
        return []
    nets: dict[Decimal, Decimal] = defaultdict(Decimal)
    for item in order.items.values():
        nets[item["vatRate"]] += item_net(item)
    nets = {r: n for r, n in nets.items() if n > 0}
    if not nets:
        return []
    cuts: dict[Decimal, Decimal] = {}
    if rule["type"] == "percent":
        cuts = {r: q2(n * rule["value"] / 100) for r, n in nets.items()}
    else:
        amount_incl = q2(rule["value"] * order.data.get("currencyExchangeRate", Decimal(1)))
        gross = {r: n * (1 + r / 100) for r, n in nets.items()}
        total_gross = sum(gross.values(), Decimal(0))
        amount_incl = min(amount_incl, q2(total_gross))
        left = amount_incl
        rates = sorted(gross)
        for i, r in enumerate(rates):
            part = left if i == len(rates) - 1 else q2(amount_incl * gross[r] / total_gross)
            left -= part
            cuts[r] = q2(part / (1 + r / 100))
    rows = []
    multi = len(cuts) > 1
    for r in sorted(cuts, reverse=True):
        rows.append(
            {
                "sku": "",
                "description": f"Rabattkod {code.upper()}"
                + (f" (moms {format(r.normalize(), 'f')} %)" if multi else ""),
                "quantity": 1,
                "unitSymbol": "st",
                "unitPrice": -cuts[r],
                "vatRate": r,
                "discount": Decimal(0),
                "discountType": "percent",
            }
        )
    return rows


# --- create / update ----------------------------------------------------------------------


def bounded(name: str, value: Any, low: Decimal | None = None, high: Decimal | None = None) -> None:
    """Refuse (400) a number the order arithmetic cannot carry, before anything is changed."""
    if value is None:
        return
    number = dec(value)  # finite and below wire.MAX_AMOUNT, else 400
    if (low is not None and number < low) or (high is not None and number > high):
        raise bad_request(f"{name} must be between {low} and {high}, got {value}")


def _check_refs(state: ShopState, body: dict[str, Any]) -> None:
    for key in MONEY_FIELDS:
        bounded(key, body.get(key))
    # a rate of 0, below 0 or next to 0 makes every amount in base currency meaningless (or infinite)
    bounded("currencyExchangeRate", body.get("currencyExchangeRate"), Decimal("0.000001"), Decimal("1000000"))
    if "statusId" in body and body["statusId"] not in state.order_statuses:
        raise bad_request(f"Invalid statusId: {body['statusId']}")
    if body.get("paymentMethodId") is not None and body["paymentMethodId"] not in state.payment_methods:
        raise bad_request(f"Invalid paymentMethodId: {body['paymentMethodId']}")
    if body.get("shippingMethodId") is not None and body["shippingMethodId"] not in state.shipping_methods:
        raise bad_request(f"Invalid shippingMethodId: {body['shippingMethodId']}")
    if body.get("customerId") is not None and body["customerId"] not in state.customers:
        raise bad_request(f"Invalid customerId: {body['customerId']}")
    if "currencyCode" in body and body["currencyCode"] not in state.currencies:
        raise bad_request(f"Currency {body['currencyCode']} is not enabled in this shop")
    if (
        body.get("shippingTrackerType") is not None
        and body["shippingTrackerType"] not in state.tracking_types
    ):
        raise bad_request(f"Invalid shippingTrackerType: {body['shippingTrackerType']}")
    if "createdAt" in body:
        parse_ts(str(body["createdAt"]), "createdAt")


def _apply_scalars(state: ShopState, data: dict[str, Any], body: dict[str, Any]) -> None:
    for key in WRITABLE_SCALARS:
        if key in body and key != "statusId":
            value = body[key]
            if key in MONEY_FIELDS and value is not None:
                value = dec(value)
            if key == "createdAt":
                value = fmt_ts(parse_ts(str(value), "createdAt"))
            data[key] = value
    if "paymentMethodId" in body and body["paymentMethodId"] is not None:
        method = state.payment_methods[body["paymentMethodId"]]
        data["paymentMethodIdCode"] = method["idCode"]
        if "paymentMethodName" not in body:
            data["paymentMethodName"] = method["languages"]["data"][0]["title"][:50]
    if (
        "shippingMethodId" in body
        and body["shippingMethodId"] is not None
        and "shippingMethodName" not in body
    ):
        method = state.shipping_methods[body["shippingMethodId"]]
        data["shippingMethodName"] = method["languages"]["data"][0]["title"][:30]
    if "currencyCode" in body and "currencyExchangeRate" not in body:
        data["currencyExchangeRate"] = state.currencies[body["currencyCode"]]["exchangeRate"]


def _fill_addresses(order: Order, given: dict[str, Any] | None, customer: Customer | None) -> None:
    addresses = {k: dict(v) for k, v in (given or {}).items() if k in ADDRESS_TYPES and isinstance(v, dict)}
    for a, b in (("originalInvoice", "customerInvoice"), ("originalDelivery", "customerDelivery")):
        if a in addresses and b not in addresses:
            addresses[b] = dict(addresses[a])
        if b in addresses and a not in addresses:
            addresses[a] = dict(addresses[b])
    if customer is not None:
        if "customerInvoice" not in addresses and "invoice" in customer.addresses:
            addresses["customerInvoice"] = dict(customer.addresses["invoice"])
            addresses.setdefault("originalInvoice", dict(customer.addresses["invoice"]))
        if "customerDelivery" not in addresses:
            src = customer.addresses.get("delivery") or customer.addresses.get("invoice")
            if src:
                addresses["customerDelivery"] = dict(src)
                addresses.setdefault("originalDelivery", dict(src))
    for inv, dlv in (("originalInvoice", "originalDelivery"), ("customerInvoice", "customerDelivery")):
        if inv in addresses and dlv not in addresses:
            addresses[dlv] = dict(addresses[inv])
    order.addresses = {k: addresses[k] for k in ADDRESS_TYPES if k in addresses}


def guest_customer(state: ShopState, body: dict[str, Any], at: datetime) -> Customer:
    """Starweb keeps a customer (without account) for every order; create one for an anonymous order."""
    addresses = body.get("addresses") or {}
    invoice = addresses.get("customerInvoice") or addresses.get("originalInvoice") or {}
    delivery = addresses.get("customerDelivery") or addresses.get("originalDelivery")
    cid = state.next_id("customer")
    stamp = fmt_ts(at)
    data = {
        "customerId": cid,
        "createdAt": stamp,
        "type": "company" if invoice.get("companyName") else "person",
        "email": body.get("originalCustomerEmail", ""),
        "nationalIdNo": body.get("originalCustomerNationalIdNo", ""),
        "vatNo": body.get("originalCustomerVatNo", ""),
        "customInfo1": "",
        "customInfo2": "",
        "modifiedAt": stamp,
        "approved": None,
        "pricelistId": None,
        "langCode": body.get("langCode", "sv"),
    }
    customer = Customer(data=data, has_account=False, created_ts=at.timestamp(), modified_ts=at.timestamp())
    if invoice:
        customer.addresses["invoice"] = dict(invoice)
    if delivery:
        customer.addresses["delivery"] = dict(delivery)
    state.customers[cid] = customer
    return customer


def new_order(
    state: ShopState, body: dict[str, Any], at: datetime | None = None
) -> tuple[Order, Customer | None]:
    """Create an order from a POST body. Returns the order and a guest customer if one was created."""
    at = at or now()
    _check_refs(state, body)
    items_in = body.get("items") or []
    currency = body.get("currencyCode", state.shop.get("baseCurrency", "SEK"))
    items: dict[int, dict[str, Any]] = {}
    for i, raw in enumerate(items_in):  # before anything is stored: a bad row must change nothing
        if not isinstance(raw, dict):
            raise bad_request("Each order item must be an object")
        items[i + 1] = make_item(state, raw, i + 1, currency, i)
    created_guest: Customer | None = None
    customer = state.customers.get(body["customerId"]) if body.get("customerId") is not None else None
    if customer is None:
        customer = created_guest = guest_customer(state, body, at)
    stamp = fmt_ts(at)
    default_status = state.status_by_code("created")
    vat_se = state.vat_rates.get(state.shop.get("shopCountryCode", "SE"), {})
    data: dict[str, Any] = {
        "orderId": 0,
        "createdAt": stamp,
        "modifiedAt": stamp,
        "baseCurrencyCode": state.shop.get("baseCurrency", "SEK"),
        "shopCountryCode": state.shop.get("shopCountryCode", "SE"),
        "customerId": customer.id,
        "statusId": body.get("statusId", default_status["statusId"] if default_status else 1),
        "sendEmailsOnStatusChange": True,
        "paymentFee": Decimal(0),
        "paymentVatRate": vat_se.get("fixedOrderPaymentVatRate", Decimal(25)),
        "shippingCost": Decimal(0),
        "shippingVatRate": vat_se.get("fixedOrderShippingVatRate", Decimal(25)),
        "customInfo1": "",
        "customInfo2": "",
        "customInfo3": "",
        "customInfo4": "",
        "discountCode": "",
        "amountPaid": Decimal(0),
        "isComplete": True,
        "currencyCode": currency,
        "currencyExchangeRate": state.currencies[currency]["exchangeRate"],
        "currencyPrecision": 2,
        "langCode": customer.data.get("langCode") or "sv",
        "paymentReference": "",
        "paymentStatus": "",
        "isRead": False,
        "hasComments": False,
        "internalComment": "",
        "shippingTrackingNo": "",
        "originalCustomerEmail": customer.data.get("email", ""),
        "originalCustomerNationalIdNo": customer.data.get("nationalIdNo", ""),
        "originalCustomerVatNo": customer.data.get("vatNo", ""),
        "originalCustomerCustomInfo1": customer.data.get("customInfo1", ""),
        "originalCustomerCustomInfo2": customer.data.get("customInfo2", ""),
    }
    if body.get("paymentMethodId") is not None and "paymentFee" not in body:
        data["paymentFee"] = q2(
            state.payment_methods[body["paymentMethodId"]]["fee"] * data["currencyExchangeRate"]
        )
    _apply_scalars(state, data, {k: v for k, v in body.items() if k != "customerId"})
    order = Order(data=data, items=items)
    code = str(body.get("discountCode") or "")
    for row in discount_rows(state, order, code) if code else []:
        n = len(order.items) + 1
        row.update({"itemId": n, "sortIndex": n - 1})
        order.items[n] = row
    _fill_addresses(order, body.get("addresses"), customer)
    order_id = state.next_id("order", start=1001)
    data["orderId"] = order_id
    order.created_ts = parse_ts(data["createdAt"]).timestamp()
    order.modified_ts = at.timestamp()
    compute_totals(state, order)
    state.orders[order_id] = order
    if body.get("onOrderStatusChangeSendEmail", True) and data["isComplete"]:
        _mail(order, "order-confirmation", f"Orderbekräftelse {order_id}", at)
    return order, created_guest


def update_order(state: ShopState, order: Order, body: dict[str, Any], replace: bool = False) -> list[str]:
    """Apply a PATCH/PUT body. Returns the web hook events to send."""
    _check_refs(state, body)
    at = now()
    data = order.data
    events = ["order-updated"]
    was_complete = bool(data.get("isComplete"))
    old_status = data["statusId"]
    new_items: dict[int, dict[str, Any]] | None = None
    if "items" in body and isinstance(body["items"], list):  # build first: a bad row must change nothing
        currency = body.get("currencyCode", data["currencyCode"])
        new_items = {}
        for i, raw in enumerate(body["items"]):
            if not isinstance(raw, dict):
                raise bad_request("Each order item must be an object")
            new_items[i + 1] = make_item(state, raw, i + 1, currency, i)
    _apply_scalars(state, data, body)
    if new_items is not None:
        order.items = new_items
    if isinstance(body.get("addresses"), dict):
        merged = dict(order.addresses) if not replace else {}
        merged.update(
            {k: v for k, v in body["addresses"].items() if k in ADDRESS_TYPES and isinstance(v, dict)}
        )
        order.addresses = {k: merged[k] for k in ADDRESS_TYPES if k in merged}
    if "statusId" in body and body["statusId"] != old_status:
        change_status(
            state,
            order,
            body["statusId"],
            send_email=body.get("onOrderStatusChangeSendEmail", True) is not False,
            process_payment=body.get("onOrderStatusChangeProcessPayment", True) is not False,
            at=at,
            tracking_no=body.get("shippingTrackingNo"),
            tracker_type=body.get("shippingTrackerType"),
        )
        events.append("order-status-changed")
    if data.get("isComplete") and not was_complete:
        events.append("order-completed")
    touch(state, order, at)
    return events


def touch(state: ShopState, order: Order, at: datetime | None = None) -> None:
    at = at or now()
    order.data["modifiedAt"] = fmt_ts(at)
    order.modified_ts = at.timestamp()
    order.data["hasComments"] = bool(order.comments)
    compute_totals(state, order)


def _mail(order: Order, kind: str, subject: str, at: datetime) -> dict[str, Any]:
    mail = {
        "at": fmt_ts(at),
        "type": kind,
        "to": order.data.get("originalCustomerEmail", ""),
        "subject": subject,
    }
    order.mails.append(mail)
    return mail


def change_status(
    state: ShopState,
    order: Order,
    status_id: int,
    *,
    send_email: bool,
    process_payment: bool,
    at: datetime,
    tracking_no: str | None = None,
    tracker_type: int | None = None,
) -> dict[str, Any]:
    """Set a new status and record what the shop did (mail, payment capture/cancel) in the order's log."""
    data = order.data
    status = state.order_statuses[status_id]
    old = data["statusId"]
    data["statusId"] = status_id
    name = status["languages"][0]["name"] if status.get("languages") else str(status_id)
    mail_sent = bool(
        send_email and status.get("shouldSendEmail") and data.get("sendEmailsOnStatusChange", True)
    )
    if mail_sent:
        _mail(order, "status-changed", f"Din order {order.id} har fått status {name}", at)
    action = None
    code = status.get("idCode")
    if (
        process_payment
        and data.get("paymentMethodId") in PROCESSING_PAYMENT_METHODS
        and code in ("completed", "canceled")
    ):
        already = {p["action"] for p in order.payments}
        if code == "completed" and "capture" not in already and "cancel" not in already:
            action = "capture"
            data["paymentStatus"] = "CAPTURED"
            data["amountPaid"] = data.get("totalAmount", Decimal(0))
        elif code == "canceled" and "capture" not in already and "cancel" not in already:
            action = "cancel"
            data["paymentStatus"] = "CANCELLED"
        if action:
            order.payments.append(
                {
                    "at": fmt_ts(at),
                    "action": action,
                    "amount": data.get("totalAmount"),
                    "currencyCode": data.get("currencyCode"),
                    "paymentMethodIdCode": data.get("paymentMethodIdCode"),
                }
            )
    entry = {
        "at": fmt_ts(at),
        "fromStatusId": old,
        "toStatusId": status_id,
        "toStatusIdCode": code,
        "toStatusName": name,
        "onOrderStatusChangeSendEmail": send_email,
        "onOrderStatusChangeProcessPayment": process_payment,
        "mailSent": mail_sent,
        "paymentAction": action,
        "shippingTrackingNo": tracking_no,
        "shippingTrackerType": tracker_type,
    }
    order.status_log.append(entry)
    return entry


# --- output -------------------------------------------------------------------------------


def item_out(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in ("itemId", *ITEM_FIELDS) if k in item}


def order_out(state: ShopState, order: Order, includes: set[str]) -> dict[str, Any]:
    data = order.data
    out = {k: data[k] for k in ORDER_FIELD_ORDER if data.get(k) is not None}
    if "items" in includes:
        out["items"] = {"data": [item_out(i) for i in order.items.values()]}
    if "addresses" in includes:
        out["addresses"] = {"data": order.addresses}
    if "externalServices" in includes:
        out["externalServices"] = {"data": list(order.external_services.values())}
    if "customer" in includes:
        customer = state.customers.get(data.get("customerId"))
        if customer is not None:
            out["customer"] = {"data": customer_out(customer, set())}
    if "status" in includes:
        status = state.order_statuses.get(data["statusId"])
        if status is not None:
            out["status"] = {"data": status}
    return out


def get_order(state: ShopState, order_id: int) -> Order:
    order = state.orders.get(order_id)
    if order is None:
        raise not_found("order")
    return order


__all__ = ["ApiError", "change_status", "compute_totals", "new_order", "order_out", "update_order"]
