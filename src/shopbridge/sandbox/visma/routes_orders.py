"""`/v2/orders` (needs the company's order module): list, create, read, update, delete, `/dryrun`,
`/{id}/convert` -> customer invoice, and the status steps.

Status: 1 Draft, 2 Ongoing, 3 Shipped, 4 Invoiced. PUT may move an order between 1-3; 4 is reached only
by converting, after which the order can no longer be changed or deleted. Orders with status 2 or 3
reserve stock of stock articles. Amount (incl. VAT), VatAmount and RoundingsAmount are computed.

Status steps (each answers the order; a wrong starting status is a 400, 4002):
`/converteddrafttoorder` 1 -> 2 (stock is reserved); `/completed` 2 -> 3 (rows without a
DeliveredQuantity are delivered in full, ShippedDateTime today, Delivered* amounts from the delivered
quantities); `/voided` 3 -> 2 (deliveries undone); `/backorder` (status 2 or 3, some rows partly
delivered): the undelivered rest becomes a new ongoing order (answered), the order keeps what was
delivered.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response

from .api_base import Api, Call, new_id
from .documents import Priced, Sales, parse_date_field
from .errors import CANNOT_BE_DELETED, VismaError, business_error, not_found
from .pricing import ZERO, compute_totals, dec, q2
from .routes_sales import invoice_from, store_invoice

ORDER = "OrderApi"
DRAFT, ONGOING, SHIPPED, INVOICED = 1, 2, 3, 4
STATUS_NAMES = {DRAFT: "draft", ONGOING: "ongoing", SHIPPED: "shipped", INVOICED: "invoiced"}
RESERVING = (ONGOING, SHIPPED)


def build_order(
    sales: Sales, body: dict[str, Any], existing: dict[str, Any] | None
) -> tuple[dict[str, Any], Priced]:
    api = sales.api
    state = api.state
    ro = api.spec.read_only(ORDER)
    computed = {
        "Amount",
        "VatAmount",
        "RoundingsAmount",
        "DeliveredAmount",
        "DeliveredVatAmount",
        "DeliveredRoundingsAmount",
    }
    rec = dict(existing) if existing else api.spec.blank(ORDER)
    for key, value in body.items():
        if key in rec and key not in ro and key not in computed and key != "Rows":
            rec[key] = value
    status = int(rec.get("Status") or 1)
    if status == INVOICED:
        raise business_error(
            "Status: an order becomes Invoiced (4) only by converting it to an invoice", "Status"
        )
    customer = sales.customer(rec.get("CustomerId"))
    rec["CustomerId"] = customer["Id"]
    currency = str(
        rec.get("CurrencyCode") or customer.get("CurrencyCode") or sales.company_currency()
    ).upper()
    rate = sales.currency_rate(currency, "CurrencyCode")
    terms = sales.terms(rec.get("TermsOfPaymentId") or customer.get("TermsOfPaymentId"))
    raw_rows = body["Rows"] if "Rows" in body else (existing or {}).get("Rows") or []
    priced = sales.price_rows(raw_rows, kind="order", customer=customer, currency=currency, rate=rate)
    stamp = api.stamp()
    if existing is None:
        rec["Id"] = new_id()
        rec["CreatedUtc"] = stamp
        rec["Number"] = state.series.order
    sales.fill_addresses(rec, customer, body if existing is None else {**existing, **body}, ro)
    rec.update(
        {
            "CurrencyCode": currency,
            "TermsOfPaymentId": terms["Id"],
            "CustomerNumber": customer.get("CustomerNumber"),
            "CustomerName": customer.get("Name"),
            "CustomerIsPrivatePerson": bool(customer.get("IsPrivatePerson")),
            "IncludesVat": priced.includes_vat,
            "OrderDate": parse_date_field(rec.get("OrderDate"), "OrderDate") or sales.today(),
            "DeliveryDate": parse_date_field(rec.get("DeliveryDate"), "DeliveryDate"),
            "ShippedDateTime": parse_date_field(rec.get("ShippedDateTime"), "ShippedDateTime"),
            "Rows": priced.rows,
            "Amount": priced.totals.total,
            "VatAmount": priced.totals.vat,
            "RoundingsAmount": priced.totals.roundings,
            "Status": status,
            "ModifiedUtc": stamp,
        }
    )
    if status == 3 and not rec.get("ShippedDateTime"):
        rec["ShippedDateTime"] = sales.today()
    delivered_rows = [r for r in rec["Rows"] if dec(r.get("DeliveredQuantity")) != 0]
    if not delivered_rows:
        rec["DeliveredAmount"] = rec["DeliveredVatAmount"] = rec["DeliveredRoundingsAmount"] = ZERO
    sales.clip(rec, ORDER)
    return rec, priced


def register(api: Api, sales: Sales) -> None:
    state = api.state
    orders = state.table("orders")

    def reserve(rec: dict[str, Any] | None, priced_qty: dict[str, Any] | None, sign: int) -> None:
        if rec is None or priced_qty is None or int(rec.get("Status") or 1) not in RESERVING:
            return
        sales.move_stock(priced_qty, reserved_sign=sign)

    def stock_qty(rec: dict[str, Any]) -> dict[str, Any]:
        articles = state.table("articles")
        out: dict[str, Any] = {}
        for row in rec.get("Rows") or []:
            art = articles.get(row.get("ArticleId") or "")
            if art is not None and art.get("IsStock"):
                out[art["Id"]] = out.get(art["Id"], ZERO) + dec(row.get("Quantity"))
        return out

    async def list_orders(call: Call) -> Any:
        return api.list_response(call, list(orders.values()), ORDER)

    async def create(call: Call) -> Any:
        rec, priced = build_order(sales, call.body or {}, None)
        state.series.order = max(state.series.order, int(rec["Number"]) + 1)
        orders[rec["Id"]] = rec
        reserve(rec, priced.article_qty, +1)
        state.touch()
        return rec

    async def dryrun(call: Call) -> Any:
        rec, _ = build_order(sales, call.body or {}, None)
        return rec

    def existing_order(call: Call) -> dict[str, Any]:
        rec = orders.get(call.path["id"])
        if rec is None:
            raise not_found("Order", call.path["id"])
        return rec

    async def get(call: Call) -> Any:
        return existing_order(call)

    async def update(call: Call) -> Any:
        existing = existing_order(call)
        if int(existing.get("Status") or 1) == INVOICED:
            raise business_error("The order is invoiced and can no longer be changed", "Status")
        rec, priced = build_order(sales, call.body or {}, existing)
        reserve(existing, stock_qty(existing), -1)
        orders[rec["Id"]] = rec
        reserve(rec, priced.article_qty, +1)
        state.touch()
        return rec

    async def delete(call: Call) -> Any:
        existing = existing_order(call)
        if int(existing.get("Status") or 1) == INVOICED:
            raise VismaError(
                400, CANNOT_BE_DELETED, "CanNotBeDeletedException - An invoiced order can not be deleted."
            )
        reserve(existing, stock_qty(existing), -1)
        del orders[existing["Id"]]
        state.touch()
        return Response(status_code=200)

    async def convert(call: Call) -> Any:
        order = existing_order(call)
        if int(order.get("Status") or 1) == INVOICED:
            raise business_error("The order is already invoiced", "Status")
        sales.require_fiscal_year()
        sales.require_invoice_series()
        header = {k: v for k, v in order.items() if k not in ("InvoiceDate", "DueDate", "CurrencyRate")}
        rows = [{**row, "Quantity": row.get("Quantity")} for row in order.get("Rows") or []]
        rec, priced = invoice_from(
            sales, header, rows, currency=order.get("CurrencyCode"), order_id=order["Id"]
        )
        was_reserving = int(order.get("Status") or 1) in RESERVING
        store_invoice(sales, rec, priced, from_order=was_reserving)
        stamp = api.stamp()
        for row in order.get("Rows") or []:
            if not row.get("IsTextRow"):
                row["DeliveredQuantity"] = row.get("Quantity")
        order.update(
            {
                "Status": INVOICED,
                "ModifiedUtc": stamp,
                "DeliveredAmount": order.get("Amount"),
                "DeliveredVatAmount": order.get("VatAmount"),
                "DeliveredRoundingsAmount": order.get("RoundingsAmount"),
            }
        )
        if not order.get("ShippedDateTime"):
            order["ShippedDateTime"] = sales.today()
        state.touch()
        return rec

    # ---- status changes --------------------------------------------------------------------------
    def require_status(order: dict[str, Any], allowed: int, action: str) -> int:
        status = int(order.get("Status") or 1)
        if status != allowed:
            raise business_error(
                f"Status: only an order with status {allowed} ({STATUS_NAMES[allowed]}) can be {action}; "
                f"this one is {status} ({STATUS_NAMES.get(status, '?')})",
                "Status",
            )
        return status

    def set_delivered(order: dict[str, Any]) -> None:
        """DeliveredAmount/-Vat/-Roundings: the rows' amounts in proportion to DeliveredQuantity."""
        pairs = []
        for row in order.get("Rows") or []:
            quantity, delivered = dec(row.get("Quantity")), dec(row.get("DeliveredQuantity"))
            if row.get("IsTextRow") or quantity == 0 or delivered == 0:
                continue
            pairs.append((q2(dec(row.get("Amount")) * delivered / quantity), dec(row.get("VatRate"))))
        currency = str(order.get("CurrencyCode") or sales.company_currency())
        totals = compute_totals(pairs, bool(order.get("IncludesVat")), sales.rounds_to_units(currency))
        order["DeliveredAmount"] = totals.total
        order["DeliveredVatAmount"] = totals.vat
        order["DeliveredRoundingsAmount"] = totals.roundings

    async def complete(call: Call) -> Any:
        order = existing_order(call)
        require_status(order, ONGOING, "completed")
        for row in order.get("Rows") or []:
            if not row.get("IsTextRow") and dec(row.get("DeliveredQuantity")) == 0:
                row["DeliveredQuantity"] = row.get("Quantity")
        order.update({"Status": SHIPPED, "ShippedDateTime": order.get("ShippedDateTime") or sales.today()})
        set_delivered(order)
        order["ModifiedUtc"] = api.stamp()
        state.touch()
        return order

    async def void(call: Call) -> Any:
        order = existing_order(call)
        require_status(order, SHIPPED, "voided")
        for row in order.get("Rows") or []:
            if not row.get("IsTextRow"):
                row["DeliveredQuantity"] = ZERO
        order.update(
            {
                "Status": ONGOING,
                "ShippedDateTime": None,
                "DeliveredAmount": ZERO,
                "DeliveredVatAmount": ZERO,
                "DeliveredRoundingsAmount": ZERO,
                "ModifiedUtc": api.stamp(),
            }
        )
        state.touch()
        return order

    async def draft_to_order(call: Call) -> Any:
        order = existing_order(call)
        require_status(order, DRAFT, "converted from draft to order")
        order.update({"Status": ONGOING, "ModifiedUtc": api.stamp()})
        reserve(order, stock_qty(order), +1)
        state.touch()
        return order

    async def backorder(call: Call) -> Any:
        """Split the undelivered rest of an ongoing or shipped order into a new ongoing order."""
        order = existing_order(call)
        status = int(order.get("Status") or 1)
        if status not in RESERVING:
            raise business_error(
                f"Status: a backorder needs an ongoing or shipped order; this one is {status} "
                f"({STATUS_NAMES.get(status, '?')})",
                "Status",
            )
        kept: list[dict[str, Any]] = []
        rest: list[dict[str, Any]] = []
        for row in order.get("Rows") or []:
            if row.get("IsTextRow"):
                kept.append(row)
                continue
            delivered, quantity = dec(row.get("DeliveredQuantity")), dec(row.get("Quantity"))
            if quantity - delivered > 0:
                rest.append({**row, "Quantity": quantity - delivered, "DeliveredQuantity": ZERO})
            if delivered > 0:
                kept.append({**row, "Quantity": delivered})
        if not rest:
            raise business_error(
                "Rows: every row is delivered in full; there is nothing to back-order", "Rows"
            )
        if not any(not r.get("IsTextRow") for r in kept):
            raise business_error(
                "Rows: nothing is delivered yet (DeliveredQuantity); the whole order is still open", "Rows"
            )
        ro = api.spec.read_only(ORDER)
        header = {
            k: v for k, v in order.items() if k not in ro and k not in ("Rows", "Status", "ShippedDateTime")
        }
        new_order, new_priced = build_order(sales, {**header, "Rows": rest, "Status": ONGOING}, None)
        reserve(order, stock_qty(order), -1)
        updated, priced = build_order(sales, {"Rows": kept}, order)
        orders[updated["Id"]] = updated
        set_delivered(updated)
        reserve(updated, priced.article_qty, +1)
        state.series.order = max(state.series.order, int(new_order["Number"]) + 1)
        orders[new_order["Id"]] = new_order
        reserve(new_order, new_priced.article_qty, +1)
        state.touch()
        return new_order

    api.route("GET", "/orders", list_orders, module="orders")
    api.route("POST", "/orders", create, status=201, module="orders")
    api.route("POST", "/orders/dryrun", dryrun, module="orders", body_schema=("POST", "/orders"))
    api.route("GET", "/orders/{id}", get, module="orders")
    api.route("PUT", "/orders/{id}", update, module="orders")
    api.route("DELETE", "/orders/{id}", delete, module="orders")
    api.route("POST", "/orders/{id}/convert", convert, module="orders")
    api.route("POST", "/orders/{id}/completed", complete, module="orders")
    api.route("POST", "/orders/{id}/voided", void, module="orders")
    api.route("POST", "/orders/{id}/backorder", backorder, module="orders")
    api.route("POST", "/orders/{id}/converteddrafttoorder", draft_to_order, module="orders")
