"""Customer invoice drafts, customer invoices and invoice payments.

* Drafts: list, create, read, update, delete, `/dryrun` (validate and price, store nothing) and
  `/{id}/convert` -> a customer invoice numbered from the invoice series (the draft is removed).
* Invoices: list (`modifiedSinceUtc`, `$filter` on ModifiedUtc ...), read, create (from rows, or from
  a draft via `CreatedFromDraftId`), `/{id}/payments` (reduces RemainingAmount; 0 means paid).
* Payments (`InvoicePaymentApi.PaymentType`): 1 PartialPayment and 2 CompletePayment take at most what
  remains; 3 Rounding settles the invoice with the payment and books the difference (under one whole
  unit of the currency, either way) as a rounding (öresavrundning), 4 BankCharge settles it and books
  the (non-negative) shortfall as a bank charge. On a credit invoice every amount is negative (a refund).
* Sending: `/{id}/email` (EmailApi: to the given address, else the invoice's, else the customer's) and
  `/{id}/einvoice` (ElectronicInvoiceRequestApi.SendType: 1 AutoInvoiceElectronic needs the customer's
  ElectronicAddress or GLN, 2 AutoInvoicePrint an invoice address, 3 AutoInvoiceB2C is not for Swedish
  customers, 4 Kivra a private person with a personal identity number); an e-invoice sets the
  invoice's `SendType`. What was sent is listed at `GET /_sandbox/visma/sent`.
* Credit invoices: `IsCreditInvoice: true` with negative quantities; the total must not be positive.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from fastapi.responses import Response

from .api_base import Api, Call, new_id, norm_id
from .clock import parse_datetime
from .documents import Priced, Sales, ocr_reference, parse_date_field
from .errors import business_error, not_found, reference_not_found, validation_error
from .pricing import ZERO, dec, q2, to_base

DRAFT = "CustomerInvoiceDraftApi"
INVOICE = "CustomerInvoiceApi"
PARTIAL, COMPLETE, ROUNDING, BANK_CHARGE = 1, 2, 3, 4  # InvoicePaymentApi.PaymentType
ROUNDING_LIMIT = Decimal(1)  # a rounding payment settles a difference of less than one whole unit
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SEND_TYPES = {1: "AutoInvoiceElectronic", 2: "AutoInvoicePrint", 3: "AutoInvoiceB2C", 4: "Kivra"}
SANDBOX_USER_ID = "5a9d0b8e-0000-4000-8000-00000000c0de"


def check_credit(is_credit: bool, total: Decimal) -> None:
    if is_credit and total > 0:
        raise business_error(
            "IsCreditInvoice: a credit invoice must have a negative total (use negative quantities)",
            "IsCreditInvoice",
        )


def build_draft(sales: Sales, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    """A priced draft record from a request body (merged into `existing` for PUT)."""
    api = sales.api
    ro = api.spec.read_only(DRAFT)
    rec = dict(existing) if existing else api.spec.blank(DRAFT)
    for key, value in body.items():
        if key in rec and key not in ro and key != "Rows":
            rec[key] = value
    if existing is None:
        rec["Id"] = new_id()
        rec["CreatedUtc"] = api.stamp()
    customer = sales.customer(rec.get("CustomerId"))
    rec["CustomerId"] = customer["Id"]
    currency = str(customer.get("CurrencyCode") or sales.company_currency())
    rate = sales.currency_rate(currency, "CustomerId")
    terms = sales.terms(rec.get("TermsOfPaymentId") or customer.get("TermsOfPaymentId"))
    rec["TermsOfPaymentId"] = terms["Id"]
    raw_rows = body["Rows"] if "Rows" in body else (existing or {}).get("Rows") or []
    priced = sales.price_rows(
        raw_rows,
        kind="draft",
        customer=customer,
        currency=currency,
        rate=rate,
        replace_zero=bool(rec.get("ReplaceUnitPriceWhenZero")),
    )
    rec["Rows"] = priced.rows
    sales.fill_addresses(rec, customer, body if existing is None else {**existing, **body}, ro)
    rec.update(
        {
            "CustomerNumber": customer.get("CustomerNumber"),
            "CustomerName": customer.get("Name"),
            "InvoiceCurrencyCode": currency,
            "CustomerIsPrivatePerson": bool(customer.get("IsPrivatePerson")),
            "ReverseChargeOnConstructionServices": bool(customer.get("ReverseChargeOnConstructionServices")),
            "IncludesVat": priced.includes_vat,
            "InvoiceDate": parse_date_field(rec.get("InvoiceDate"), "InvoiceDate"),
            "DeliveryDate": parse_date_field(rec.get("DeliveryDate"), "DeliveryDate"),
            "DueDate": parse_date_field(rec.get("DueDate"), "DueDate"),
            "TotalAmount": priced.totals.total,
            "TotalVatAmount": priced.totals.vat,
            "TotalRoundings": priced.totals.roundings,
            "TotalAmountBaseCurrency": to_base(priced.totals.total, rate),
            "TotalVatAmountBaseCurrency": to_base(priced.totals.vat, rate),
        }
    )
    if rec["InvoiceDate"] and not body.get("DueDate"):
        rec["DueDate"] = sales.due_date(rec["InvoiceDate"], terms)
    sales.clip(rec, DRAFT)
    check_credit(bool(rec.get("IsCreditInvoice")), priced.totals.total)
    return rec


def invoice_from(
    sales: Sales,
    header: dict[str, Any],
    raw_rows: list[dict[str, Any]],
    *,
    currency: str | None = None,
    currency_rate: Decimal | None = None,
    invoice_date: str | None = None,
    draft_id: str | None = None,
    order_id: str | None = None,
) -> tuple[dict[str, Any], Priced]:
    """Build (not store) a customer invoice from a draft, an order or a POST body."""
    api = sales.api
    state = api.state
    ro = api.spec.read_only(INVOICE)
    rec = api.spec.blank(INVOICE)
    for key, value in header.items():
        if key in rec and key not in ro and key not in ("Rows", "Id"):
            rec[key] = value
    customer = sales.customer(header.get("CustomerId"))
    currency = currency or str(customer.get("CurrencyCode") or sales.company_currency())
    table_rate = sales.currency_rate(currency, "CurrencyCode")
    rate = currency_rate if currency_rate is not None else table_rate
    if currency == sales.company_currency():
        rate = Decimal(1)
    terms = sales.terms(header.get("TermsOfPaymentId") or customer.get("TermsOfPaymentId"))
    priced = sales.price_rows(
        raw_rows,
        kind="invoice",
        customer=customer,
        currency=currency,
        rate=rate,
        replace_zero=bool(header.get("ReplaceUnitPriceWhenZero")),
    )
    totals = priced.totals
    check_credit(bool(header.get("IsCreditInvoice")), totals.total)
    number = state.series.invoice
    day = invoice_date or parse_date_field(header.get("InvoiceDate"), "InvoiceDate") or sales.today()
    stamp = api.stamp()
    sales.fill_addresses(rec, customer, header, ro)
    total_base = to_base(totals.total, rate)
    rec.update(
        {
            "Id": new_id(),
            "InvoiceNumber": number,
            "CustomerId": customer["Id"],
            "CustomerNumber": customer.get("CustomerNumber"),
            "CustomerName": customer.get("Name"),
            "CustomerEmail": customer.get("EmailAddress"),
            "CustomerIsPrivatePerson": bool(customer.get("IsPrivatePerson")),
            "ReverseChargeOnConstructionServices": bool(customer.get("ReverseChargeOnConstructionServices")),
            "ElectronicAddress": customer.get("ElectronicAddress"),
            "IncludesVat": priced.includes_vat,
            "CurrencyCode": currency,
            "CurrencyRate": rate,
            "TermsOfPaymentId": terms["Id"],
            "InvoiceDate": day,
            "DueDate": parse_date_field(header.get("DueDate"), "DueDate") or sales.due_date(day, terms),
            "DeliveryDate": parse_date_field(header.get("DeliveryDate"), "DeliveryDate"),
            "Rows": priced.rows,
            "TotalAmount": total_base,
            "TotalVatAmount": to_base(totals.vat, rate),
            "TotalRoundings": to_base(totals.roundings, rate),
            "TotalAmountInvoiceCurrency": totals.total,
            "TotalVatAmountInvoiceCurrency": totals.vat,
            "SetOffAmountInvoiceCurrency": ZERO,
            "VatSpecification": [
                {"AmountInvoiceCurrency": r.net, "VatAmountInvoiceCurrency": r.vat, "VatPercent": r.rate}
                for r in totals.per_rate
            ],
            "RemainingAmount": total_base,
            "RemainingAmountInvoiceCurrency": totals.total,
            "PaymentStatus": 0 if totals.total == 0 else 1,
            "PaymentDate": None,
            "CreatedFromDraftId": draft_id,
            "CreatedFromOrderId": order_id,
            "CreatedByUserId": SANDBOX_USER_ID,
            "VoucherId": new_id(),
            "VoucherNumber": f"F {number}",
            "PaymentReferenceNumber": ocr_reference(number)
            if state.company.get("UsesPaymentReferenceNumber")
            else None,
            "CreatedUtc": stamp,
            "ModifiedUtc": stamp,
            "CreditedBy": [],
            "SendType": header.get("SendType"),
        }
    )
    for key in ("DeliveryMethodName", "DeliveryMethodCode", "DeliveryTermName", "DeliveryTermCode"):
        if header.get(key) is not None:
            rec[key] = header[key]
    sales.clip(rec, INVOICE)
    return rec, priced


def store_invoice(sales: Sales, rec: dict[str, Any], priced: Priced, *, from_order: bool = False) -> None:
    """Keep the invoice, advance the series, draw stock down, update the customer's open amount."""
    state = sales.state
    state.series.invoice = max(state.series.invoice, int(rec["InvoiceNumber"]) + 1)
    state.table("customerinvoices")[rec["Id"]] = rec
    if from_order:
        sales.move_stock(priced.article_qty, balance_sign=-1, reserved_sign=-1)
    else:
        sales.move_stock(priced.article_qty, balance_sign=-1)
    customer = state.table("customers").get(rec["CustomerId"])
    if customer is not None:
        customer["UnpaidInvoicesAmount"] = dec(customer.get("UnpaidInvoicesAmount")) + dec(
            rec["RemainingAmount"]
        )
        last = customer.get("LastInvoiceDate")
        if not last or parse_datetime(last) < parse_datetime(rec["InvoiceDate"]):
            customer["LastInvoiceDate"] = rec["InvoiceDate"]
    state.touch()


def refresh_payment_status(rec: dict[str, Any], today: str) -> dict[str, Any]:
    """0 paid, 1 unpaid, 2 overdue (due date passed with money left)."""
    if dec(rec.get("RemainingAmountInvoiceCurrency")) == 0:
        rec["PaymentStatus"] = 0
    elif rec.get("DueDate") and rec["DueDate"][:10] < today[:10]:
        rec["PaymentStatus"] = 2
    else:
        rec["PaymentStatus"] = 1
    return rec


def register(api: Api, sales: Sales) -> None:
    state = api.state
    drafts = state.table("customerinvoicedrafts")
    invoices = state.table("customerinvoices")

    # ---- drafts ------------------------------------------------------------------------------------
    async def list_drafts(call: Call) -> Any:
        return api.list_response(call, list(drafts.values()), DRAFT)

    async def create_draft(call: Call) -> Any:
        sales.require_fiscal_year()
        rec = build_draft(sales, call.body or {}, None)
        drafts[rec["Id"]] = rec
        state.touch()
        return rec

    async def dryrun_draft(call: Call) -> Any:
        return build_draft(sales, call.body or {}, None)

    async def get_draft(call: Call) -> Any:
        rec = drafts.get(call.path["invoiceDraftId"])
        if rec is None:
            raise not_found("Customer invoice draft", call.path["invoiceDraftId"])
        return rec

    async def update_draft(call: Call) -> Any:
        existing = drafts.get(call.path["customerInvoiceDraftId"])
        if existing is None:
            raise not_found("Customer invoice draft", call.path["customerInvoiceDraftId"])
        rec = build_draft(sales, call.body or {}, existing)
        drafts[rec["Id"]] = rec
        state.touch()
        return rec

    async def delete_draft(call: Call) -> Any:
        if drafts.pop(call.path["customerInvoiceDraftId"], None) is None:
            raise not_found("Customer invoice draft", call.path["customerInvoiceDraftId"])
        state.touch()
        return Response(status_code=200)

    async def convert_draft(call: Call) -> Any:
        draft_id = call.path["customerInvoiceDraftId"]
        draft = drafts.get(draft_id)
        if draft is None:
            raise not_found("Customer invoice draft", draft_id)
        sales.require_fiscal_year()
        sales.require_invoice_series()
        keep = call.qbool("keepOriginalDraftDate") or (
            bool(state.company.get("KeepOriginalDraftDate"))
            and not call.qbool("overrideCompanyKeepOriginalDraftDate")
        )
        header = dict(draft)
        if not keep:
            header["InvoiceDate"] = None
            header["DueDate"] = None
        rec, priced = invoice_from(sales, header, draft.get("Rows") or [], draft_id=draft_id)
        check_expected_totals(call.body, rec)
        store_invoice(sales, rec, priced)
        del drafts[draft_id]
        return rec

    api.route("GET", "/customerinvoicedrafts", list_drafts)
    api.route("POST", "/customerinvoicedrafts", create_draft, status=201)
    api.route(
        "POST", "/customerinvoicedrafts/dryrun", dryrun_draft, body_schema=("POST", "/customerinvoicedrafts")
    )
    api.route("GET", "/customerinvoicedrafts/{invoiceDraftId}", get_draft)
    api.route("PUT", "/customerinvoicedrafts/{customerInvoiceDraftId}", update_draft)
    api.route("DELETE", "/customerinvoicedrafts/{customerInvoiceDraftId}", delete_draft)
    api.route("POST", "/customerinvoicedrafts/{customerInvoiceDraftId}/convert", convert_draft, status=201)

    # ---- invoices ----------------------------------------------------------------------------------
    async def list_invoices(call: Call) -> Any:
        today = sales.today()
        rows = [refresh_payment_status(r, today) for r in invoices.values()]
        extra = api.since_filter(call, "modifiedSinceUtc", "ModifiedUtc")
        return api.list_response(call, rows, INVOICE, extra=extra)

    async def get_invoice(call: Call) -> Any:
        rec = invoices.get(call.path["invoiceId"])
        if rec is None:
            raise not_found("Customer invoice", call.path["invoiceId"])
        return refresh_payment_status(rec, sales.today())

    async def create_invoice(call: Call) -> Any:
        body = call.body or {}
        sales.require_fiscal_year()
        sales.require_invoice_series()
        draft_id = body.get("CreatedFromDraftId")
        if draft_id:
            draft = drafts.get(norm_id(str(draft_id)))
            if draft is None:
                raise reference_not_found("CreatedFromDraftId", "Customer invoice draft", draft_id)
            header = {**draft, **{k: v for k, v in body.items() if k != "Rows"}}
            rec, priced = invoice_from(
                sales, header, draft.get("Rows") or [], draft_id=draft["Id"], currency_rate=_rate(body)
            )
            store_invoice(sales, rec, priced)
            del drafts[draft["Id"]]
            return rec
        rec, priced = invoice_from(sales, body, body.get("Rows") or [], currency_rate=_rate(body))
        store_invoice(sales, rec, priced)
        return rec

    async def pay(call: Call) -> Any:
        rec = invoices.get(call.path["invoiceId"])
        if rec is None:
            raise not_found("Customer invoice", call.path["invoiceId"])
        body = call.body or {}
        payment = register_payment(sales, rec, body)
        return payment

    def invoice_of(call: Call) -> dict[str, Any]:
        rec = invoices.get(call.path["invoiceId"])
        if rec is None:
            raise not_found("Customer invoice", call.path["invoiceId"])
        return rec

    async def email(call: Call) -> Any:
        send_email(sales, invoice_of(call), call.body or {})
        return Response(status_code=200)

    async def einvoice(call: Call) -> Any:
        send_einvoice(sales, invoice_of(call), call.body or {})
        return Response(status_code=200)

    api.route("GET", "/customerinvoices", list_invoices)
    api.route("POST", "/customerinvoices", create_invoice, status=201)
    api.route("GET", "/customerinvoices/{invoiceId}", get_invoice)
    api.route("POST", "/customerinvoices/{invoiceId}/payments", pay, status=201)
    api.route("POST", "/customerinvoices/{invoiceId}/email", email)
    api.route("POST", "/customerinvoices/{invoiceId}/einvoice", einvoice)


def _rate(body: dict[str, Any]) -> Decimal | None:
    value = body.get("CurrencyRate")
    if value is None:
        return None
    rate = dec(value)
    if rate <= 0:
        raise validation_error("CurrencyRate: must be greater than 0", "CurrencyRate")
    return rate


def check_expected_totals(body: Any, invoice: dict[str, Any]) -> None:
    """`CustomerInvoiceDraftValidationApi`: refuse the conversion when the caller's totals differ."""
    if not isinstance(body, dict):
        return
    checks = (
        ("TotalAmountInvoiceCurrency", "TotalAmountInvoiceCurrency"),
        ("TotalVatAmountInvoiceCurrency", "TotalVatAmountInvoiceCurrency"),
        ("TotalRoundingsInvoiceCurrency", "TotalRoundings"),
    )
    for field, ours in checks:
        if body.get(field) is None:
            continue
        expected, actual = q2(dec(body[field])), q2(dec(invoice.get(ours)))
        if expected != actual:
            raise business_error(f"{field}: expected {expected} but the invoice amounts to {actual}", field)
    by_line = {r.get("LineNumber"): r for r in invoice.get("Rows") or []}
    for idx, row in enumerate(body.get("Rows") or []):
        target = by_line.get(row.get("LineNumber"))
        if target is None:
            raise validation_error(
                f"Rows[{idx}].LineNumber: no row with line number {row.get('LineNumber')}",
                f"Rows[{idx}].LineNumber",
            )
        if row.get("TotalAmountNoVatInvoiceCurrency") is not None:
            expected, actual = (
                q2(dec(row["TotalAmountNoVatInvoiceCurrency"])),
                q2(dec(target.get("AmountNoVat"))),
            )
            if expected != actual:
                raise business_error(
                    f"Rows[{idx}].TotalAmountNoVatInvoiceCurrency: expected {expected} "
                    f"but the row amounts to {actual}",
                    f"Rows[{idx}].TotalAmountNoVatInvoiceCurrency",
                )
        if row.get("TotalAmountIncVatInvoiceCurrency") is not None:
            inc = q2(dec(target.get("AmountNoVat")) * (1 + dec(target.get("VatRate"))))
            expected = q2(dec(row["TotalAmountIncVatInvoiceCurrency"]))
            if expected != inc:
                raise business_error(
                    f"Rows[{idx}].TotalAmountIncVatInvoiceCurrency: expected {expected} "
                    f"but the row amounts to {inc}",
                    f"Rows[{idx}].TotalAmountIncVatInvoiceCurrency",
                )


def register_payment(sales: Sales, rec: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Apply an InvoicePaymentApi body to an invoice; returns the stored payment."""
    api = sales.api
    state = sales.state
    bank_id = norm_id(str(body.get("CompanyBankAccountId") or ""))
    if bank_id not in state.table("bankaccounts"):
        raise reference_not_found("CompanyBankAccountId", "Bank account", body.get("CompanyBankAccountId"))
    currency = str(body.get("PaymentCurrency") or "").upper()
    if currency != rec.get("CurrencyCode"):
        raise business_error(
            f"PaymentCurrency: the payment currency '{body.get('PaymentCurrency')}' differs from the invoice "
            f"currency '{rec.get('CurrencyCode')}'",
            "PaymentCurrency",
        )
    amount = dec(body.get("PaymentAmount"))
    if amount == 0:
        raise validation_error("PaymentAmount: must not be 0", "PaymentAmount")
    today = sales.today()
    pay_day = parse_date_field(body.get("PaymentDate"), "PaymentDate") or today
    if pay_day[:10] > today[:10]:
        raise validation_error("PaymentDate: future dates cannot be set", "PaymentDate")
    remaining = dec(rec.get("RemainingAmountInvoiceCurrency"))
    if remaining == 0:
        raise business_error("The invoice is already fully paid", "PaymentAmount")
    kind = int(body.get("PaymentType") or PARTIAL)
    settled = settled_difference(rec, remaining, amount, kind)
    rate = dec(rec.get("CurrencyRate"), Decimal(1))
    domestic = (
        dec(body["DomesticPaymentAmount"])
        if body.get("DomesticPaymentAmount") is not None
        else to_base(amount, rate)
    )
    new_remaining = ZERO if settled is not None else remaining - amount
    old_base = dec(rec.get("RemainingAmount"))
    new_base = ZERO if new_remaining == 0 else old_base - domestic
    rec["RemainingAmountInvoiceCurrency"] = new_remaining
    rec["RemainingAmount"] = new_base
    if new_remaining == 0:
        rec["PaymentStatus"] = 0
        rec["PaymentDate"] = pay_day
    rec["ModifiedUtc"] = api.stamp()
    customer = state.table("customers").get(rec["CustomerId"])
    if customer is not None:
        customer["UnpaidInvoicesAmount"] = dec(customer.get("UnpaidInvoicesAmount")) - (old_base - new_base)
    payment = api.spec.blank("InvoicePaymentApi")
    ro = api.spec.read_only("InvoicePaymentApi")
    payment.update({k: v for k, v in body.items() if k in payment and k not in ro})
    payment.update(
        {
            "CompanyBankAccountId": bank_id,
            "PaymentDate": pay_day,
            "PaymentCurrency": currency,
            "DomesticPaymentAmount": domestic,
            "BankTransactionId": new_id(),
        }
    )
    booked = {"_InvoiceId": rec["Id"], "_InvoiceNumber": rec["InvoiceNumber"], "_PaidUtc": api.stamp()}
    if settled is not None:
        booked["_RoundingAmountInvoiceCurrency" if kind == ROUNDING else "_BankChargeAmount"] = settled
    state.table("payments")[payment["BankTransactionId"]] = {**payment, **booked}
    state.touch()
    return payment


def settled_difference(rec: dict[str, Any], remaining: Decimal, amount: Decimal, kind: int) -> Decimal | None:
    """Check a payment against what remains; for Rounding and BankCharge, the difference they book.

    Amounts carry the invoice's sign (negative on a credit invoice: a refund). Partial and complete
    payments take at most what remains. A rounding payment settles the invoice when the difference is
    under one whole unit either way; a bank charge settles it when the payment is short by the charge.
    """
    number = rec["InvoiceNumber"]
    sign = 1 if remaining > 0 else -1
    if amount * sign < 0:
        what = "refund on a credit invoice must be negative" if sign < 0 else "payment must be positive"
        raise business_error(f"PaymentAmount: {amount}: a {what}", "PaymentAmount")
    difference = remaining - amount
    if kind == ROUNDING:
        if abs(difference) >= ROUNDING_LIMIT:
            raise business_error(
                f"PaymentType: a rounding payment settles less than {ROUNDING_LIMIT} of difference; "
                f"{amount} leaves {difference} on invoice {number}",
                "PaymentType",
            )
        return difference
    if kind == BANK_CHARGE:
        if difference * sign < 0:
            raise business_error(
                f"PaymentAmount: {amount} is more than the remaining amount {remaining} of invoice {number}",
                "PaymentAmount",
            )
        return difference
    if difference * sign < 0:
        raise business_error(
            f"PaymentAmount: {amount} is more than the remaining amount {remaining} of invoice {number}",
            "PaymentAmount",
        )
    return None


def _sent(sales: Sales, rec: dict[str, Any], channel: str, **details: Any) -> None:
    sales.state.table("sentinvoices")[new_id()] = {
        "InvoiceId": rec["Id"],
        "InvoiceNumber": rec["InvoiceNumber"],
        "Channel": channel,
        "SentUtc": sales.api.stamp(),
        **details,
    }
    sales.state.touch()


def send_email(sales: Sales, rec: dict[str, Any], body: dict[str, Any]) -> None:
    """`POST /customerinvoices/{id}/email`: to `Email`, else the invoice's or the customer's address."""
    customer = sales.state.table("customers").get(rec["CustomerId"]) or {}
    to = body.get("Email") or rec.get("CustomerEmail") or customer.get("EmailAddress")
    if not to:
        raise business_error(
            f"Email: customer {rec.get('CustomerNumber')} has no e-mail address; give one in Email", "Email"
        )
    if not EMAIL.match(str(to)):
        raise validation_error(f"Email: '{to}' is not a valid e-mail address", "Email")
    cc = body.get("CcRecipients")
    subject = str(body.get("Subject") or "Faktura ####").replace("####", str(rec["InvoiceNumber"]))
    _sent(sales, rec, "email", Email=to, CcRecipients=cc, Subject=subject)


def send_einvoice(sales: Sales, rec: dict[str, Any], body: dict[str, Any]) -> None:
    """`POST /customerinvoices/{id}/einvoice` through AutoInvoice (`SendType`, see the module docstring)."""
    kind = body.get("SendType")
    if kind not in SEND_TYPES:
        raise validation_error("SendType: one of 1, 2, 3 or 4 is required", "SendType")
    customer = sales.state.table("customers").get(rec["CustomerId"]) or {}
    number = customer.get("CustomerNumber")
    if kind == 1 and not (
        customer.get("ElectronicAddress") or customer.get("GLN") or customer.get("EdiGlnNumber")
    ):
        raise business_error(
            f"SendType: customer {number} has no electronic address (ElectronicAddress or GLN) "
            "for AutoInvoiceElectronic",
            "SendType",
        )
    if kind == 2 and not (rec.get("InvoicePostalCode") and rec.get("InvoiceCity")):
        raise business_error("SendType: AutoInvoicePrint needs the invoice's postal address", "SendType")
    if kind == 3 and (rec.get("InvoiceCountryCode") or "SE") == "SE":
        raise business_error("SendType: AutoInvoiceB2C is not available for Swedish customers", "SendType")
    if kind == 4 and not (customer.get("IsPrivatePerson") and customer.get("CorporateIdentityNumber")):
        raise business_error(
            f"SendType: Kivra needs a private customer with a personal identity number ({number} has none)",
            "SendType",
        )
    rec["SendType"] = kind
    rec["ModifiedUtc"] = sales.api.stamp()
    _sent(sales, rec, SEND_TYPES[kind], Address=customer.get("ElectronicAddress") or customer.get("GLN"))
