"""Starweb wire data → neutral domain models (`shopbridge.domain.models`).

Works on the wire JSON (dicts, numbers already Decimal) or the client's pydantic models, so the
flow can hand over whatever the client returned. Nothing here calls the network.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from shopbridge.domain.models import Address, Customer, CustomerKind, LineKind, Order, OrderLine
from shopbridge.domain.money import round_half_up


def as_dict(value: Any) -> dict[str, Any]:
    """Wire JSON as a dict, whether it came as a dict or a pydantic model."""
    if value is None:
        return {}
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True)
    return dict(value)


def _unwrap(value: Any) -> Any:
    """Starweb wraps included children as `{"data": ...}`."""
    value = value.model_dump(by_alias=True) if isinstance(value, BaseModel) else value
    if isinstance(value, dict) and set(value) <= {"data", "meta"}:
        return value.get("data")
    return value


def _dec(value: Any, default: str = "0") -> Decimal:
    if value is None or value == "":
        return Decimal(default)
    if isinstance(value, float):  # only when someone bypassed parse_float=Decimal
        return Decimal(repr(value))
    return Decimal(str(value))


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif value:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    else:
        moment = datetime.now(UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _blank(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def address_from_wire(raw: Any) -> Address | None:
    """One Starweb `AddressModel` as a domain address (None when empty)."""
    a = as_dict(raw)
    if not any(a.values()):
        return None
    person = " ".join(p for p in (_blank(a.get("firstName")), _blank(a.get("lastName"))) if p)
    lines = [_blank(a.get("careOf")) and f"c/o {a['careOf'].strip()}", _blank(a.get("address"))]
    lines = [line for line in lines if line]
    return Address(
        name=person or None,
        company=_blank(a.get("companyName")),
        address1=lines[-1] if lines else None,
        address2=lines[0] if len(lines) > 1 else None,
        postal_code=_blank(a.get("postalCode")),
        city=_blank(a.get("city")),
        region=_blank(a.get("state")),
        country_code=_blank(a.get("countryCode")),
        phone=_blank(a.get("mobilePhoneNo")) or _blank(a.get("phoneNo")),
    )


def customer_from_wire(order: dict[str, Any], billing: Address | None) -> Customer:
    """The buyer, from the order's customer (if included) and its invoice address."""
    cust = as_dict(_unwrap(order.get("customer")))
    is_company = cust.get("type") == "company" or bool(billing and billing.company)
    vat_no = _blank(order.get("originalCustomerVatNo")) or _blank(cust.get("vatNo"))
    national_id = _blank(order.get("originalCustomerNationalIdNo")) or _blank(cust.get("nationalIdNo"))
    person = billing.name if billing else None
    company = billing.company if billing else None
    name = (company if is_company and company else person) or company or "Okänd kund"
    first, _, last = (person or "").partition(" ")
    return Customer(
        kind=CustomerKind.COMPANY if is_company else CustomerKind.PRIVATE,
        source_id=str(order["customerId"]) if order.get("customerId") else None,
        name=name,
        first_name=first or None,
        last_name=last or None,
        company_name=company,
        org_number=national_id if is_company else None,
        vat_number=vat_no,
        country_code=billing.country_code if billing else None,
        email=_blank(order.get("originalCustomerEmail")) or _blank(cust.get("email")),
        phone=billing.phone if billing else None,
        currency=_blank(order.get("currencyCode")),
    )


def item_net(price: Decimal, quantity: Decimal, discount: Decimal | None, by_amount: bool) -> Decimal:
    """An order item's net amount the way Starweb computes it: the row rounded to öre first, then a
    percent discount rounded on its own (or an amount discount taken once for the row)."""
    gross = round_half_up(price * quantity)
    if not discount:
        return gross
    return gross - (discount if by_amount else round_half_up(gross * discount / Decimal(100)))


def lines_from_wire(order: dict[str, Any]) -> list[OrderLine]:
    """Order items, then shipping and payment fee, as domain lines.

    An item without SKU and with a negative price is a discount-code row.
    """
    items = _unwrap(order.get("items")) or []
    items = sorted((as_dict(i) for i in items), key=lambda i: (i.get("sortIndex") or 0, i.get("itemId") or 0))
    lines: list[OrderLine] = []
    for item in items:
        price = _dec(item.get("unitPrice"))
        discount = _dec(item.get("discount")) if item.get("discount") not in (None, "") else None
        by_amount = (item.get("discountType") or "percent") == "amount"
        sku = _blank(item.get("sku"))
        kind = LineKind.DISCOUNT if (sku is None and price < 0) else LineKind.ITEM
        lines.append(
            OrderLine(
                kind=kind,
                line_total_ex_vat=item_net(price, _dec(item.get("quantity"), "1"), discount, by_amount),
                source_id=item.get("itemId"),
                sku=sku,
                name=_blank(item.get("description")) or (sku or ""),
                quantity=_dec(item.get("quantity"), "1"),
                unit=_blank(item.get("unitSymbol")),
                unit_price_ex_vat=price,
                vat_rate=_dec(item.get("vatRate")),
                discount_percent=discount if discount and not by_amount else None,
                discount_amount=discount if discount and by_amount else None,
            )
        )
    shipping = _dec(order.get("shippingCost"))
    if shipping:
        lines.append(
            OrderLine(
                kind=LineKind.SHIPPING,
                name=_blank(order.get("shippingMethodName")) or "Frakt",
                unit_price_ex_vat=shipping,
                vat_rate=_dec(order.get("shippingVatRate")),
            )
        )
    fee = _dec(order.get("paymentFee"))
    if fee:
        lines.append(
            OrderLine(
                kind=LineKind.PAYMENT_FEE,
                name=_blank(order.get("paymentMethodName")) or "Avgift",
                unit_price_ex_vat=fee,
                vat_rate=_dec(order.get("paymentVatRate")),
            )
        )
    return lines


def order_from_wire(raw: Any, *, shop_id: str = "1", reference_prefix: str = "Starweb ") -> Order:
    """A Starweb order (fetched with `include=items,addresses,customer`) as a domain order."""
    order = as_dict(raw)
    addresses = as_dict(_unwrap(order.get("addresses")))
    billing = address_from_wire(addresses.get("customerInvoice") or addresses.get("originalInvoice"))
    delivery = address_from_wire(addresses.get("customerDelivery") or addresses.get("originalDelivery"))
    lines = lines_from_wire(order)
    total_inc = _dec(order.get("totalAmount"))
    total_vat = _dec(order.get("totalVat"))
    number = str(order.get("orderId"))
    return Order(
        source_shop_id=shop_id,
        order_id=number,
        number=number,
        created_at=_when(order.get("createdAt")),
        status_id=order.get("statusId"),
        is_complete=bool(order.get("isComplete")),
        currency=_blank(order.get("currencyCode")) or _blank(order.get("baseCurrencyCode")) or "SEK",
        currency_rate=_dec(rate) if (rate := order.get("currencyExchangeRate")) else None,
        payment_method=_blank(order.get("paymentMethodName")),
        payment_method_code=_blank(order.get("paymentMethodIdCode")),
        shipping_method=_blank(order.get("shippingMethodName")),
        customer=customer_from_wire(order, billing),
        billing_address=billing,
        delivery_address=delivery,
        lines=lines,
        total_ex_vat=total_inc - total_vat,
        total_inc_vat=total_inc,
        discount_code=_blank(order.get("discountCode")),
        reference=f"{reference_prefix}{number}",
    )


def external_service(raw: Any, service_name: str) -> str | None:
    """The `externalIdValue` the order carries for `service_name`, if any."""
    order = as_dict(raw)
    for entry in _unwrap(order.get("externalServices")) or []:
        entry = as_dict(entry)
        if entry.get("serviceName") == service_name:
            return _blank(entry.get("externalIdValue"))
    return None


def order_facts(raw: Any) -> dict[str, Any]:
    """What people look an order up by (customer, e-mail, date, total), for the transfer log.

    Read leniently: a field the order lacks is None, never an error.
    """
    order = as_dict(raw)
    addresses = as_dict(_unwrap(order.get("addresses")))
    billing = address_from_wire(addresses.get("customerInvoice") or addresses.get("originalInvoice"))
    cust = as_dict(_unwrap(order.get("customer")))
    person = billing.name if billing else None
    company = billing.company if billing else None
    name = company or person or _blank(" ".join(filter(None, (cust.get("firstName"), cust.get("lastName")))))
    try:
        created = _when(order.get("createdAt")) if order.get("createdAt") else None
    except (TypeError, ValueError):
        created = None
    try:
        total = _dec(order.get("totalAmount")) if order.get("totalAmount") is not None else None
    except (ArithmeticError, TypeError, ValueError):
        total = None
    currency = _blank(order.get("currencyCode")) or _blank(order.get("baseCurrencyCode"))
    email = _blank(order.get("originalCustomerEmail")) or _blank(cust.get("email"))
    return {
        "customer_name": name[:200] if name else None,
        "customer_email": email[:254].lower() if email else None,
        "ordered_at": created,
        "total_amount": total,
        "currency": currency[:3].upper() if currency else None,
    }
