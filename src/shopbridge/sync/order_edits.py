"""Orders changed in the shop after their transfer: noticed, then the Visma document follows or a person
is told. Never silent.

When an order's document is made, its **content** (lines, quantities, prices, shipping, fee, totals,
whether it is cancelled) is kept on the transfer row (`transfers.content`). Every full order sweep
(a sweep hinted by a web hook skips it) lists the shop's orders changed since the last look
(`sortBy=modifiedAt`, newest first, created within `edit_window_days`, stopping at the `orders.edits`
cursor: usually one page) and compares each transferred order's content with what was kept:

- **the same**: nothing (a status change, a comment, our own write-back);
- **cancelled** (no more): `sync/status.py` voids or credits it, or puts it in `needs_review`; only
  when the plan has no status feedback is it left to this module, which says so (`needs_review`);
- **edited** (a quantity, a row added or removed, shipping, a fee): while the Visma document is a
  draft or an order not shipped or invoiced and `update_documents` is on (the default), the document
  is rebuilt from the order (`OrderFlow.plan`, the customer and articles as for a new one) and
  updated **once**: the intent (the new content's hash, `pending`) is committed before the call, and
  an attempt that finds it looks at the document first; a document already equal to the shop's is
  recorded, not sent again. The update is a line in the order's history (`shopbridge orders show`).
  Otherwise (booked or invoiced, shipped, deleted, or `update_documents` false) the order goes to
  `needs_review` with what changed and both figures side by side.

An order whose update failed in passing (Visma unreachable) keeps the cursor before it: the next
sweep tries again. Orders transferred before contents were kept get theirs on first sight.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog

from shopbridge import plans
from shopbridge.domain.models import LineKind, Order, Warning
from shopbridge.http.errors import ApiError, NotFoundError
from shopbridge.starweb.mapping import as_dict, order_from_wire
from shopbridge.store import TransferState, content_hash, utcnow
from shopbridge.store.schema import Transfer
from shopbridge.sync.base import SweepReport
from shopbridge.sync.orders import (
    CANCELLED_CODES,
    ORDER_INCLUDE,
    OrderInputError,
    crash_point,
    plugged,
    totals_differences,
)
from shopbridge.sync.start_date import parse_created
from shopbridge.visma.odata import odata_eq

if TYPE_CHECKING:
    from shopbridge.sync.orders import OrderFlow

log = structlog.get_logger("shopbridge.order_edits")

CURSOR = "orders.edits"
LAG = timedelta(seconds=2)  # re-read a little before the cursor: an unchanged order costs a hash
KINDS = {LineKind.SHIPPING: "shipping", LineKind.PAYMENT_FEE: "payment fee", LineKind.DISCOUNT: "discount"}


# ---------------------------------------------------------------------- content
def order_content(order: Order, *, cancelled: bool) -> dict[str, Any]:
    """What of a shop order its Visma document stands for (JSON-ready, no personal data), with its hash."""
    lines = [
        {
            "kind": line.kind.value,
            "sku": line.sku or "",
            "name": line.name,
            "quantity": str(line.quantity),
            "price": str(line.unit_price_ex_vat),
            "vat": str(line.vat_rate),
            "net": str(line.line_total_ex_vat),
        }
        for line in order.lines
    ]
    cent = Decimal("0.01")
    body = {
        "lines": lines,
        "total": str(order.total_inc_vat.quantize(cent)),
        "vat": str(order.total_vat.quantize(cent)),
        "currency": order.currency,
        "cancelled": cancelled,
    }
    return {**body, "hash": content_hash(body)}


def _label(line: dict[str, Any]) -> str:
    kind = line.get("kind")
    if kind == LineKind.ITEM.value:
        return line.get("sku") or line.get("name") or "a row"
    return dict((k.value, v) for k, v in KINDS.items()).get(kind, str(kind))


def content_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What changed between two contents, in words (`quantity of SW-1 1 -> 3`, `row SW-2 added`)."""
    out: list[str] = []

    def keyed(content: dict[str, Any]) -> dict[str, dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for line in content.get("lines") or []:
            key = _label(line)
            while key in seen:
                key += "'"
            seen[key] = line
        return seen

    before, after = keyed(old), keyed(new)
    for key, line in after.items():
        was = before.get(key)
        if was is None:
            out.append(f"{key} added ({line['quantity']} x {line['price']})")
            continue
        if line["kind"] != LineKind.ITEM.value:
            if was["net"] != line["net"]:
                out.append(f"{key} {was['net']} -> {line['net']}")
            continue
        if was["quantity"] != line["quantity"]:
            out.append(f"quantity of {key} {_num(was['quantity'])} -> {_num(line['quantity'])}")
        if was["price"] != line["price"]:
            out.append(f"price of {key} {was['price']} -> {line['price']}")
        elif was["net"] != line["net"] and was["quantity"] == line["quantity"]:
            out.append(f"discount on {key}: {was['net']} -> {line['net']} excl. VAT")
    out += [f"{key} removed" for key in before if key not in after]
    if old.get("total") != new.get("total"):
        out.append(f"total {old.get('total')} -> {new.get('total')} {new.get('currency')}")
    return out


def _num(value: str) -> str:
    return format(Decimal(value).normalize(), "f")


def _total(doc: dict[str, Any]) -> Decimal:
    """A Visma document's or invoice's total incl. VAT, less Visma's öre rounding (as the shop's)."""
    return _total_raw(doc).quantize(Decimal("0.01"))


def _total_raw(doc: dict[str, Any]) -> Decimal:
    for key in ("TotalAmountInvoiceCurrency", "TotalAmount", "Amount"):
        if doc.get(key) is not None:
            roundings = doc.get("TotalRoundings", doc.get("RoundingsAmount")) or 0
            return Decimal(str(doc[key])) - (
                Decimal(str(roundings)) if key != "TotalAmountInvoiceCurrency" else 0
            )
    return Decimal(0)


# ---------------------------------------------------------------------- the watch
class EditWatch:
    """One look at the orders changed in the shop since the last, for one order flow's connection."""

    def __init__(self, flow: OrderFlow) -> None:
        self.flow = flow
        self.ctx = flow.ctx
        self.store = flow.store
        self.settings = flow.settings

    async def sweep(self, report: SweepReport) -> None:
        """Compare every recently changed transferred order with its document; see the module doc."""
        if not self.settings.edit_window_days:
            return
        since_text = self.store.cursors.get(self.ctx.id, CURSOR)
        since = parse_created(since_text) - LAG if since_text else None
        created_after = utcnow() - timedelta(days=self.settings.edit_window_days)
        cancelled_ids = await self._cancelled_ids()
        newest, retry_from = since_text, None
        batch: list[dict[str, Any]] = []
        async for raw in self.ctx.starweb.iter_orders(
            include=ORDER_INCLUDE,
            sortBy="modifiedAt",
            sortOrder="DESC",
            includeNonCompletePayments=True,
            ordersCreatedAfter=created_after.isoformat().replace("+00:00", "Z"),
        ):
            wire = as_dict(raw)
            modified = wire.get("modifiedAt")
            if not modified:
                continue
            if since is not None and parse_created(str(modified)) < since:
                break
            if newest is None or parse_created(str(modified)) > parse_created(newest):
                newest = str(modified)
            batch.append(wire)
        known = self.store.transfers.by_orders(self.ctx.id, (str(w["orderId"]) for w in batch))
        for wire in batch:
            t = known.get(str(wire["orderId"]))
            if t is None or t.state != TransferState.TRANSFERRED or not t.visma_document_id:
                continue
            try:
                settled = await self._one(t, wire, cancelled_ids, report)
            except ApiError as exc:
                log.warning("order.edit_failed", order=t.starweb_order_id, error=str(exc))
                report.add("retry_later", t.starweb_order_id, f"its change in the shop waits: {exc.message}")
                settled = False
            if not settled:
                modified = parse_created(str(wire["modifiedAt"]))
                retry_from = modified if retry_from is None else min(retry_from, modified)
        if retry_from is not None:  # look at it again next sweep
            newest = (retry_from - LAG).isoformat()
        if newest is not None and newest != since_text:
            self.store.cursors.set(self.ctx.id, CURSOR, newest)

    async def check(self, t: Transfer, wire: dict[str, Any], report: SweepReport) -> None:
        """One transferred order against its kept content, now (an adopted document: `orders retry`);
        a failure in passing leaves it in `needs_review` saying so, to be retried."""
        try:
            await self._one(t, wire, await self._cancelled_ids(), report)
        except ApiError as exc:
            reason = (
                f"the order changed in the shop after its transfer and updating {self._doc_words(t)} failed "
                f"({exc.message}); `shopbridge orders retry` tries again"
            )
            self.store.transfers.flag_for_review(t.id, reason)
            report.add("needs_review", t.starweb_order_id, reason)

    async def _cancelled_ids(self) -> set[int]:
        return {s.statusId for s in await self.flow.ref.order_statuses() if str(s.idCode) in CANCELLED_CODES}

    async def _one(
        self, t: Transfer, wire: dict[str, Any], cancelled_ids: set[int], report: SweepReport
    ) -> bool:
        """One transferred order seen changed in the shop; True when nothing is left to do about it."""
        cancelled = wire.get("statusId") in cancelled_ids
        order = order_from_wire(wire, shop_id="1", reference_prefix=self.settings.reference_prefix)
        new = order_content(order, cancelled=cancelled)
        old = t.content
        if old is None:  # transferred before contents were kept: this is what it is from now on
            self.store.transfers.record_content(t.id, new)
            return True
        if old.get("hash") == new["hash"]:
            return True
        if cancelled:
            if old.get("cancelled"):
                return True
            if plans.allows(self.settings, plans.ORDER_STATUS):
                return True  # the status flow voids, credits or reviews it (sync/status.py)
            self._review(
                t,
                "the order was cancelled in the shop after its transfer, and the plan has no status "
                f"feedback to void or credit it: remove or credit {self._doc_words(t)} in Visma",
                old,
                new,
                None,
                report,
            )
            return True
        changes = content_changes(old, new)
        if old.get("pending") == new["hash"]:  # an update was sent and its result never recorded
            doc = await self._document(t)
            if doc is not None and not self._differences(order, doc):
                response = {"id": t.visma_document_id, "changes": changes, "adopted": True}
                self.store.journal.record(t.id, "document_updated", response=response)
                self._updated(t, new, changes, doc, report, adopted=True)
                return True
        editable, doc, why = await self._editable(t)
        if not editable or not self.settings.update_documents:
            why = why if not editable else "update_documents is false"
            self._review(
                t,
                f"the order changed in the shop after its transfer ({'; '.join(changes) or 'its content'}) "
                f"and {self._doc_words(t)} was not updated ({why}): correct it in Visma",
                old,
                new,
                doc,
                report,
            )
            return True
        return await self._update(t, wire, order, old, new, changes, report)

    # ------------------------------------------------------------------ the Visma document
    def _doc_words(self, t: Transfer) -> str:
        kind = {"invoice_draft": "draft", "order": "order", "invoice": "invoice"}.get(
            t.document_type or "", "document"
        )
        return f"its Visma {kind} {t.visma_document_number or t.visma_document_id}"

    async def _document(self, t: Transfer) -> dict[str, Any] | None:
        visma = self.ctx.visma
        resource = visma.orders if t.document_type == "order" else visma.drafts
        try:
            return (await resource.get(str(t.visma_document_id))).model_dump(by_alias=True)
        except NotFoundError:
            return None

    async def _editable(self, t: Transfer) -> tuple[bool, dict[str, Any] | None, str]:
        """(may it be updated, the document or its invoice, why not) for the order's Visma document."""
        events = {e.event for e in self.store.events.for_order(self.ctx.id, t.starweb_order_id)}
        field = "CreatedFromOrderId" if t.document_type == "order" else "CreatedFromDraftId"
        if t.document_type == "invoice" or "invoiced" in events:
            invoice = await self.ctx.visma.invoices.first(odata_eq(field, str(t.visma_document_id)))
            doc = invoice.model_dump(by_alias=True) if invoice is not None else None
            number = (doc or {}).get("InvoiceNumber")
            return False, doc, f"it is invoiced{f' as invoice {number}' if number else ''}"
        doc = await self._document(t)
        if doc is None:
            invoice = await self.ctx.visma.invoices.first(odata_eq(field, str(t.visma_document_id)))
            if invoice is not None:
                inv = invoice.model_dump(by_alias=True)
                return False, inv, f"it is invoiced as invoice {inv.get('InvoiceNumber')}"
            return False, None, "it was deleted in Visma"
        if t.document_type == "order" and int(doc.get("Status") or 1) >= 3:
            return False, doc, "Visma has shipped it"
        return True, doc, ""

    def _differences(self, order: Order, doc: dict[str, Any]) -> list[str]:
        return totals_differences(order, doc, tolerance=self.settings.totals_tolerance)

    async def _update(
        self,
        t: Transfer,
        wire: dict[str, Any],
        order: Order,
        old: dict[str, Any],
        new: dict[str, Any],
        changes: list[str],
        report: SweepReport,
    ) -> bool:
        kind = t.document_type or self.settings.document_type
        try:
            plan = await self.flow.plan(order, kind)
            plugins = self.ctx.plugins  # plugins see the rebuilt document as they saw the first
            plugins.set_wire(wire)
            plan.body = await plugged(plugins.document_body(plan.body, order=order, wire=wire, kind=kind))
        except OrderInputError as exc:
            self._review(
                t,
                f"the order changed in the shop after its transfer ({'; '.join(changes)}) and "
                f"{self._doc_words(t)} cannot follow: {exc}",
                old,
                new,
                None,
                report,
            )
            return True
        attempt = self.store.journal.start(t.id, {"order": t.starweb_order_id, "edit": changes})
        self.store.transfers.record_content(t.id, {**old, "pending": new["hash"]})  # the intent, first
        crash_point("before_update")
        resource = self.ctx.visma.orders if kind == "order" else self.ctx.visma.drafts
        try:
            updated = await resource.update(str(t.visma_document_id), plan.body)
        except ApiError as exc:
            self.store.journal.finish(attempt, "update_failed", error=exc.message)
            raise
        crash_point("after_update")
        doc = updated.model_dump(by_alias=True)
        differences = self._differences(order, doc)
        if differences:
            self.store.journal.finish(attempt, TransferState.NEEDS_REVIEW, error="; ".join(differences))
            self._review(
                t,
                f"{self._doc_words(t)} was updated after the order changed in the shop, but the totals "
                f"differ: {'; '.join(differences)}",
                old,
                new,
                doc,
                report,
            )
            return True
        self.store.journal.finish(
            attempt, "document_updated", response={"id": t.visma_document_id, "changes": changes}
        )
        self._updated(t, new, changes, doc, report)
        return True

    def _updated(
        self,
        t: Transfer,
        new: dict[str, Any],
        changes: list[str],
        doc: dict[str, Any],
        report: SweepReport,
        *,
        adopted: bool = False,
    ) -> None:
        message = (
            f"the order changed in the shop after its transfer ({'; '.join(changes)}): "
            f"{self._doc_words(t)} was updated to {_total(doc)} {new.get('currency')}"
        )
        warning = Warning(code="document_updated", message=message, value=new["hash"][:12])
        self.store.transfers.record_content(t.id, new, warning=warning)
        log.info("order.document_updated", order=t.starweb_order_id, adopted=adopted)
        report.add("document_updated")

    def _review(
        self,
        t: Transfer,
        reason: str,
        old: dict[str, Any],
        new: dict[str, Any],
        doc: dict[str, Any] | None,
        report: SweepReport,
    ) -> None:
        """Both figures side by side, and what changed: a person settles it."""
        visma = (
            {"total": str(_total(doc)), "currency": doc.get("CurrencyCode") or doc.get("InvoiceCurrencyCode")}
            if doc
            else None
        )
        details = {
            "shop_now": {"total": new.get("total"), "vat": new.get("vat"), "currency": new.get("currency")},
            "shop_when_transferred": {"total": old.get("total"), "vat": old.get("vat")},
            "visma": visma,
            "changes": content_changes(old, new),
        }
        figures = f"shop {new.get('total')} {new.get('currency')}" + (
            f", Visma {visma['total']}" if visma else ""
        )
        self.store.transfers.flag_for_review(t.id, f"{reason} ({figures})", details)
        self.store.journal.record(
            t.id, TransferState.NEEDS_REVIEW, error=reason, request={"edit": details["changes"]}
        )
        log.info("order.edit_needs_review", order=t.starweb_order_id)
        report.add("needs_review", t.starweb_order_id, f"{reason} ({figures})")
