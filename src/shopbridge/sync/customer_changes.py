"""A customer who moved: what the order says about its buyer that the Visma customer does not, and the
invoice address the document carries.

The order is the truth for its own invoice: its name, address, e-mail, phone and VAT number. When the
Visma customer differs, the order flow updates it (`update_customers always`, the default) before the
document is created, so the document takes the new address from the customer; the change is a
warning on the order (`shopbridge orders show`). Comparing first and writing only the differences keeps
the update idempotent: a retry after a crash finds nothing left to change.

Where the customer keeps another address (`update_customers never`, or the collective customer for
private buyers) the document carries the order's address wherever Visma lets it be written: an order
takes every invoice field; a draft only `InvoiceAddress1/2` (its name, postal code and city are
read-only, taken from the customer), so when those differ the order's invoice address goes on the
document as a text row above the rows, and the delivery fields (writable on both) are the order's.
"""

from __future__ import annotations

from typing import Any

from shopbridge.domain.models import Address, Customer, Order
from shopbridge.domain.text import MAX_ADDRESS, MAX_CITY, MAX_NAME, MAX_POSTAL_CODE
from shopbridge.visma.mapping import Fitted, customer_body

FIELDS = {
    "Name": "name",
    "InvoiceAddress1": "address",
    "InvoiceAddress2": "address line 2",
    "InvoicePostalCode": "postal code",
    "InvoiceCity": "city",
    "InvoiceCountryCode": "country",
    "EmailAddress": "e-mail",
    "Telephone": "phone",
    "VatNumber": "VAT number",
}
"""The customer fields an order speaks for, and their names in sentences."""
ADDRESS = ("InvoiceAddress1", "InvoiceAddress2", "InvoicePostalCode", "InvoiceCity", "InvoiceCountryCode")


def _norm(key: str, value: Any) -> str:
    text = " ".join(str(value or "").split())
    if key == "InvoicePostalCode":
        return text.replace(" ", "")
    if key in ("EmailAddress", "InvoiceCountryCode", "VatNumber"):
        return text.lower().replace(" ", "")
    return text


def wanted_customer(order: Order) -> dict[str, Any]:
    """The customer fields as the order has them (shortened to Visma's limits like a new customer's)."""
    body, _ = customer_body(
        order.customer, order.billing_address, order.delivery_address, terms_of_payment_id=""
    )
    return {k: body.get(k) for k in FIELDS}


def customer_changes(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Field -> (Visma's value, the order's) for every field the order gives and Visma has otherwise.

    A field the order leaves empty is kept, except the second address line when the address moved (an
    old c/o must not follow the customer to the new address)."""
    moved = any(_norm(k, wanted.get(k)) != _norm(k, current.get(k)) for k in ADDRESS if wanted.get(k))
    out: dict[str, tuple[Any, Any]] = {}
    for key in FIELDS:
        new, old = wanted.get(key), current.get(key)
        if not new and not (key == "InvoiceAddress2" and moved):
            continue
        if _norm(key, new) != _norm(key, old):
            out[key] = (old, new or "")
    return out


def describe(changes: dict[str, tuple[Any, Any]]) -> str:
    """The changes in words: `address Storgatan 1 -> Nygatan 5; e-mail a@x.se -> b@x.se`."""
    return "; ".join(
        f"{FIELDS[k]} {old or '(none)'} -> {new or '(none)'}" for k, (old, new) in changes.items()
    )


def invoice_fields(order: Order, kind: str, customer: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The invoice fields of the document that carry the order's address, and the text row (or None)
    needed where a draft's read-only fields would show the customer's other address."""
    a = order.billing_address or Address()
    f = Fitted()
    if kind == "order":  # every invoice field of an order is writable
        name = a.company if order.customer.is_company and a.company else a.name or order.customer.name
        fields = {
            "InvoiceCustomerName": f.fit(name, MAX_NAME, "invoice name"),
            "InvoiceAddress1": f.fit(a.address1, MAX_ADDRESS, "invoice address"),
            "InvoiceAddress2": f.fit(a.address2, MAX_ADDRESS, "invoice address line 2") or "",
            "InvoicePostalCode": f.fit(a.postal_code, MAX_POSTAL_CODE, "postal code"),
            "InvoiceCity": f.fit(a.city, MAX_CITY, "city"),
            "InvoiceCountryCode": a.country_code or order.customer.country_code,
        }
        return {k: v for k, v in fields.items() if v is not None}, None
    wanted = wanted_customer(order)
    fixed = ("Name", "InvoicePostalCode", "InvoiceCity", "InvoiceCountryCode")  # read-only on a draft
    if all(_norm(k, wanted.get(k)) == _norm(k, customer.get(k)) for k in fixed if wanted.get(k)):
        return {
            "InvoiceAddress1": wanted.get("InvoiceAddress1"),
            "InvoiceAddress2": wanted.get("InvoiceAddress2") or "",
        }, None
    return {}, address_text(order.customer, a)


def address_text(customer: Customer, a: Address) -> str:
    """The order's invoice address as one text row (Swedish, as the invoice is)."""
    who = a.company or a.name or customer.name
    place = " ".join(p for p in (a.postal_code, a.city) if p)
    parts = [
        who,
        a.address2,
        a.address1,
        place,
        a.country_code if a.country_code not in (None, "SE") else None,
    ]
    text = "Fakturaadress: " + ", ".join(p for p in parts if p)
    return text + (f" ({customer.email})" if customer.email else "")
