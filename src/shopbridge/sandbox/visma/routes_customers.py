"""`/v2/customers`: list, create, read, update, delete, and `/{id}/autoinvoicerecipients`.

CustomerNumber (at most 16 characters, unique) comes from the company's customer number series when
not given. `ChangedUtc` is set from the server clock on every create and update.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response

from .api_base import Api, Call, new_id, norm_id
from .errors import CANNOT_BE_DELETED, CONFLICT, VismaError, business_error, not_found, reference_not_found
from .pricing import ZERO
from .routes_labels import CUSTOMER_LABELS, resolve_labels

SCHEMA = "CustomerApi"


def build_customer(api: Api, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    """Merge `body` into `existing` (or a blank record), check references, derive read-only fields."""
    state = api.state
    spec = api.spec
    ro = spec.read_only(SCHEMA)
    rec = dict(existing) if existing else spec.blank(SCHEMA)
    for key, value in body.items():
        if key in rec and key not in ro and key != "TermsOfPayment":
            rec[key] = value
    if "CustomerLabels" in body:
        rec["CustomerLabels"] = resolve_labels(api, CUSTOMER_LABELS, body["CustomerLabels"])
    if existing is None:
        rec["Id"] = new_id()
        rec["UnpaidInvoicesAmount"] = ZERO
        rec["IsFutureInvoiceDateAllowed"] = True
        rec["PayToAccountId"] = next(  # payments are registered on the company's default account
            (b["Id"] for b in state.table("bankaccounts").values() if b.get("IsDefaultChequeAccount")), None
        )
        if not rec.get("CurrencyCode"):
            rec["CurrencyCode"] = state.company.get("CurrencyCode") or "SEK"
        if not rec.get("InvoiceCountryCode"):
            rec["InvoiceCountryCode"] = state.company.get("CountryCode") or "SE"
    # references
    terms = state.table("termsofpayments").get(norm_id(str(rec.get("TermsOfPaymentId") or "")))
    if terms is None:
        raise reference_not_found("TermsOfPaymentId", "Terms of payment", rec.get("TermsOfPaymentId"))
    rec["TermsOfPaymentId"] = terms["Id"]
    rec["TermsOfPayment"] = {k: v for k, v in terms.items() if not k.startswith("_")}
    currency = str(rec.get("CurrencyCode") or state.company.get("CurrencyCode") or "SEK").upper()
    if currency not in state.table("currencies"):
        raise business_error(
            f"CurrencyCode: the currency '{rec.get('CurrencyCode')}' is not activated for this company",
            "CurrencyCode",
        )
    rec["CurrencyCode"] = currency
    for field, table, what in (
        ("DeliveryMethodId", "deliverymethods", "Delivery method"),
        ("DeliveryTermId", "deliveryterms", "Delivery term"),
        ("SalesPriceListId", "salespricelists", "Sales price list"),
    ):
        value = rec.get(field)
        if value:
            if norm_id(str(value)) not in state.table(table):
                raise reference_not_found(field, what, value)
            rec[field] = norm_id(str(value))
    emails = rec.get("EmailAddresses")
    if isinstance(emails, list) and len(emails) > 5:
        raise business_error("EmailAddresses: at most 5 email addresses can be given", "EmailAddresses")
    if emails and not rec.get("EmailAddress"):
        raise business_error("EmailAddresses: needs a primary EmailAddress", "EmailAddresses")
    if rec.get("ReverseChargeOnConstructionServices") and not rec.get("VatNumber"):
        raise business_error(
            "VatNumber: required when ReverseChargeOnConstructionServices is true", "VatNumber"
        )
    # customer number
    number = rec.get("CustomerNumber")
    numbers = state.customer_numbers
    if number:
        owner = numbers.get(str(number))
        if owner is not None and owner != rec["Id"]:
            raise VismaError(
                400,
                CONFLICT,
                f"CustomerNumber: a customer with number '{number}' already exists",
                [
                    {
                        "Field": "CustomerNumber",
                        "ErrorCode": str(CONFLICT),
                        "Message": "Duplicate",
                        "Key": None,
                    }
                ],
            )
    else:
        while str(state.series.customer) in numbers:
            state.series.customer += 1
        number = str(state.series.customer)
        state.series.customer += 1
        rec["CustomerNumber"] = number
    return rec


def store_customer(api: Api, rec: dict[str, Any], previous_number: str | None = None) -> None:
    state = api.state
    if previous_number and state.customer_numbers.get(previous_number) == rec["Id"]:
        del state.customer_numbers[previous_number]
    rec["ChangedUtc"] = api.stamp()
    state.table("customers")[rec["Id"]] = rec
    state.customer_numbers[str(rec["CustomerNumber"])] = rec["Id"]
    state.touch()


def register(api: Api) -> None:
    state = api.state
    customers = state.table("customers")

    async def list_customers(call: Call) -> Any:
        return api.list_response(call, list(customers.values()), SCHEMA)

    async def create(call: Call) -> Any:
        rec = build_customer(api, call.body or {}, None)
        store_customer(api, rec)
        return rec

    async def get(call: Call) -> Any:
        rec = customers.get(call.path["customerId"])
        if rec is None:
            raise not_found("Customer", call.path["customerId"])
        return rec

    async def update(call: Call) -> Any:
        existing = customers.get(call.path["customerId"])
        if existing is None:
            raise not_found("Customer", call.path["customerId"])
        previous = str(existing.get("CustomerNumber") or "")
        rec = build_customer(api, call.body or {}, existing)
        store_customer(api, rec, previous)
        return rec

    async def delete(call: Call) -> Any:
        cid = call.path["customerId"]
        if cid not in customers:
            raise not_found("Customer", cid)
        for table in ("customerinvoicedrafts", "customerinvoices", "orders"):
            if any(doc.get("CustomerId") == cid for doc in state.table(table).values()):
                raise VismaError(
                    400,
                    CANNOT_BE_DELETED,
                    "CanNotBeDeletedException - "
                    "The customer is used on sales documents and can not be deleted.",
                )
        rec = customers.pop(cid)
        state.customer_numbers.pop(str(rec.get("CustomerNumber")), None)
        state.touch()
        return Response(status_code=200)

    async def auto_invoice_recipients(call: Call) -> Any:
        """E-invoice receivers registered for the customer's org number (the sandbox's registry: every
        Swedish business customer with an org number, at Peppol address 0007:<org number>)."""
        rec = customers.get(call.path["customerId"])
        if rec is None:
            raise not_found("Customer", call.path["customerId"])
        org = str(rec.get("CorporateIdentityNumber") or "").replace("-", "").strip()
        rows = []
        if org and not rec.get("IsPrivatePerson") and rec.get("InvoiceCountryCode") in (None, "SE"):
            rows.append(
                {
                    "Name": rec.get("Name"),
                    "ElectronicAddress": rec.get("ElectronicAddress") or f"0007:{org}",
                    "EdiServiceDelivererId": rec.get("EdiServiceDelivererId") or "PEPPOL",
                    "Address1": rec.get("InvoiceAddress1"),
                    "Address2": rec.get("InvoiceAddress2"),
                    "CorporateIdentityNumber": rec.get("CorporateIdentityNumber"),
                    "CountryCode": rec.get("InvoiceCountryCode") or "SE",
                    "City": rec.get("InvoiceCity"),
                    "Gln": rec.get("GLN"),
                    "PostalCode": rec.get("InvoicePostalCode"),
                    "VatNumber": rec.get("VatNumber"),
                }
            )
        return api.list_response(call, rows, "AutoInvoiceAddressApi")

    api.route("GET", "/customers", list_customers)
    api.route("POST", "/customers", create, status=201)
    api.route("GET", "/customers/{customerId}", get)
    api.route("PUT", "/customers/{customerId}", update)
    api.route("DELETE", "/customers/{customerId}", delete)
    api.route("GET", "/customers/{customerId}/autoinvoicerecipients", auto_invoice_recipients)
