"""Orders: the list (filters, search, pages by id), one order's journey, Retry, and bulk retry by reason."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from shopbridge.store import InvalidTransition, TransferState

from .data import OrderFilters, count_for_reason, order_page, retry_by_reason
from .i18n import N_, _
from .links import shop_order_url, visma_document_url
from .web import Ctx, redirect, render, signed_in

router = APIRouter()

STATE_LABELS = {
    "pending": N_("Pending"),
    "in_progress": N_("In progress"),
    "transferred": N_("Transferred"),
    "needs_review": N_("Needs review"),
    "waiting_for_fix": N_("Waiting for a fix"),
    "skipped": N_("Skipped"),
    "waiting_for_quota": N_("Waiting for quota"),
}
EVENT_LABELS = {
    "delivered": N_("Delivered"),
    "invoiced": N_("Invoiced"),
    "paid": N_("Paid"),
    "cancelled": N_("Cancelled"),
    "payment": N_("Payment registered"),
    "credit": N_("Credit invoice"),
    "void": N_("Removed in Visma"),
}


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/orders")
async def orders(
    ctx: Ctx = Depends(signed_in),
    state: str = "",
    shop: str = "",
    q: str = "",
    before: int | None = None,
    after: int | None = None,
) -> Response:
    v = ctx.v
    params = ctx.request.query_params
    shop_id = v.connection_for(shop).id if shop else None
    filters = OrderFilters(
        state=state if state in STATE_LABELS else None,
        shop=shop_id,
        date_from=_date(params.get("from")),
        date_to=_date(params.get("to")),
        q=q.strip()[:100],
    )
    page = order_page(ctx.store, v.connection_ids, filters, before=before, after=after)
    base = filters.query()
    newer = f"/orders?{urlencode({**base, 'after': page.newer})}" if page.newer else None
    older = f"/orders?{urlencode({**base, 'before': page.older})}" if page.older else None
    return render(
        ctx,
        "orders.html",
        page=page,
        filters=filters,
        states=STATE_LABELS,
        shops=v.connections(),
        newer=newer,
        older=older,
        back=ctx.request.url.path + (f"?{ctx.request.url.query}" if ctx.request.url.query else ""),
    )


@router.get("/orders/retry-reason")
async def retry_reason_page(ctx: Ctx = Depends(signed_in), shop: str = "", reason: str = "") -> Response:
    conn = ctx.v.connection_for(shop, write=True)
    n = count_for_reason(ctx.store, conn.id, reason)
    return render(ctx, "retry_reason.html", conn=conn, reason=reason, count=n)


@router.post("/orders/retry-reason")
async def retry_reason(
    ctx: Ctx = Depends(signed_in), shop: str = Form(""), reason: str = Form(""), expected: int = Form(0)
) -> Response:
    conn = ctx.v.connection_for(shop, write=True)
    n = retry_by_reason(ctx.store, conn.id, reason)
    ctx.portal.wake(conn.id)
    ctx.flash(_("%(n)s orders will be taken again.", n=n))
    return redirect(f"/orders?shop={conn.id}")


@router.get("/orders/{transfer_id}")
async def order(transfer_id: str, ctx: Ctx = Depends(signed_in), back: str = "") -> Response:
    t = ctx.v.transfer_for(transfer_id)
    conn = ctx.store.connections.get(t.connection_id)
    attempts = ctx.store.journal.for_transfer(t.id)
    events = ctx.store.events.for_order(t.connection_id, t.starweb_order_id)
    totals = _totals(t, attempts)
    timeline = sorted(
        [("attempt", a.started_at, a) for a in attempts] + [("event", e.created_at, e) for e in events],
        key=lambda item: item[1],
        reverse=True,
    )
    return render(
        ctx,
        "order.html",
        t=t,
        conn=conn,
        timeline=timeline,
        totals=totals,
        states=STATE_LABELS,
        event_labels=EVENT_LABELS,
        shop_url=shop_order_url(conn, t.starweb_order_id),
        visma_url=visma_document_url(ctx.store, conn, t.document_type, t.visma_document_id),
        back=back if urlsplit(back).path == "/orders" and not urlsplit(back).netloc else "/orders",
        retryable=t.state in {s.value for s in TransferState} - {"transferred", "in_progress"},
    )


@router.post("/orders/{transfer_id}/retry")
async def retry(transfer_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    t = ctx.v.transfer_for(transfer_id, write=True)
    try:
        ctx.store.transfers.retry(t.id)
    except InvalidTransition:
        ctx.flash(_("This order cannot be taken again: it is transferred or being worked on."), "warning")
        return redirect(f"/orders/{t.id}")
    ctx.portal.wake(t.connection_id)
    ctx.flash(
        _("Order %(n)s will be taken again within seconds.", n=t.starweb_order_number or t.starweb_order_id)
    )
    return redirect(f"/orders/{t.id}")


def _totals(t: Any, attempts: list[Any]) -> list[dict[str, Any]] | None:
    """Shop and Visma figures side by side: the total, the VAT, and each VAT rate's VAT."""
    shop: dict[str, Any] | None = None
    visma: dict[str, Any] | None = None
    details = t.details or {}
    if details.get("shop") or details.get("visma"):
        shop, visma = details.get("shop"), details.get("visma")
    for a in reversed(attempts):
        if shop is None and isinstance(a.request, dict) and a.request.get("shop_totals"):
            shop = a.request["shop_totals"]
        if visma is None and isinstance(a.response, dict) and a.response.get("totals"):
            visma = a.response["totals"]
    if not shop and not visma:
        return None
    shop, visma = shop or {}, visma or {}
    rows = [
        {"label": _("Total incl. VAT"), "shop": shop.get("total"), "visma": visma.get("TotalAmount")},
        {"label": _("VAT"), "shop": shop.get("vat"), "visma": visma.get("TotalVatAmount")},
    ]
    shop_rates = {str(k): v for k, v in (shop.get("per_rate") or {}).items() if k != "total"}
    visma_rates = {str(k): v for k, v in (visma.get("per_rate") or {}).items()}
    for rate in sorted(set(shop_rates) | set(visma_rates), key=lambda r: float(r) if _num(r) else 0):
        s_val, v_val = shop_rates.get(rate), visma_rates.get(rate)
        s_net = s_val.get("net") if isinstance(s_val, dict) else s_val
        rows.append({"label": _("Net at VAT %(rate)s %%", rate=_rate(rate)), "shop": s_net, "visma": v_val})
    for row in rows:
        row["differs"] = _differs(row["shop"], row["visma"])
    return rows


def _num(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _rate(rate: str) -> str:
    if not _num(rate):
        return rate
    value = float(rate)
    value = value * 100 if value < 1 else value
    return f"{value:g}"


def _differs(a: Any, b: Any) -> bool:
    from decimal import Decimal, InvalidOperation

    try:
        return a is not None and b is not None and abs(Decimal(str(a)) - Decimal(str(b))) > Decimal("0.005")
    except InvalidOperation:
        return False
