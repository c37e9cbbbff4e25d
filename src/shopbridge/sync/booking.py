"""The booking flow (`document_type invoice`): our draft becomes a booked invoice at once, paid or sent.

Why draft + convert, not `POST /customerinvoices` directly: a booked invoice can never be deleted,
only credited. The order flow creates the draft exactly once and compares its totals and VAT with
the shop's; only a draft that matched is booked, and `convert` carries those totals
(`CustomerInvoiceDraftValidationApi`), so Visma refuses the conversion if the draft was changed in
between. A draft whose totals differ waits in `needs_review` as before: nothing wrong is booked.

One sweep of one connection, after the order flow, level-triggered over the transferred orders of
kind `invoice` (events in `store.events`, one row per order and step):

1. **book**: read the shop order and the draft; the draft's totals still the shop's → record the
   intent → `POST /customerinvoicedrafts/{id}/convert`. The step is reconciled on its own, since a
   converted draft is gone: before converting again (a crash, a lost or late answer) the invoice whose
   `CreatedFromDraftId` is our draft is looked for and adopted; a convert answered 404 looks once more.
   Booked → an **invoiced** event with the invoice id (the status flow tells the shop this sweep).
2. Paid at checkout (`paid_payment_methods`, `isComplete`) → a **payment** event: the status flow
   registers it on the bank account mapped to the payment method, settling the invoice, and the
   shop hears **Paid** in the same sweep.
3. Otherwise **send**, once, the way `invoice_delivery` (or `invoice_delivery_by_payment_method`)
   says: `email` (Visma's e-mail to the customer's address), `einvoice` (AutoInvoice: companies
   electronically, private persons through Kivra) or `none`. An e-invoice shows on the invoice
   (`SendType`) and is looked for before sending again. An e-mail leaves nothing to look for: if a
   worker died while sending one, it is not sent again; the order waits in `needs_review` saying so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import structlog

from shopbridge.http.errors import ApiError, BadRequestError, NotFoundError
from shopbridge.http.retry import is_ambiguous
from shopbridge.logs import error_line
from shopbridge.starweb.mapping import as_dict
from shopbridge.store import TransferState
from shopbridge.store.events import OPEN_STATES, StatusEvent
from shopbridge.store.schema import Transfer
from shopbridge.sync.base import Hint, SweepReport
from shopbridge.sync.context import ConnectionContext
from shopbridge.sync.orders import _explain, crash_point
from shopbridge.sync.status import invoiced_details
from shopbridge.visma.odata import odata_eq

log = structlog.get_logger("shopbridge.booking")

KIND = "invoice"
FINAL = ("applied", "ignored", "superseded")
SEND_TYPE_ELECTRONIC, SEND_TYPE_KIVRA = 1, 4
CONCURRENCY = 8  # orders booked side by side


class BookingError(Exception):
    """A step cannot be done as things are; the message says what to fix."""


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


class BookingFlow:
    """Invoice drafts of `document_type invoice` → booked invoices, paid or sent (see the module doc)."""

    name = "booking"

    def __init__(
        self, ctx: ConnectionContext, *, on_progress: Callable[[str, int], None] | None = None
    ) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.store = ctx.store
        self.events = ctx.store.events

    async def sweep(self, hints: list[Hint] | None = None) -> SweepReport:
        """Book every transferred invoice-kind order not booked yet; send what waits to be sent."""
        report = SweepReport(self.ctx.name)
        calls_before = self.ctx.api_calls
        steps = [e for e in self.events.open(self.ctx.id) if e.event in ("book", "send")]
        if self.settings.document_type != KIND and not steps:  # nothing of this kind waits
            return report
        booked = self.events.orders_with(self.ctx.id, ("book",), states=FINAL)
        due = [t for t in self._transfers() if t.starweb_order_id not in booked]
        slots = asyncio.Semaphore(CONCURRENCY)

        async def book(t: Transfer) -> None:
            async with slots:
                e, _ = self.events.record(self.ctx.id, t.starweb_order_id, "book")
                await self._guard(t, e, report, self._book(t, e, report))

        async def send(e: StatusEvent) -> None:
            t = self.store.transfers.get_by_order(self.ctx.id, e.starweb_order_id)
            if t is not None:
                async with slots:
                    await self._guard(t, e, report, self._send(t, e, report))

        await asyncio.gather(*(book(t) for t in due))
        sending = [e for e in self.events.open(self.ctx.id) if e.event == "send"]  # incl. those just made
        await asyncio.gather(*(send(e) for e in sending))
        report.api_calls = self.ctx.api_calls - calls_before
        return report

    def _transfers(self) -> list[Transfer]:
        rows = self.store.transfers.all(self.ctx.id, state=TransferState.TRANSFERRED, limit=10_000_000)
        return [t for t in rows if t.document_type == KIND and t.visma_document_id]

    async def _guard(self, t: Transfer, e: StatusEvent, report: SweepReport, work: Any) -> None:
        """Run one step; a failure stays on its event (retried next sweep), the other orders go on."""
        try:
            outcome = await work
        except BookingError as exc:
            reason = str(exc)
        except ApiError as exc:
            reason, _ = _explain(exc)
            if exc.request_id:
                reason += f" [ErrorId {exc.request_id}]"
        except Exception as exc:  # a bug must not stop the other orders
            log.exception("booking.failed", order=t.starweb_order_id, step=e.event)
            reason = f"internal error ({error_line(exc)}); it will be retried"
        else:
            report.add(f"booking_{outcome}")
            return
        self.events.update(e.id, state="error", error=reason)
        report.add("booking_error", f"{t.starweb_order_id}:{e.event}", reason)
        log.info("booking.error", order=t.starweb_order_id, step=e.event, reason=reason)

    def _review(self, t: Transfer, reason: str, report: SweepReport) -> None:
        self.store.transfers.flag_for_review(t.id, reason)
        report.add("needs_review", t.starweb_order_id, reason)

    # ------------------------------------------------------------------ book
    async def _book(self, t: Transfer, e: StatusEvent, report: SweepReport) -> str:
        draft_id = str(t.visma_document_id)
        invoice = await self._invoice_of(draft_id) if e.state in ("sending", "error") else None
        if invoice is not None:  # an earlier attempt booked it: adopt, never convert twice
            return await self._booked(t, e, invoice, report, adopted=True)
        order = await self._shop_order(t)
        totals = self._checked_totals(t)  # what the order flow compared with the shop's order
        if totals is None:  # adopted, or its journal purged: read the draft and compare it now
            try:
                draft = await self.ctx.visma.drafts.get(draft_id)
            except NotFoundError:
                return await self._draft_gone(t, e, draft_id, report)
            totals = {k: str(getattr(draft, k)) for k in ("TotalAmount", "TotalVatAmount", "TotalRoundings")}
            total = _dec(totals["TotalAmount"]) - _dec(totals["TotalRoundings"])
            shop_total = _dec(order.get("totalAmount"))
            if abs(total - shop_total) > self.settings.totals_tolerance:
                self._changed(t, f"it comes to {total}, the shop's order to {shop_total}", report)
                return "waiting"
        # Visma refuses the conversion when the draft no longer has these totals (changed meanwhile)
        validation = {
            "TotalAmountInvoiceCurrency": _dec(totals["TotalAmount"]),
            "TotalVatAmountInvoiceCurrency": _dec(totals.get("TotalVatAmount")),
        }
        self.events.update(e.id, state="sending", details={"draft": draft_id, "total": totals["TotalAmount"]})
        crash_point("book_before_convert")
        try:
            invoice = await self.ctx.visma.drafts.convert(draft_id, validation)
        except NotFoundError:  # gone meanwhile: converted by a call whose answer came late, or deleted
            return await self._draft_gone(t, e, draft_id, report)
        except BadRequestError as exc:
            if not any(field in exc.message for field in validation):
                raise
            self.events.update(e.id, state="pending")
            self._changed(t, f"Visma says: {exc.message}", report)
            return "waiting"
        crash_point("book_after_convert")
        return await self._booked(t, e, invoice, report, order=order)

    def _checked_totals(self, t: Transfer) -> dict[str, Any] | None:
        """The draft's totals as the transfer recorded them after comparing them with the shop's."""
        for attempt in reversed(self.store.journal.for_transfer(t.id)):
            totals = (attempt.response or {}).get("totals") or {}
            if (attempt.response or {}).get("id") == t.visma_document_id and totals.get("TotalAmount"):
                return totals
        return None

    def _changed(self, t: Transfer, how: str, report: SweepReport) -> None:
        self._review(
            t,
            f"the invoice draft {t.visma_document_number or t.visma_document_id} was changed in Visma after "
            f"the transfer ({how}); it is not booked: check it against the shop's order and book it in Visma",
            report,
        )

    async def _invoice_of(self, draft_id: str) -> Any:
        return await self.ctx.visma.invoices.first(odata_eq("CreatedFromDraftId", draft_id))

    async def _draft_gone(self, t: Transfer, e: StatusEvent, draft_id: str, report: SweepReport) -> str:
        invoice = await self._invoice_of(draft_id)
        if invoice is not None:  # converted (by us, late; or by the accountant): adopt it
            return await self._booked(t, e, invoice, report, adopted=True)
        self.events.update(e.id, state="ignored", details={"note": "the draft was deleted in Visma"})
        self.events.record(
            self.ctx.id, t.starweb_order_id, "cancelled", details={"reason": "deleted in Visma"}
        )
        return "ignored"

    async def _booked(
        self,
        t: Transfer,
        e: StatusEvent,
        invoice: Any,
        report: SweepReport,
        *,
        adopted: bool = False,
        order: dict[str, Any] | None = None,
    ) -> str:
        """The invoice exists: record it, tell the status flow, and pay or send it."""
        details: dict[str, Any] = {"invoice_number": invoice.InvoiceNumber}
        if adopted:
            details["adopted"] = True
        self.events.update(e.id, state="applied", visma_id=str(invoice.Id), details=details)
        self.events.record(
            self.ctx.id,
            t.starweb_order_id,
            "invoiced",
            visma_id=str(invoice.Id),
            details=invoiced_details(invoice),
        )
        log.info("booking.booked", order=t.starweb_order_id, invoice=invoice.InvoiceNumber, adopted=adopted)
        order = order or await self._shop_order(t)
        method = str(order.get("paymentMethodIdCode") or "")
        if method in self.settings.paid_payment_methods and order.get("isComplete"):
            self.ctx.cache[f"invoice:{invoice.Id}"] = invoice  # the payment needs no second read
            self.ctx.cache[f"order:{t.starweb_order_id}"] = order
            self.events.record(self.ctx.id, t.starweb_order_id, "payment")  # the status flow registers it
            return "applied"
        channel = self.settings.invoice_delivery_by_payment_method.get(method, self.settings.invoice_delivery)
        state = "ignored" if channel == "none" else "pending"
        details = {
            "channel": channel,
            "invoice_number": invoice.InvoiceNumber,
            "private": bool(invoice.CustomerIsPrivatePerson),
        }
        self.events.record(
            self.ctx.id, t.starweb_order_id, "send", visma_id=str(invoice.Id), state=state, details=details
        )
        return "applied"

    async def _shop_order(self, t: Transfer) -> dict[str, Any]:
        known = self.ctx.cache.pop(f"order:{t.starweb_order_id}", None)  # read by the order flow just now
        if known is not None:
            return known
        try:
            return as_dict(await self.ctx.starweb.get_order(int(t.starweb_order_id)))
        except NotFoundError as exc:
            raise BookingError(f"the order {t.starweb_order_id} no longer exists in Starweb") from exc

    # ------------------------------------------------------------------ send
    async def _send(self, t: Transfer, e: StatusEvent, report: SweepReport) -> str:
        if e.state not in OPEN_STATES:
            return "applied"
        invoice_id = str(e.visma_id)
        details = e.details or {}
        channel = details.get("channel") or self.settings.invoice_delivery
        number = details.get("invoice_number") or invoice_id
        if channel == "einvoice":
            return await self._einvoice(t, e, invoice_id, number)
        if e.state == "sending" or details.get("attempted"):
            reason = (
                f"Visma may have e-mailed invoice {number} already (the worker stopped while "
                "sending it, and an e-mail leaves nothing to check); it is not sent again: check with the "
                "customer and send it from Visma if needed"
            )
            self.events.update(e.id, state="ignored", details={"note": reason})
            self._review(t, reason, report)
            return "ignored"
        self.events.update(e.id, state="sending", details={"attempted": True})
        crash_point("send_before_post")
        try:
            await self.ctx.visma.invoices.email(invoice_id)
        except ApiError as exc:
            if not is_ambiguous(exc):  # refused or not reached: nothing went out, it may be tried again
                self.events.update(e.id, details={"attempted": False})
            raise
        crash_point("send_after_post")
        self.events.update(e.id, state="applied", details={"sent": "email"})
        log.info("booking.sent", order=t.starweb_order_id, invoice=number, channel="email")
        return "applied"

    async def _einvoice(self, t: Transfer, e: StatusEvent, invoice_id: str, number: Any) -> str:
        if e.state != "pending":  # an earlier attempt may have sent it: an e-invoice shows on the invoice
            invoice = await self.ctx.visma.invoices.get(invoice_id)
            if invoice.SendType:
                self.events.update(e.id, state="applied", details={"sent": "einvoice", "adopted": True})
                return "applied"
        private = bool((e.details or {}).get("private"))
        send_type = SEND_TYPE_KIVRA if private else SEND_TYPE_ELECTRONIC

        async def reconcile() -> Any:
            now = await self.ctx.visma.invoices.get(invoice_id)
            return {"SendType": now.SendType} if now.SendType else None

        self.events.update(e.id, state="sending")
        crash_point("send_before_post")
        await self.ctx.visma.invoices.einvoice(invoice_id, send_type, reconcile=reconcile)
        crash_point("send_after_post")
        self.events.update(e.id, state="applied", details={"sent": "einvoice", "send_type": send_type})
        log.info("booking.sent", order=t.starweb_order_id, invoice=number, channel="einvoice")
        return "applied"
