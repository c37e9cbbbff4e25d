"""Domain models → Visma wire bodies (customers, invoice drafts, orders).

Pure functions: the flow resolves ids (customer, articles, terms) first and passes them in. Every
value that Visma limits in length is shortened on a word boundary, and each shortening comes back
as a warning so the user sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shopbridge.domain.models import Address, Customer, LineKind, Order, Warning
from shopbridge.domain.money import normalize_rate
from shopbridge.domain.text import (
    MAX_ADDRESS,
    MAX_CITY,
    MAX_CUSTOMER_NUMBER,
    MAX_NAME,
    MAX_POSTAL_CODE,
    shorten,
)
from shopbridge.visma.rows import PlannedRow
from shopbridge.visma.schemas import CustomerInvoiceDraftRow, OrderRow

MAX_ROW_TEXT = 2000
ROW_FIELDS = {  # the row schema of each document kind
    "order": frozenset(OrderRow.model_fields),
    "invoice_draft": frozenset(CustomerInvoiceDraftRow.model_fields),
    "invoice": frozenset(CustomerInvoiceDraftRow.model_fields),  # a draft, booked right after
}
MAX_REFERENCE = 100


@dataclass(frozen=True)
class ArticleRef:
    """What the document builder needs of one Visma article."""

    id: str
    number: str
    vat_rate: Decimal
    name: str = ""
    is_active: bool = True


@dataclass
class Fitted:
    """Values shortened to Visma's limits, and the warnings that tell which were."""

    warnings: list[Warning] = field(default_factory=list)

    def fit(self, value: str | None, max_len: int, label: str) -> str | None:
        if value is None:
            return None
        short, warning = shorten(value, max_len, field=label)
        if warning is not None:
            self.warnings.append(warning)
        return short or None


def customer_body(
    customer: Customer,
    address: Address | None,
    delivery: Address | None,
    *,
    terms_of_payment_id: str,
    customer_number: str | None = None,
    currency: str | None = None,
) -> tuple[dict[str, Any], list[Warning]]:
    """A new Visma customer (`POST /v2/customers`) for a shop customer."""
    f = Fitted()
    a = address or Address()
    body: dict[str, Any] = {
        "Name": f.fit(customer.name, MAX_NAME, "customer name"),
        "IsPrivatePerson": not customer.is_company,
        "IsActive": True,
        "TermsOfPaymentId": terms_of_payment_id,
        "InvoiceAddress1": f.fit(a.address1, MAX_ADDRESS, "invoice address"),
        "InvoiceAddress2": f.fit(a.address2, MAX_ADDRESS, "invoice address line 2"),
        "InvoicePostalCode": f.fit(a.postal_code, MAX_POSTAL_CODE, "postal code") or "",
        "InvoiceCity": f.fit(a.city, MAX_CITY, "city") or "",
        "InvoiceCountryCode": a.country_code or customer.country_code,
        "EmailAddress": customer.email,
        "Telephone": customer.phone,
        "CurrencyCode": currency or customer.currency,
    }
    if customer_number:
        body["CustomerNumber"] = f.fit(customer_number, MAX_CUSTOMER_NUMBER, "customer number")
    if customer.is_company:
        body["CorporateIdentityNumber"] = customer.org_number
        body["VatNumber"] = customer.vat_number
        person = " ".join(p for p in (customer.first_name, customer.last_name) if p)
        if person:
            body["ContactPersonName"] = f.fit(person, 100, "contact person")
    if delivery and delivery != address:
        body.update(
            DeliveryCustomerName=f.fit(delivery.company or delivery.name, 100, "delivery name"),
            DeliveryAddress1=f.fit(delivery.address1, MAX_ADDRESS, "delivery address"),
            DeliveryAddress2=f.fit(delivery.address2, MAX_ADDRESS, "delivery address line 2"),
            DeliveryPostalCode=f.fit(delivery.postal_code, MAX_POSTAL_CODE, "delivery postal code"),
            DeliveryCity=f.fit(delivery.city, MAX_CITY, "delivery city"),
            DeliveryCountryCode=delivery.country_code,
        )
    return {k: v for k, v in body.items() if v is not None}, f.warnings


def row_body(article: ArticleRef, planned: PlannedRow, text: str) -> dict[str, Any]:
    """The wire row of a planned row (`visma/rows.py`): quantity, unit price and discount as planned."""
    row: dict[str, Any] = {
        "ArticleId": article.id,
        "IsTextRow": False,
        "Text": text[:MAX_ROW_TEXT] or article.name,
        "Quantity": planned.quantity,
        "UnitPrice": planned.unit_price,
        "ReversedConstructionServicesVatFree": False,
        "EligibleForReverseChargeOnVat": False,
    }
    if planned.discount:
        row["DiscountPercentage"] = planned.discount
    return row


def document_body(
    order: Order,
    *,
    kind: str,
    customer_id: str,
    rows: list[dict[str, Any]],
    reference_field: str,
    terms_of_payment_id: str | None = None,
) -> tuple[dict[str, Any], list[Warning]]:
    """The invoice draft (`kind="invoice_draft"`, or `"invoice"`: booked right after) or order
    (`kind="order"`) body for `order`."""
    f = Fitted()
    numbered = [{**row, "LineNumber": i} for i, row in enumerate(rows, start=1)]
    body: dict[str, Any] = {
        "CustomerId": customer_id,
        "Rows": numbered,
        "EuThirdParty": False,
        "RotReducedInvoicingType": 0,
        reference_field: f.fit(order.reference, MAX_REFERENCE, reference_field),
    }
    if terms_of_payment_id:
        body["TermsOfPaymentId"] = terms_of_payment_id
    d = order.delivery_address
    if d is not None:
        body.update(
            DeliveryCustomerName=f.fit(d.company or d.name, MAX_NAME, "delivery name"),
            DeliveryAddress1=f.fit(d.address1, MAX_ADDRESS, "delivery address"),
            DeliveryAddress2=f.fit(d.address2, MAX_ADDRESS, "delivery address line 2"),
            DeliveryPostalCode=f.fit(d.postal_code, MAX_POSTAL_CODE, "delivery postal code"),
            DeliveryCity=f.fit(d.city, MAX_CITY, "delivery city"),
            DeliveryCountryCode=d.country_code,
        )
    if order.shipping_method:
        body["DeliveryMethodName"] = f.fit(order.shipping_method, MAX_NAME, "delivery method")
    date = order.created_at.date().isoformat()
    if kind == "order":
        body.update(
            CurrencyCode=order.currency,
            Status=1,
            OrderDate=date,
            ReverseChargeOnConstructionServices=False,
            Rows=[{**row, "IsWorkCost": False} for row in numbered],
        )
    else:
        body["InvoiceDate"] = date
    # each document's rows carry only the fields its schema knows (Visma refuses unknown fields)
    known = ROW_FIELDS[kind]
    body["Rows"] = [{k: v for k, v in row.items() if k in known} for row in body["Rows"]]
    return {k: v for k, v in body.items() if v is not None}, f.warnings


def visma_rate(value: Any) -> Decimal:
    """Visma gives VAT rates as fractions (`VatRatePercent` 0.25, row `VatRate` 0.25); we speak percent."""
    d = Decimal(str(value))
    return normalize_rate(d * 100 if d < 1 else d)


def document_vat_rates(document: dict[str, Any]) -> dict[Decimal, tuple[Decimal, Decimal]]:
    """Net amount per VAT rate from a created document's rows (`Amount`, `VatRate`)."""
    out: dict[Decimal, tuple[Decimal, Decimal]] = {}
    for row in document.get("Rows") or []:
        if row.get("IsTextRow"):
            continue
        rate = visma_rate(row.get("VatRate") or 0)
        net = Decimal(str(row.get("Amount") or 0))
        prev = out.get(rate, (Decimal(0), Decimal(0)))
        out[rate] = (prev[0] + net, prev[1])
    return out


SPECIAL_KINDS = {
    LineKind.SHIPPING: "shipping",
    LineKind.PAYMENT_FEE: "payment fee",
    LineKind.DISCOUNT: "discount",
}
