"""The status flow, Visma → Starweb: what happens to a transferred order in Visma reaches the shop.

One sweep of one connection (after the order and booking flows):

1. **Detect** (level-triggered, `ModifiedUtc` cursors in `store.cursors`, the next cursor is always
   `Meta.ServerTimeUtc`, never our clock):
   - `GET /orders` changed since `status.orders`: Status 3 → **delivered** (with the tracking number
     from `tracking_field` or `tracking_pattern`), Status 4 → delivered then **invoiced**;
   - `GET /customerinvoices?modifiedSinceUtc=` since `status.invoices`: an invoice whose
     `CreatedFromDraftId`/`CreatedFromOrderId` is our document → **invoiced** (its id kept on the
     event); `RemainingAmount` 0 → **paid**; a credit invoice of this shop's (same customer, no
     other shop's) carrying the order's reference that covers the whole invoice → **cancelled**.
   - **Deleted drafts/orders** → **cancelled**. Drafts have no `ModifiedUtc` and a deletion leaves
     nothing to poll, so a bounded periodic check (every `deletion_check_interval_s`, timed on the
     server's clock from the cursors) lists draft and order ids (500 per call, so 1,000 open orders
     cost 2-4 calls once per interval) and compares them with the open transfers. A missing id costs
     one look-up (`CreatedFromDraftId`/`CreatedFromOrderId`) to tell a conversion from a deletion.
     Everything else a poll costs is proportional to the changes, not to the open orders.
2. **Shop side** (one list call per returned/cancelled status per sweep):
   - returned (`returned_statuses`) and invoiced → a **credit** invoice, once; returned but not
     invoiced yet → the order waits in `needs_review` with a sentence (a return never deletes);
   - cancelled in the shop and invoiced → a credit when `credit_cancelled`, else `needs_review`;
   - cancelled in the shop while nothing happened to it in Visma (not shipped, not invoiced) → our
     draft or order is **voided** (deleted) when `void_cancelled`, else `needs_review`. The void looks
     at the document right before deleting it: shipped or converted meanwhile → `needs_review`.
3. **Apply**, per order, in the order delivered < invoiced < paid < cancelled: `PATCH /orders/{id}`
   with the mapped status, the mail / payment switches (`capture_on` moves the capture to invoiced)
   and the tracking number. An event ranked at or below one already applied is `superseded`: the
   order never moves backwards, but a superseded delivered still writes its tracking number.
   **Money** (`sync/payments.py`): an order paid at checkout (`paid_payment_methods`) gets its
   payment registered on the Visma invoice once it exists, on the bank account of its payment method,
   settling it (Visma's öre rounding booked as rounding, never left open); a credit for such an order
   gets the same money registered back as a **refund** on the credit invoice, so both are settled.

Exactly once: every action records its intent (`sending`) before the call. An attempt that finds an
intent looks first: the shop order already in the target status, the invoice's `RemainingAmount`
already lowered by the payment, a credit invoice already carrying the reference. Events live in
`store.events`; errors stay on the event (shown by `shopbridge orders show`) and are retried every
sweep; the other orders go on.

Multishop: status ids are per shop, so a further shop that inherits a `status_map` or
`returned_statuses` naming ids gets no status feedback (or credits) and a config error saying so
(`sync/shops.py`); every look-up by reference is scoped to this shop (`ShopScope`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog

from shopbridge import plans
from shopbridge.http.errors import ApiError, NotFoundError
from shopbridge.logs import error_line
from shopbridge.plugins import PluginError
from shopbridge.starweb.mapping import as_dict
from shopbridge.store import TransferState
from shopbridge.store.events import OPEN_STATES, StatusEvent
from shopbridge.store.schema import Transfer
from shopbridge.sync import payments
from shopbridge.sync.base import Hint, SweepReport
from shopbridge.sync.context import ConnectionContext
from shopbridge.sync.orders import CANCELLED_CODES, _explain, crash_point
from shopbridge.sync.reference import ReferenceData
from shopbridge.sync.shops import ShopScope, inherited_ids_reason, inherited_status_ids
from shopbridge.sync.status_poll import STATUS_POLL, budget_limiter, is_hot
from shopbridge.visma.client import parse_server_time
from shopbridge.visma.odata import odata_eq

log = structlog.get_logger("shopbridge.status")

RANK = {"delivered": 1, "invoiced": 2, "paid": 3, "cancelled": 4}
"""The events fed back to the shop, in their order."""
ACTIONS = ("payment", "credit", "refund", "void")
"""What we do in Visma ourselves (booking's `book` and `send` are `sync/booking.py`'s)."""
CAPTURE_EVENTS = ("delivered", "invoiced")
APPLY_CONCURRENCY = 8  # orders applied side by side (one order's events always in their order)
LAG_S = 2.0  # re-read a little before the cursor: a repeated event is recorded once anyway
TRACKING_TEXTS = ("DeliveryMethodName", "DeliveryTermName", "OurReference", "BuyersOrderReference")
"""Where `tracking_pattern` looks (the API gives `Notes` only as note ids, so not there)."""
CURSOR_ORDERS = "status.orders"
CURSOR_INVOICES = "status.invoices"
CURSOR_DELETION = "status.deletion_check"


class StatusError(Exception):
    """An event cannot be applied as things are; the message says what to fix."""


def _gone(order_id: int) -> str:
    return f"the order {order_id} no longer exists in Starweb (deleted in the shop)"


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def invoiced_details(inv: Any) -> dict[str, Any]:
    """What an invoiced event keeps of its invoice (the credit and the refund need it)."""
    return {
        "invoice_number": inv.InvoiceNumber,
        "total": str(inv.TotalAmountInvoiceCurrency),
        "currency": inv.CurrencyCode,
        "customer": str(inv.CustomerId or ""),
    }


class StatusFlow:
    """Visma order/invoice changes → Starweb order statuses; payments, credits and refunds in Visma."""

    name = "status"

    def __init__(
        self, ctx: ConnectionContext, *, on_progress: Callable[[str, int], None] | None = None
    ) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.store = ctx.store
        self.events = ctx.store.events
        self.on_progress = on_progress  # accepted for the flow signature; the order bar is the orders'
        self.ref: ReferenceData = ctx.cache.setdefault("reference", ReferenceData(ctx.starweb, ctx.visma))
        self.scope = ShopScope(ctx)
        self._server_now: datetime | None = None
        self._budget: Any = None  # a status poll's Visma reads come out of the client's polling budget
        # status ids are per shop: what a further shop inherits as ids cannot work in its own shop
        self.inherited = inherited_status_ids(ctx.store, ctx.connection)
        self.status_map = {} if "status_map" in self.inherited else self.settings.status_map
        self.returned_statuses = (
            [] if "returned_statuses" in self.inherited else self.settings.returned_statuses
        )

    # ------------------------------------------------------------------ sweep
    async def sweep(self, hints: list[Hint] | None = None) -> SweepReport:
        """Detect new events, act on the shop side, then apply every open event."""
        report = SweepReport(self.ctx.name)
        if not plans.allows(self.settings, plans.ORDER_STATUS):  # the plan has no status feedback
            return report
        calls_before = self.ctx.api_calls
        if self.ctx.connection.parent_id is not None:
            parent = self.store.connections.get(self.ctx.connection.parent_id).name
            for key in ("status_map", "returned_statuses"):
                if key in self.inherited:
                    reason = inherited_ids_reason(self.ctx.connection, parent, key, self.inherited[key])
                    report.add("config_error", key, reason + "; until then it gets no status feedback")
        transfers = self._transfers()
        # a status poll (`sync/status_poll.py`) reads Visma's side only; with status polls on their own
        # schedule, the full sweep reads the shop's side only; otherwise (the CLI) a sweep reads both
        polled = STATUS_POLL in (hints or [])
        visma_side = polled or not self.ctx.status_polls
        shop_side = not (hints and all(h == STATUS_POLL for h in hints))
        if polled:
            self._budget = budget_limiter(
                self.ctx.visma.oauth.client_id, self.settings.status_poll_budget_per_min
            )
        if transfers:
            by_doc = {str(t.visma_document_id): t for t in transfers}
            by_ref = {t.intent_key: t for t in transfers if t.intent_key}
            try:
                if visma_side:
                    orders, invoices = self._endpoints(transfers, polled)
                    if orders:
                        await self._poll_orders(by_doc, report)
                    if invoices:
                        await self._poll_invoices(by_doc, by_ref, report)
                    await self._check_deleted(transfers, report)
                if shop_side:
                    await self._shop_side(transfers, report)
            except ApiError as exc:  # detection resumes from the same cursors next sweep
                reason, _ = _explain(exc)
                log.warning("status.detect_failed", error=reason)
                report.add("status_detect_failed", "status", reason)
            except Exception as exc:  # a bug must not stop the sweep: events already recorded still apply
                log.exception("status.detect_failed")
                report.add("status_detect_failed", "status", f"internal error ({error_line(exc)})")
        await self._apply_open(report)
        report.api_calls = self.ctx.api_calls - calls_before
        return report

    def _transfers(self) -> list[Transfer]:
        states = [TransferState.TRANSFERRED, TransferState.NEEDS_REVIEW]
        rows = self.store.transfers.all(self.ctx.id, state=states, limit=10_000_000)
        return [t for t in rows if t.visma_document_id]

    def _record(self, t: Transfer, event: str, report: SweepReport, **kw: Any) -> StatusEvent:
        row, new = self.events.record(self.ctx.id, t.starweb_order_id, event, **kw)
        if new:
            log.info("status.event", order=t.starweb_order_id, status_event=event)
            report.add(f"event_{event}")
        return row

    def _review(self, t: Transfer, reason: str, report: SweepReport) -> None:
        """The shop and the books disagree in a way only a person can settle: say so on the order."""
        if t.state != TransferState.NEEDS_REVIEW or t.last_error != reason:
            self.store.transfers.flag_for_review(t.id, reason)
            log.info("status.needs_review", order=t.starweb_order_id, reason=reason)
        report.add("needs_review", t.starweb_order_id, reason)

    # ------------------------------------------------------------------ detection
    def _endpoints(self, transfers: list[Transfer], polled: bool) -> tuple[bool, bool]:
        """Which of Visma's lists a sweep reads: `orders` while an order of ours is not invoiced yet,
        `invoices` while a draft may be converted or an invoice paid or credited; a status poll of a
        connection that is not hot reads one of them at a time. A full read (not a status poll) reads
        both, so the cursors stay fresh."""
        has_orders = any(t.document_type == "order" for t in transfers)
        if not polled:
            return has_orders, True
        invoiced = self.events.orders_with(self.ctx.id, ("invoiced",))
        settled = self.events.orders_with(self.ctx.id, ("paid", "cancelled", "void"))
        orders = any(t.document_type == "order" and t.starweb_order_id not in invoiced for t in transfers)
        invoices = any(
            t.starweb_order_id not in settled
            and (t.document_type != "order" or t.starweb_order_id in invoiced)
            for t in transfers
        )
        if orders and invoices and not is_hot(self.events.last_recorded([self.ctx.id]).get(self.ctx.id)):
            # a quiet poll reads one list, the one read longest ago: each list every other poll, so a
            # poll costs one call, as two lists a minute cost before
            orders_at = parse_server_time(self.store.cursors.get(self.ctx.id, CURSOR_ORDERS))
            invoices_at = parse_server_time(self.store.cursors.get(self.ctx.id, CURSOR_INVOICES))
            read_orders = orders_at is None or (invoices_at is not None and orders_at <= invoices_at)
            return read_orders, not read_orders
        return orders, invoices

    async def _spend(self) -> None:
        """Take one call from the polling budget (waits when the Visma client's polls spent it)."""
        if self._budget is not None:
            self._budget.release(await self._budget.acquire())

    async def _poll_orders(self, by_doc: dict[str, Transfer], report: SweepReport) -> None:
        await self._spend()
        since = parse_server_time(self.store.cursors.get(self.ctx.id, CURSOR_ORDERS))
        page = await self.ctx.visma.orders.changed_since(since, lag_s=LAG_S if since else 0)
        for order in page.items:
            t = by_doc.get(str(order.Id))
            if t is None:
                continue
            status = int(order.Status or 1)
            if status >= 3:
                tracking = self._tracking(order.model_dump(by_alias=True))
                row = self._record(t, "delivered", report, details=tracking)
                known = (row.details or {}).get("tracking")
                if tracking and known != tracking["tracking"] and row.state not in OPEN_STATES:
                    # a tracking number added (or changed) after delivered was handled: it goes out alone
                    self.events.update(row.id, state="pending", details={**tracking, "was": row.state})
            if status == 4:
                self._record(t, "invoiced", report)
        self._advance(CURSOR_ORDERS, page.cursor)

    async def _poll_invoices(
        self, by_doc: dict[str, Transfer], by_ref: dict[str, Transfer], report: SweepReport
    ) -> None:
        await self._spend()
        since = parse_server_time(self.store.cursors.get(self.ctx.id, CURSOR_INVOICES))
        page = await self.ctx.visma.invoices.changed_since(
            since, lag_s=LAG_S if since else 0, since_param="modifiedSinceUtc"
        )
        credits = [i for i in page.items if i.IsCreditInvoice]
        ours = self.events.by_visma_id(self.ctx.id, [str(i.Id) for i in credits])
        for inv in page.items:
            if inv.IsCreditInvoice:
                self._external_credit(inv, ours, by_ref, report)
                continue
            t = by_doc.get(str(inv.CreatedFromDraftId)) or by_doc.get(str(inv.CreatedFromOrderId))
            if t is None:
                continue
            self._record(t, "invoiced", report, visma_id=str(inv.Id), details=invoiced_details(inv))
            self._want_payment(t, report)
            total = _dec(inv.TotalAmountInvoiceCurrency)
            remaining = _dec(inv.RemainingAmountInvoiceCurrency)
            if total > 0 and remaining == 0 and await self._credited_amount(inv, credits) < total:
                self._record(t, "paid", report, details={"paid_on": str(inv.PaymentDate or "")[:10]})
        self._advance(CURSOR_INVOICES, page.cursor)

    async def _credited_amount(self, inv: Any, known: list[Any]) -> Decimal:
        """How much of an invoice its credit invoices cover: a void settles it without any payment."""
        ids = [str(c.CreditInvoiceId) for c in inv.CreditedBy or [] if c.CreditInvoiceId]
        by_id = {str(c.Id): c for c in known}
        total = Decimal(0)
        for credit_id in ids:
            credit = by_id.get(credit_id) or await self.ctx.visma.invoices.get(credit_id)
            total += abs(_dec(credit.TotalAmountInvoiceCurrency))
        return total

    def _want_payment(self, t: Transfer, report: SweepReport) -> None:
        """Invoiced: register the checkout payment (when any payment method is set up for it)."""
        if self.settings.paid_payment_methods:
            self._record(t, "payment", report)

    def _external_credit(
        self, inv: Any, ours: dict[str, StatusEvent], by_ref: dict[str, Transfer], report: SweepReport
    ) -> None:
        """A credit invoice someone made in Visma for our order: cancelled when it covers it all."""
        if str(inv.Id) in ours or not self.scope.belongs(inv):
            return
        t = by_ref.get(getattr(inv, self.settings.reference_field) or "")
        if t is None:
            return
        history = self.events.for_order(self.ctx.id, t.starweb_order_id)
        if any(e.event == "credit" for e in history):
            return  # our own credit, its answer not recorded yet (a crash): the credit step adopts it
        invoiced = [e for e in history if e.event == "invoiced"]
        details = (invoiced[0].details or {}) if invoiced else {}
        customer = details.get("customer")
        if customer and str(inv.CustomerId or "").lower() != customer.lower():
            return  # the same reference on another customer's credit: not this order's
        total = _dec(details.get("total"))
        credited = -_dec(inv.TotalAmountInvoiceCurrency)
        if total > 0 and credited >= total:
            self._record(t, "cancelled", report, details={"credit_invoice": inv.InvoiceNumber})

    def _advance(self, name: str, cursor: datetime | None) -> None:
        if cursor is None:
            return
        self.store.cursors.set(self.ctx.id, name, cursor.isoformat())
        self._server_now = max(self._server_now or cursor, cursor)

    def _tracking(self, order: dict[str, Any]) -> dict[str, Any]:
        """The tracking number of a Visma order, from the configured field or pattern."""
        s = self.settings
        number: str | None = None
        if s.tracking_field and order.get(s.tracking_field):
            number = str(order[s.tracking_field]).strip()
        if number is None and s.tracking_pattern:
            texts = [order.get(k) or "" for k in TRACKING_TEXTS]
            match = re.search(s.tracking_pattern, "\n".join(str(x) for x in texts))
            if match:
                number = (match.group(1) if match.groups() else match.group(0)).strip()
        return {"tracking": number} if number else {}

    async def _check_deleted(self, transfers: list[Transfer], report: SweepReport) -> None:
        """Bounded periodic check for drafts and orders deleted in Visma (see the module docstring)."""
        now = self._server_now
        last = parse_server_time(self.store.cursors.get(self.ctx.id, CURSOR_DELETION))
        interval = timedelta(seconds=self.settings.deletion_check_interval_s)
        if now is None or (last is not None and now - last < interval):
            return
        done = self.events.orders_with(self.ctx.id, ("invoiced", "cancelled", "void"))
        open_docs = {str(t.visma_document_id): t for t in transfers if t.starweb_order_id not in done}
        if open_docs:
            kinds = {t.document_type for t in open_docs.values()}
            present: set[str] = set()
            if "order" in kinds:
                present |= {str(o.Id) async for o in self.ctx.visma.orders.iter(page_size=500)}
            if kinds - {"order"}:
                present |= {str(d.Id) async for d in self.ctx.visma.drafts.iter(page_size=500)}
            for doc_id, t in open_docs.items():
                if doc_id in present:
                    continue
                invoice = await self._invoice_from(t)
                if invoice is not None:
                    self._record(
                        t, "invoiced", report, visma_id=str(invoice.Id), details=invoiced_details(invoice)
                    )
                    self._want_payment(t, report)
                else:
                    self._record(t, "cancelled", report, details={"reason": "deleted in Visma"})
        self.store.cursors.set(self.ctx.id, CURSOR_DELETION, now.isoformat())

    async def _invoice_from(self, t: Transfer) -> Any:
        """The invoice made from our draft or order, or None."""
        field = "CreatedFromOrderId" if t.document_type == "order" else "CreatedFromDraftId"
        return await self.ctx.visma.invoices.first(odata_eq(field, str(t.visma_document_id)))

    async def _shop_side(self, transfers: list[Transfer], report: SweepReport) -> None:
        """Returned or cancelled in the shop: credit, void or needs_review (see the module docstring)."""
        returned, unknown = await self.ref.status_ids(self.returned_statuses)
        if unknown:
            report.add(
                "config_error",
                "returned_statuses",
                f"returned_statuses names {', '.join(map(repr, unknown))}, which this shop has no order "
                "status for; returns in it are not credited",
            )
        statuses = await self.ref.order_statuses()
        cancelled = {s.statusId for s in statuses if str(s.idCode) in CANCELLED_CODES}
        by_order = {t.starweb_order_id: t for t in transfers}
        for status_id in sorted(returned | cancelled):
            async for order in self.ctx.starweb.iter_orders(
                statusFilter=status_id, includeNonCompletePayments=True
            ):
                t = by_order.get(str(as_dict(order)["orderId"]))
                if t is not None:
                    self._after_shop_change(t, "returned" if status_id in returned else "cancelled", report)

    def _after_shop_change(self, t: Transfer, what: str, report: SweepReport) -> None:
        """One order returned or cancelled in the shop: what it asks of Visma."""
        events = {e.event: e for e in self.events.for_order(self.ctx.id, t.starweb_order_id)}
        if "credit" in events or "void" in events:
            return
        invoiced = events.get("invoiced")
        number = t.visma_document_number or t.visma_document_id
        if invoiced is not None:
            invoice = (invoiced.details or {}).get("invoice_number") or invoiced.visma_id
            if what == "returned" or self.settings.credit_cancelled:
                self._record(t, "credit", report, details={"why": what})
            else:
                self._review(
                    t,
                    f"the order was cancelled in the shop after Visma invoiced it (invoice {invoice}); "
                    "credit it in Visma, or set credit_cancelled true to have cancelled orders credited",
                    report,
                )
        elif "cancelled" in events:
            return  # gone in Visma already: nothing is left to undo
        elif what == "returned":
            self._review(
                t,
                f"the order was marked returned in the shop but Visma has not invoiced it yet "
                f"({t.document_type} {number}); invoice it (it is credited then) or remove it in Visma",
                report,
            )
        elif "delivered" in events:
            self._review(
                t,
                f"the order was cancelled in the shop but Visma has shipped it already (order {number}); "
                "settle it in Visma",
                report,
            )
        elif self.settings.void_cancelled:
            self._record(t, "void", report, details={"kind": t.document_type})
        else:
            self._review(
                t,
                f"the order was cancelled in the shop; its {t.document_type} {number} stays in Visma because "
                "void_cancelled is false: remove it there",
                report,
            )

    # ------------------------------------------------------------------ applying
    async def _apply_open(self, report: SweepReport) -> None:
        per_order: dict[str, list[StatusEvent]] = defaultdict(list)
        for e in self.events.open(self.ctx.id):
            per_order[e.starweb_order_id].append(e)
        # new events first; events that failed before are retried after them; orders side by side
        retries_last = sorted(per_order.items(), key=lambda kv: all(e.state == "error" for e in kv[1]))
        slots = asyncio.Semaphore(APPLY_CONCURRENCY)

        async def one(order_id: str, open_events: list[StatusEvent]) -> None:
            async with slots:
                await self._apply_order(order_id, open_events, report)

        await asyncio.gather(*(one(order_id, open_events) for order_id, open_events in retries_last))

    async def _apply_order(self, order_id: str, open_events: list[StatusEvent], report: SweepReport) -> None:
        t = self.store.transfers.get_by_order(self.ctx.id, order_id)
        done: set[int] = set()
        for _ in range(len(ACTIONS)):  # an action may record the next one (credit -> refund, payment -> paid)
            actions = sorted(
                (e for e in open_events if e.event in ACTIONS and e.id not in done),
                key=lambda e: ACTIONS.index(e.event),
            )
            if not actions:
                break
            for e in actions:
                done.add(e.id)
                history = self.events.for_order(self.ctx.id, order_id)
                await self._guard(e, report, self._act(t, e, history, report))
            open_events = [e for e in self.events.for_order(self.ctx.id, order_id) if e.state in OPEN_STATES]
        history = self.events.for_order(self.ctx.id, order_id)
        applied = max((RANK.get(e.event, 0) for e in history if e.state == "applied"), default=0)
        feedback = sorted((e for e in open_events if e.event in RANK), key=lambda e: RANK[e.event])
        for e in feedback:
            if RANK[e.event] <= applied:
                await self._guard(e, report, self._supersede(e))
                continue
            if await self._guard(e, report, self._feed_back(e)):
                applied = max(applied, RANK[e.event])

    async def _guard(self, e: StatusEvent, report: SweepReport, work: Any) -> bool:
        """Run one event's work; every failure lands on the event, the others go on."""
        try:
            outcome = await work
        except StatusError as exc:
            reason = str(exc)
        except payments.PaymentSetupError as exc:
            reason = str(exc)
        except ApiError as exc:
            reason, _ = _explain(exc)
            if exc.request_id:
                reason += f" [ErrorId {exc.request_id}]"
        except Exception as exc:  # a bug must not stop the other orders
            log.exception("status.failed", order=e.starweb_order_id, status_event=e.event)
            reason = f"internal error ({error_line(exc)}); it will be retried"
        else:
            report.add(f"status_{outcome}")
            return outcome == "applied"
        self.events.update(e.id, state="error", error=reason)
        report.add("status_error", f"{e.starweb_order_id}:{e.event}", reason)
        log.info("status.error", order=e.starweb_order_id, status_event=e.event, reason=reason)
        return False

    async def _target_status(self, event: str) -> int | None:
        mapping = self.status_map
        if not mapping:
            return None
        if event not in mapping:
            raise StatusError(f"no Starweb status is mapped for the event {event!r}; set status_map.{event}")
        value = mapping[event]
        if not value:
            return None
        ids, unknown = await self.ref.status_ids([value])
        if unknown or not ids:
            raise StatusError(
                f"status_map.{event} names {value!r}, which is no Starweb order status of this shop"
            )
        return next(iter(ids))

    def _processes_payment(self, event: str) -> bool:
        """Whether the status change lets the payment method act (capture, or cancel on cancelled)."""
        s = self.settings
        if event in CAPTURE_EVENTS and s.capture_on == "invoiced":
            return event == "invoiced"
        return event in s.status_process_payment

    async def _tracker_type(self) -> int | None:
        value = self.settings.tracker_type
        if not value:
            return None
        if value.isdigit():
            return int(value)
        types = self.ctx.cache.get("tracker_types")
        if types is None:
            listed = await self.ctx.starweb.list_shipping_tracking_types()
            types = {str(x.name).lower(): x.type for x in listed}
            self.ctx.cache["tracker_types"] = types
        if value.lower() not in types:
            raise StatusError(f"tracker_type {value!r} is no Starweb shipping tracking type")
        return int(types[value.lower()])

    async def _supersede(self, e: StatusEvent) -> str:
        """An event behind the order's status: never applied, but a delivered keeps its tracking number."""
        tracking = (e.details or {}).get("tracking") if e.event == "delivered" else None
        if tracking and self.status_map:
            try:
                await self.ctx.starweb.update_order(
                    int(e.starweb_order_id),
                    shippingTrackingNo=tracking,
                    shippingTrackerType=await self._tracker_type(),
                )
            except NotFoundError as exc:
                raise StatusError(_gone(int(e.starweb_order_id))) from exc
            state = (e.details or {}).get("was") or "superseded"  # a late number keeps its event's state
            self.events.update(e.id, state=state, details={"tracking_written": tracking})
            log.info("status.tracking_written", order=e.starweb_order_id, tracking=tracking)
        else:
            self.events.update(e.id, state="superseded")
        return "superseded"

    async def _feed_back(self, e: StatusEvent) -> str:
        """PATCH the shop order to the event's status, once."""
        target = await self._target_status(e.event)
        if target is None:
            self.events.update(e.id, state="ignored", details={"note": "no status configured"})
            return "ignored"
        order_id = int(e.starweb_order_id)
        if e.state == "sending":  # an earlier attempt may have sent it: look before repeating
            current = await self._shop_order(order_id)
            sent = (e.details or {}).get("status_id", target)  # a plugin may have chosen another status
            if current.get("statusId") in (target, sent):
                self.events.update(e.id, state="applied", details={"status_id": sent, "adopted": True})
                return "applied"
        s = self.settings
        tracking = (e.details or {}).get("tracking") if e.event == "delivered" else None
        kw: dict[str, Any] = {
            "statusId": target,
            "onOrderStatusChangeSendEmail": e.event in s.status_mail,
            "onOrderStatusChangeProcessPayment": self._processes_payment(e.event),
        }
        if tracking:
            kw["shippingTrackingNo"] = tracking
            kw["shippingTrackerType"] = await self._tracker_type()
        try:
            kw = await self.ctx.plugins.status_update(
                kw, event=e.event, order_id=e.starweb_order_id, details=e.details
            )
        except PluginError as exc:
            raise StatusError(str(exc)) from exc
        if kw.get("statusId") is None:
            self.events.update(e.id, state="ignored", details={"note": "a plugin left the status as it is"})
            return "ignored"
        target = kw["statusId"]
        self.events.update(e.id, state="sending", details={"status_id": target})
        crash_point("status_before_patch")
        try:
            await self.ctx.starweb.update_order(order_id, **kw)
        except NotFoundError as exc:
            raise StatusError(_gone(order_id)) from exc
        crash_point("status_after_patch")
        self.events.update(e.id, state="applied")
        log.info("status.applied", order=e.starweb_order_id, status_event=e.event, status_id=target)
        return "applied"

    async def _shop_order(self, order_id: int) -> dict[str, Any]:
        try:
            return as_dict(await self.ctx.starweb.get_order(order_id))
        except NotFoundError as exc:
            raise StatusError(_gone(order_id)) from exc

    async def _act(
        self, t: Transfer | None, e: StatusEvent, history: list[StatusEvent], report: SweepReport
    ) -> str:
        if t is None:
            raise StatusError("the order has no transfer record")
        by_event = {x.event: x for x in history}
        invoiced = by_event.get("invoiced")
        if invoiced is not None and not invoiced.visma_id:
            invoiced = None
        if e.event == "payment":
            return await self._register_payment(t, e, invoiced, report)
        if e.event == "credit":
            return await self._credit(t, e, invoiced, report)
        if e.event == "refund":
            return await self._refund(t, e, by_event, report)
        return await self._void(t, e, report)

    # ------------------------------------------------------------------ payments and refunds
    async def _register_payment(
        self, t: Transfer, e: StatusEvent, invoiced: StatusEvent | None, report: SweepReport
    ) -> str:
        """Register a checkout payment on the Visma invoice, exactly once, settling it."""
        if invoiced is None:
            return "waiting"  # the invoice id arrives with the next invoice poll
        order = self.ctx.cache.pop(f"order:{t.starweb_order_id}", None)  # read by booking this sweep
        if order is None:
            order = await self._shop_order(int(t.starweb_order_id))
        method = str(order.get("paymentMethodIdCode") or "")
        if method not in self.settings.paid_payment_methods or not order.get("isComplete"):
            self.events.update(
                e.id, state="ignored", details={"method": method, "note": "not paid at checkout"}
            )
            return "ignored"
        amount = _dec(order.get("totalAmount"))
        currency = str(order.get("currencyCode") or "SEK")
        paid_on = str(order.get("createdAt") or "")[:10]
        return await self._pay(t, e, str(invoiced.visma_id), amount, currency, method, paid_on, report)

    async def _refund(
        self, t: Transfer, e: StatusEvent, by_event: dict[str, StatusEvent], report: SweepReport
    ) -> str:
        """Pay the checkout payment back on our credit invoice, once, on the account it came in on."""
        credit, payment = by_event.get("credit"), by_event.get("payment")
        if credit is None or credit.state != "applied" or not credit.visma_id:
            return "waiting"
        paid = (payment.details or {}) if payment is not None and payment.state == "applied" else {}
        if not paid.get("amount"):
            self.events.update(e.id, state="ignored", details={"note": "no checkout payment was registered"})
            return "ignored"
        return await self._pay(
            t,
            e,
            str(credit.visma_id),
            -_dec(paid["amount"]),
            str(paid.get("currency") or "SEK"),
            str(paid.get("method") or ""),
            None,
            report,
            account=paid.get("account"),
        )

    async def _pay(
        self,
        t: Transfer,
        e: StatusEvent,
        invoice_id: str,
        amount: Decimal,
        currency: str,
        method: str,
        paid_on: str | None,
        report: SweepReport,
        *,
        account: str | None = None,
    ) -> str:
        """Register `amount` (negative: a refund) on an invoice; intent first, looked for before repeating."""
        what = "refund" if amount < 0 else "payment"
        booked = self.ctx.cache.pop(f"invoice:{invoice_id}", None)  # just booked: that answer is the invoice
        invoice = (
            booked
            if booked is not None and e.state == "pending"
            else await self.ctx.visma.invoices.get(invoice_id)
        )
        # an earlier attempt recorded its intent (a crash, a lost answer): look before paying again
        if e.state in ("sending", "error") and payments.went_through(invoice, e.details or {}):
            self.events.update(e.id, state="applied", details={"adopted": True})
            return "applied"
        if _dec(invoice.RemainingAmountInvoiceCurrency) == 0:
            self.events.update(
                e.id, state="ignored", details={"note": "the invoice was already settled in Visma"}
            )
            return "ignored"
        if invoice.CurrencyCode != currency:
            raise StatusError(
                f"the invoice {invoice.InvoiceNumber} is in {invoice.CurrencyCode} but the order was paid in "
                f"{currency}; register the {what} by hand"
            )
        try:
            settlement = payments.payment_type(invoice, amount, tolerance=self.settings.totals_tolerance)
        except ValueError as exc:
            raise StatusError(
                f"the {what} {amount} {currency} cannot be registered on invoice {invoice.InvoiceNumber}: "
                f"{exc}; check the invoice in Visma"
            ) from exc
        account = account or await payments.account_for(
            self.ctx.visma, self.settings, method, self.ctx.cache, connection=self.ctx.name
        )
        body = {
            "CompanyBankAccountId": account,
            "PaymentDate": f"{paid_on}T00:00:00Z" if paid_on else None,
            "PaymentAmount": amount,
            "PaymentCurrency": currency,
            "PaymentType": settlement.kind,
            "Reference": f"{self.settings.reference_prefix}{t.starweb_order_id} {method}".strip()[:100],
        }
        body = {k: v for k, v in body.items() if v is not None}
        self.events.update(
            e.id,
            state="sending",
            visma_id=invoice_id,
            details={
                "remaining_before": str(settlement.remaining_before),
                "remaining_after": str(settlement.remaining_after),
                "amount": str(amount if amount > 0 else -amount),
                "currency": currency,
                "account": account,
                "method": method,
                "type": payments.TYPE_NAMES[settlement.kind],
            },
        )
        crash_point(f"{what}_before_post")
        await payments.register(self.ctx.visma, invoice_id, body, settlement)
        crash_point(f"{what}_after_post")
        self.events.update(e.id, state="applied")
        if what == "payment" and not settlement.residue:  # Paid is true now: the shop hears it this sweep
            self._record(t, "paid", report, details={"paid_on": paid_on or ""})
        if settlement.residue:
            reason = (
                f"the {what} {amount} {currency} leaves {settlement.residue} {currency} open on invoice "
                f"{invoice.InvoiceNumber}: the invoice is larger than what was paid at checkout"
            )
            report.add("payment_partial", t.starweb_order_id, reason)
        log.info(
            f"status.{what}_registered", order=t.starweb_order_id, amount=str(amount), type=settlement.kind
        )
        return "applied"

    # ------------------------------------------------------------------ credits and voids
    async def _credit(
        self, t: Transfer, e: StatusEvent, invoiced: StatusEvent | None, report: SweepReport
    ) -> str:
        """A credit invoice for what was invoiced, exactly once (then the refund, when paid at checkout)."""
        if invoiced is None:
            raise StatusError("the order is returned but its invoice is not known yet")
        reference = t.intent_key or f"{self.settings.reference_prefix}{t.starweb_order_id}"
        field = self.settings.reference_field
        invoice = await self.ctx.visma.invoices.get(str(invoiced.visma_id))

        async def find() -> Any:
            for inv in await self.scope.all(self.ctx.visma.invoices, odata_eq(field, reference)):
                same_customer = str(inv.CustomerId or "").lower() == str(invoice.CustomerId or "").lower()
                if inv.IsCreditInvoice and same_customer:
                    return inv
            return None

        if e.state == "sending":
            found = await find()
            if found is not None:
                self._credited(t, e, found, report, adopted=True)
                return "applied"
        rows = []
        for row in invoice.model_dump(by_alias=True).get("Rows") or []:
            if row.get("IsTextRow") or not row.get("ArticleId"):
                continue
            keep = (
                "ArticleId",
                "Text",
                "UnitPrice",
                "DiscountPercentage",
                "LineNumber",
                "CostCenterItemId1",
                "ProjectId",
            )
            new = {k: row[k] for k in keep if row.get(k) is not None}
            new["Quantity"] = -_dec(row.get("Quantity"))
            new["IsTextRow"] = False
            rows.append(new)
        body = {
            "CustomerId": invoice.CustomerId,
            "IsCreditInvoice": True,
            "EuThirdParty": bool(invoice.EuThirdParty),
            "RotReducedInvoicingType": 0,
            "Rows": rows,
            field: reference,
        }
        self.events.update(e.id, state="sending", details={"invoice": invoice.InvoiceNumber})
        crash_point("credit_before_post")
        created = await self.ctx.visma.invoices.create(body, reconcile=find)
        crash_point("credit_after_post")
        self._credited(t, e, created, report)
        log.info("status.credited", order=t.starweb_order_id, credit=created.InvoiceNumber)
        return "applied"

    def _credited(
        self, t: Transfer, e: StatusEvent, credit: Any, report: SweepReport, *, adopted: bool = False
    ) -> None:
        details: dict[str, Any] = {"credit_invoice": credit.InvoiceNumber}
        if adopted:
            details["adopted"] = True
        self.events.update(e.id, state="applied", visma_id=str(credit.Id), details=details)
        if self.settings.paid_payment_methods:  # paid at checkout: the money goes back on the credit
            self._record(t, "refund", report)

    async def _void(self, t: Transfer, e: StatusEvent, report: SweepReport) -> str:
        """Delete our draft or order in Visma (cancelled in the shop) while nothing happened to it there."""
        doc_id = str(t.visma_document_id)
        is_order = t.document_type == "order"
        resource = self.ctx.visma.orders if is_order else self.ctx.visma.drafts
        try:
            doc = await resource.get(doc_id)
        except NotFoundError:
            doc = None
        if doc is None:  # gone: converted (look for its invoice) or deleted (by hand, or an earlier attempt)
            invoice = await self._invoice_from(t)
            if invoice is not None:
                self._record(
                    t, "invoiced", report, visma_id=str(invoice.Id), details=invoiced_details(invoice)
                )
                self.events.update(
                    e.id, state="superseded", details={"note": "invoiced in Visma before the void"}
                )
                return "superseded"  # the next sweep sees a cancelled, invoiced order: credit or review
            self.events.update(e.id, state="applied", visma_id=doc_id, details={"note": "already gone"})
            return "applied"
        if is_order and int(doc.Status or 1) >= 3:
            self.events.update(e.id, state="superseded", details={"note": "shipped in Visma before the void"})
            self._review(
                t,
                f"the order was cancelled in the shop but Visma has shipped it already (order "
                f"{t.visma_document_number or doc_id}); settle it in Visma",
                report,
            )
            return "superseded"
        self.events.update(e.id, state="sending")
        crash_point("void_before_delete")
        with contextlib.suppress(NotFoundError):  # deleted between the look and the delete: the same
            await resource.delete(doc_id)
        self.events.update(e.id, state="applied", visma_id=doc_id)
        log.info("status.voided", order=t.starweb_order_id, visma_id=doc_id)
        return "applied"
