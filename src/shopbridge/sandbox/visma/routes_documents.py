"""Sales documents as files, and voiding an invoice.

* `GET /customerinvoices/{id}/print`, `/orders/{id}/print`, `/orders/{id}/deliverynote/print`: the
  document as a PDF (`application/pdf`).
* `GET /customerinvoices/{id}/pdf`: `{"Url": ...}`, a link to the same PDF that needs no token (like
  Visma's temporary download links), served under `/_sandbox/visma/files/customerinvoices/{id}.pdf`.
* `POST /customerinvoices/{id}/void` (`updateStock`): makes the invoice void by a credit invoice over all
  of it (negative rows, `ReferringInvoiceId` = the invoice, listed in its `CreditedBy`); both end with
  nothing left to pay. Refused (400, 4002) for a credit invoice, an invoice already credited, one with
  payments, or a sold or quick invoice. With `updateStock=true` the goods go back to stock.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from . import pdf
from .api_base import Api, Call, norm_id
from .documents import Sales
from .errors import business_error, not_found
from .pricing import ZERO, dec
from .routes_sales import invoice_from, store_invoice

PDF_MEDIA = "application/pdf"
FILES = "/_sandbox/visma/files"


def _money(value: Any) -> str:
    return f"{dec(value):.2f}"


def _row_lines(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    for row in rows:
        if row.get("IsTextRow"):
            out.append(f"    {row.get('Text') or ''}")
            continue
        out.append(
            f"{row.get('ArticleNumber') or '':<14} {str(row.get('Text') or '')[:40]:<40} "
            f"{_money(row.get('Quantity')):>8} x {_money(row.get('UnitPrice')):>10}"
        )
    return out


def invoice_pdf(api: Api, invoice: dict[str, Any]) -> bytes:
    company = api.state.company
    kind = "Kreditfaktura" if invoice.get("IsCreditInvoice") else "Faktura"
    customer = invoice.get("InvoiceCustomerName") or invoice.get("CustomerName")
    lines = [
        str(company.get("Name") or ""),
        f"Fakturanummer: {invoice.get('InvoiceNumber')}   "
        f"Fakturadatum: {str(invoice.get('InvoiceDate'))[:10]}   "
        f"Förfallodatum: {str(invoice.get('DueDate'))[:10]}",
        f"Kund: {invoice.get('CustomerNumber')} {customer}",
        f"{invoice.get('InvoiceAddress1') or ''}, {invoice.get('InvoicePostalCode') or ''} "
        f"{invoice.get('InvoiceCity') or ''}",
        f"Er referens: {invoice.get('YourReference') or ''}   "
        f"OCR: {invoice.get('PaymentReferenceNumber') or ''}",
        "",
        *_row_lines(invoice.get("Rows") or []),
        "",
        f"Moms: {_money(invoice.get('TotalVatAmountInvoiceCurrency'))} {invoice.get('CurrencyCode')}",
        f"Att betala: {_money(invoice.get('TotalAmountInvoiceCurrency'))} {invoice.get('CurrencyCode')}",
    ]
    return pdf.render(f"{kind} {invoice.get('InvoiceNumber')}", lines)


def order_pdf(api: Api, order: dict[str, Any], *, delivery_note: bool) -> bytes:
    company = api.state.company
    title = ("Följesedel" if delivery_note else "Orderbekräftelse") + f" {order.get('Number')}"
    lines = [
        str(company.get("Name") or ""),
        f"Ordernummer: {order.get('Number')}   Orderdatum: {str(order.get('OrderDate'))[:10]}",
        f"Kund: {order.get('CustomerNumber')} {order.get('CustomerName')}",
        f"Leveransadress: {order.get('DeliveryCustomerName') or order.get('InvoiceCustomerName') or ''}, "
        f"{order.get('DeliveryAddress1') or order.get('InvoiceAddress1') or ''}",
        f"Leveranssätt: {order.get('DeliveryMethodName') or ''}",
        "",
        *_row_lines(order.get("Rows") or []),
    ]
    if not delivery_note:
        lines += ["", f"Summa: {_money(order.get('Amount'))} {order.get('CurrencyCode')}"]
    return pdf.render(title, lines)


def register(api: Api, sales: Sales) -> None:
    state = api.state
    invoices = state.table("customerinvoices")
    orders = state.table("orders")

    def invoice_or_404(invoice_id: str) -> dict[str, Any]:
        rec = invoices.get(invoice_id)
        if rec is None:
            raise not_found("Customer invoice", invoice_id)
        return rec

    def order_or_404(order_id: str) -> dict[str, Any]:
        rec = orders.get(order_id)
        if rec is None:
            raise not_found("Order", order_id)
        return rec

    async def print_invoice(call: Call) -> Any:
        return Response(invoice_pdf(api, invoice_or_404(call.path["invoiceId"])), media_type=PDF_MEDIA)

    async def invoice_url(call: Call) -> Any:
        rec = invoice_or_404(call.path["invoiceId"])
        base = str(call.request.base_url).rstrip("/")
        return {"Url": f"{base}{FILES}/customerinvoices/{rec['Id']}.pdf"}

    async def print_order(call: Call) -> Any:
        return Response(
            order_pdf(api, order_or_404(call.path["id"]), delivery_note=False), media_type=PDF_MEDIA
        )

    async def print_delivery_note(call: Call) -> Any:
        return Response(
            order_pdf(api, order_or_404(call.path["id"]), delivery_note=True), media_type=PDF_MEDIA
        )

    async def void(call: Call) -> Any:
        rec = invoice_or_404(call.path["invoiceId"])
        refusal = (
            "a credit invoice cannot be voided"
            if rec.get("IsCreditInvoice")
            else "the invoice is already credited"
            if rec.get("CreditedBy")
            else "the invoice has payments"
            if dec(rec.get("RemainingAmountInvoiceCurrency")) != dec(rec.get("TotalAmountInvoiceCurrency"))
            else "a sold or quick invoice cannot be voided"
            if rec.get("IsSold") or rec.get("IsQuickInvoice")
            else None
        )
        if refusal:
            raise business_error(f"Invoice {rec['InvoiceNumber']}: {refusal}")
        rows = [
            {**row, "Quantity": -dec(row.get("Quantity"))} if not row.get("IsTextRow") else row
            for row in rec.get("Rows") or []
        ]
        header = {**rec, "IsCreditInvoice": True, "InvoiceDate": None, "DueDate": None}
        credit, priced = invoice_from(
            sales, header, rows, currency=rec["CurrencyCode"], currency_rate=rec["CurrencyRate"]
        )
        if not call.qbool("updateStock"):
            priced.article_qty = {}
        credit["ReferringInvoiceId"] = rec["Id"]
        store_invoice(sales, credit, priced)
        stamp = api.stamp()
        for doc in (rec, credit):
            doc.update(
                {
                    "RemainingAmount": ZERO,
                    "RemainingAmountInvoiceCurrency": ZERO,
                    "PaymentStatus": 0,
                    "ModifiedUtc": stamp,
                }
            )
        rec["CreditedBy"] = [*(rec.get("CreditedBy") or []), {"CreditInvoiceId": credit["Id"]}]
        customer = state.table("customers").get(rec["CustomerId"])
        if customer is not None:  # both invoices are settled against each other
            customer["UnpaidInvoicesAmount"] = sum(
                (
                    dec(i.get("RemainingAmount"))
                    for i in invoices.values()
                    if i["CustomerId"] == customer["Id"]
                ),
                Decimal(0),
            )
        state.touch()
        return Response(status_code=200)

    async def file(request: Request) -> Response:
        rec = invoices.get(norm_id(request.path_params["invoice_id"]))
        if rec is None:
            return Response(status_code=404)
        return Response(invoice_pdf(api, rec), media_type=PDF_MEDIA)

    api.route("GET", "/customerinvoices/{invoiceId}/pdf", invoice_url)
    api.route("GET", "/customerinvoices/{invoiceId}/print", print_invoice)
    api.route("POST", "/customerinvoices/{invoiceId}/void", void)
    api.route("GET", "/orders/{id}/print", print_order, module="orders")
    api.route("GET", "/orders/{id}/deliverynote/print", print_delivery_note, module="orders")
    api.app.add_api_route(
        f"{FILES}/customerinvoices/{{invoice_id}}.pdf", file, methods=["GET"], include_in_schema=False
    )
