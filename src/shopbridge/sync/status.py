"""The status flow, Visma → Starweb: what happens to a transferred order in Visma reaches the shop.

One sweep of one connection (after the order flow):

1. **Detect** (level-triggered, `ModifiedUtc` cursors in `store.cursors`, the next cursor is always
   `Meta.ServerTimeUtc`, never our clock):
   - `GET /orders` changed since `status.orders`: Status 3 → **delivered** (with the tracking number
     from `tracking_field` or `tracking_pattern`), Status 4 → delivered then **invoiced**;
   - `GET /customerinvoices?modifiedSinceUtc=` since `status.invoices`: an invoice whose
     `CreatedFromDraftId`/`CreatedFromOrderId` is our document → **invoiced** (its id kept on the
     event); `RemainingAmount` 0 → **paid**; a credit invoice carrying the order's reference that
     covers the whole invoice → **cancelled**.
   - **Deleted drafts/orders** → **cancelled**. Drafts have no `ModifiedUtc` and a deletion leaves
     nothing to poll, so a bounded periodic check (every `deletion_check_interval_s`, timed on the
     server's clock from the cursors) lists draft and order ids (500 per call, so 1,000 open orders
     cost 2-4 calls once per interval) and compares them with the open transfers. A missing id costs
     one look-up (`CreatedFromDraftId`/`CreatedFromOrderId`) to tell a conversion from a deletion.
     Everything else a poll costs is proportional to the changes, not to the open orders.
2. **Shop side**: orders in a `returned_statuses` status that are invoiced get a **credit** invoice
   (once); orders cancelled in the shop that are only a draft or an order in Visma are **voided**
   (deleted) there. One list call per such status per sweep.
3. **Apply**, per order, in the order delivered < invoiced < paid < cancelled: `PATCH /orders/{id}`
   with the mapped status, the mail / payment switches and the tracking number. An event ranked at
   or below one already applied is `superseded`: the order never moves backwards.
   **Payments**: an order paid at checkout (`paid_payment_methods`) gets its payment registered on
   the Visma invoice once the invoice exists.

Exactly once: every action records its intent (`sending`) before the call. An attempt that finds an
intent looks first: the shop order already in the target status, the invoice's `RemainingAmount`
already lowered by the payment, a credit invoice already carrying the reference. Events live in
`store.events`; errors stay on the event (shown by `shopbridge orders show`) and are retried every
sweep; the other orders go on.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog

from shopbridge import plans
from shopbridge.http.errors import ApiError, NotFoundError, PermissionDeniedError
from shopbridge.logs import error_line
from shopbridge.plugins import PluginError
from shopbridge.starweb.mapping import as_dict
from shopbridge.store import TransferState
from shopbridge.store.events import StatusEvent
from shopbridge.store.schema import Transfer
from shopbridge.sync.base import Hint, SweepReport
from shopbridge.sync.context import ConnectionContext
from shopbridge.sync.orders import CANCELLED_CODES, _explain, crash_point
from shopbridge.sync.reference import ReferenceData
from shopbridge.visma.client import parse_server_time
from shopbridge.visma.odata import odata_eq

log = structlog.get_logger("shopbridge.status")

RANK = {"delivered": 1, "invoiced": 2, "paid": 3, "cancelled": 4}
"""The events fed back to the shop, in their order."""
ACTIONS = ("payment", "credit", "void")
"""What we do in Visma ourselves."""
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


class StatusFlow:
    """Visma order/invoice changes → Starweb order statuses; payments and credits in Visma."""

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
        self._server_now: datetime | None = None

    # ------------------------------------------------------------------ sweep
    async def sweep(self, hints: list[Hint] | None = None) -> SweepReport:
        """Detect new events, act on the shop side, then apply every open event."""
        report = SweepReport(self.ctx.name)
        if not plans.allows(self.settings, plans.ORDER_STATUS):  # the plan has no status feedback
            return report
        calls_before = self.ctx.api_calls
        transfers = self._transfers()
        if transfers:
            by_doc = {str(t.visma_document_id): t for t in transfers}
            by_ref = {t.intent_key: t for t in transfers if t.intent_key}
            try:
                if any(t.document_type == "order" for t in transfers):
                    await self._poll_orders(by_doc, report)
                await self._poll_invoices(by_doc, by_ref, report)
                await self._check_deleted(transfers, report)
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

    # ------------------------------------------------------------------ detection
    async def _poll_orders(self, by_doc: dict[str, Transfer], report: SweepReport) -> None:
        since = parse_server_time(self.store.cursors.get(self.ctx.id, CURSOR_ORDERS))
        page = await self.ctx.visma.orders.changed_since(since, lag_s=LAG_S if since else 0)
        for order in page.items:
            t = by_doc.get(str(order.Id))
            if t is None:
                continue
            status = int(order.Status or 1)
            if status >= 3:
                self._record(t, "delivered", report, details=self._tracking(order.model_dump(by_alias=True)))
            if status == 4:
                self._record(t, "invoiced", report)
        self._advance(CURSOR_ORDERS, page.cursor)

    async def _poll_invoices(
        self, by_doc: dict[str, Transfer], by_ref: dict[str, Transfer], report: SweepReport
    ) -> None:
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
            details = {
                "invoice_number": inv.InvoiceNumber,
                "total": str(inv.TotalAmountInvoiceCurrency),
                "currency": inv.CurrencyCode,
            }
            self._record(t, "invoiced", report, visma_id=str(inv.Id), details=details)
            self._want_payment(t, report)
            total = _dec(inv.TotalAmountInvoiceCurrency)
            remaining = _dec(inv.RemainingAmountInvoiceCurrency)
            if total > 0 and remaining == 0:
                self._record(t, "paid", report, details={"paid_on": str(inv.PaymentDate or "")[:10]})
        self._advance(CURSOR_INVOICES, page.cursor)

    def _want_payment(self, t: Transfer, report: SweepReport) -> None:
        """Invoiced: register the checkout payment (when any payment method is set up for it)."""
        if self.settings.paid_payment_methods:
            self._record(t, "payment", report)

    def _external_credit(
        self, inv: Any, ours: dict[str, StatusEvent], by_ref: dict[str, Transfer], report: SweepReport
    ) -> None:
        """A credit invoice someone made in Visma for our order: cancelled when it covers it all."""
        if str(inv.Id) in ours:
            return
        t = by_ref.get(getattr(inv, self.settings.reference_field) or "")
        if t is None:
            return
        history = self.events.for_order(self.ctx.id, t.starweb_order_id)
        invoiced = [e for e in history if e.event == "invoiced"]
        total = _dec((invoiced[0].details or {}).get("total")) if invoiced else Decimal(0)
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
                field = "CreatedFromOrderId" if t.document_type == "order" else "CreatedFromDraftId"
                invoice = await self.ctx.visma.invoices.first(odata_eq(field, doc_id))
                if invoice is not None:
                    self._record(t, "invoiced", report, visma_id=str(invoice.Id))
                    self._want_payment(t, report)
                else:
                    self._record(t, "cancelled", report, details={"reason": "deleted in Visma"})
        self.store.cursors.set(self.ctx.id, CURSOR_DELETION, now.isoformat())

    async def _shop_side(self, transfers: list[Transfer], report: SweepReport) -> None:
        """Returned orders → credit (when invoiced); cancelled in the shop → void (when not invoiced)."""
        returned, _ = await self.ref.status_ids(self.settings.returned_statuses)
        cancelled: set[int] = set()
        if self.settings.void_cancelled:
            statuses = await self.ref.order_statuses()
            cancelled = {s.statusId for s in statuses if str(s.idCode) in CANCELLED_CODES}
        wanted = returned | cancelled
        if not wanted:
            return
        by_order = {t.starweb_order_id: t for t in transfers}
        for status_id in sorted(wanted):
            async for order in self.ctx.starweb.iter_orders(
                statusFilter=status_id, includeNonCompletePayments=True
            ):
                t = by_order.get(str(as_dict(order)["orderId"]))
                if t is None:
                    continue
                events = {e.event: e for e in self.events.for_order(self.ctx.id, t.starweb_order_id)}
                if "credit" in events or "void" in events:
                    continue
                invoiced = events.get("invoiced")
                if invoiced is not None and status_id in returned:
                    self._record(t, "credit", report)
                elif invoiced is None and "cancelled" not in events:
                    self._record(t, "void", report, details={"kind": t.document_type})

    # ------------------------------------------------------------------ applying
    async def _apply_open(self, report: SweepReport) -> None:
        per_order: dict[str, list[StatusEvent]] = defaultdict(list)
        for e in self.events.open(self.ctx.id):
            per_order[e.starweb_order_id].append(e)
        # new events first; events that failed before are retried after them
        retries_last = sorted(per_order.items(), key=lambda kv: all(e.state == "error" for e in kv[1]))
        for order_id, open_events in retries_last:
            t = self.store.transfers.get_by_order(self.ctx.id, order_id)
            history = self.events.for_order(self.ctx.id, order_id)
            applied = max((RANK.get(e.event, 0) for e in history if e.state == "applied"), default=0)
            actions = sorted(
                (e for e in open_events if e.event in ACTIONS), key=lambda e: ACTIONS.index(e.event)
            )
            feedback = sorted((e for e in open_events if e.event in RANK), key=lambda e: RANK[e.event])
            for e in actions:
                await self._guard(e, report, self._act(t, e, history))
            for e in feedback:
                if RANK[e.event] <= applied:
                    self.events.update(e.id, state="superseded")
                    report.add("status_superseded")
                    continue
                if await self._guard(e, report, self._feed_back(e)):
                    applied = max(applied, RANK[e.event])

    async def _guard(self, e: StatusEvent, report: SweepReport, work: Any) -> bool:
        """Run one event's work; every failure lands on the event, the others go on."""
        try:
            outcome = await work
        except StatusError as exc:
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
        mapping = self.settings.status_map
        if not mapping:
            return None
        if event not in mapping:
            raise StatusError(f"no Starweb status is mapped for the event {event!r}; set status_map.{event}")
        value = mapping[event]
        if not value:
            return None
        ids, unknown = await self.ref.status_ids([value])
        if unknown or not ids:
            raise StatusError(f"status_map.{event} names {value!r}, which is no Starweb order status")
        return next(iter(ids))

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
            "onOrderStatusChangeProcessPayment": e.event in s.status_process_payment,
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

    async def _act(self, t: Transfer | None, e: StatusEvent, history: list[StatusEvent]) -> str:
        if t is None:
            raise StatusError("the order has no transfer record")
        invoiced = next((x for x in history if x.event == "invoiced" and x.visma_id), None)
        if e.event == "payment":
            return await self._register_payment(t, e, invoiced)
        if e.event == "credit":
            return await self._credit(t, e, invoiced)
        return await self._void(t, e)

    # ------------------------------------------------------------------ payments
    async def _register_payment(self, t: Transfer, e: StatusEvent, invoiced: StatusEvent | None) -> str:
        """Register a checkout payment on the Visma invoice, exactly once."""
        if invoiced is None:
            return "waiting"  # the invoice id arrives with the next invoice poll
        order = await self._shop_order(int(t.starweb_order_id))
        method = str(order.get("paymentMethodIdCode") or "")
        if method not in self.settings.paid_payment_methods or not order.get("isComplete"):
            note = {"method": method, "note": "not paid at checkout"}
            self.events.update(e.id, state="ignored", details=note)
            return "ignored"
        invoice_id = str(invoiced.visma_id)
        invoice = await self.ctx.visma.invoices.get(invoice_id)
        amount = _dec(order.get("totalAmount"))
        currency = str(order.get("currencyCode") or "SEK")
        remaining = _dec(invoice.RemainingAmountInvoiceCurrency)
        before = (e.details or {}).get("remaining_before")
        if e.state == "sending" and before is not None and remaining <= _dec(before) - amount:
            self.events.update(e.id, state="applied", details={"adopted": True})
            return "applied"
        if remaining == 0:
            note = {"note": "the invoice was already paid in Visma"}
            self.events.update(e.id, state="ignored", details=note)
            return "ignored"
        if invoice.CurrencyCode != currency:
            raise StatusError(
                f"the invoice {invoice.InvoiceNumber} is in {invoice.CurrencyCode} but the order was paid in "
                f"{currency}; register the payment by hand"
            )
        if amount > remaining:
            raise StatusError(
                f"the payment {amount} {currency} is larger than what remains on invoice "
                f"{invoice.InvoiceNumber} ({remaining} {currency}); check the invoice in Visma"
            )
        body = {
            "CompanyBankAccountId": await self._bank_account(method),
            "PaymentDate": str(order.get("createdAt") or "")[:10] + "T00:00:00Z"
            if order.get("createdAt")
            else None,
            "PaymentAmount": amount,
            "PaymentCurrency": currency,
            "PaymentType": 2 if amount == remaining else 1,
            "Reference": f"Starweb {t.starweb_order_id} {method}"[:100],
        }
        body = {k: v for k, v in body.items() if v is not None}
        self.events.update(
            e.id,
            state="sending",
            visma_id=invoice_id,
            details={"remaining_before": str(remaining), "amount": str(amount), "currency": currency},
        )
        crash_point("payment_before_post")

        async def reconcile() -> Any:
            now = await self.ctx.visma.invoices.get(invoice_id)
            if _dec(now.RemainingAmountInvoiceCurrency) <= remaining - amount:
                return {"PaymentAmount": amount, "PaymentCurrency": currency}
            return None

        await self.ctx.visma.invoices.create_payment(invoice_id, body, reconcile=reconcile)
        crash_point("payment_after_post")
        self.events.update(e.id, state="applied")
        log.info("status.payment_registered", order=t.starweb_order_id, amount=str(amount))
        return "applied"

    async def _bank_account(self, method: str) -> str:
        accounts = self.settings.payment_accounts
        if accounts.get(method) or accounts.get("default"):
            return accounts.get(method) or accounts["default"]
        cached = self.ctx.cache.get("bank_account")
        if cached is None:
            try:
                body = await self.ctx.visma.request("GET", "bankaccounts")
            except PermissionDeniedError as exc:
                raise StatusError(
                    "set payment_accounts.default to the Visma bank account for payments (looking it up "
                    "needs the ea:accounting scope, which the connection lacks)"
                ) from exc
            rows = (body or {}).get("Data") or []
            if not rows:
                raise StatusError("the Visma company has no bank account; add one or set payment_accounts")
            rows.sort(key=lambda r: not r.get("IsDefaultChequeAccount"))
            cached = str(rows[0]["Id"])
            self.ctx.cache["bank_account"] = cached
        return cached

    # ------------------------------------------------------------------ credits and voids
    async def _credit(self, t: Transfer, e: StatusEvent, invoiced: StatusEvent | None) -> str:
        """A credit invoice for what was invoiced, exactly once."""
        if invoiced is None:
            raise StatusError("the order is returned but its invoice is not known yet")
        reference = t.intent_key or f"{self.settings.reference_prefix}{t.starweb_order_id}"
        field = self.settings.reference_field

        async def find() -> Any:
            for inv in await self.ctx.visma.invoices.list(filter=odata_eq(field, reference)):
                if inv.IsCreditInvoice:
                    return inv
            return None

        if e.state == "sending":
            found = await find()
            if found is not None:
                self.events.update(e.id, state="applied", visma_id=str(found.Id), details={"adopted": True})
                return "applied"
        invoice = await self.ctx.visma.invoices.get(str(invoiced.visma_id))
        rows = []
        for row in invoice.model_dump(by_alias=True).get("Rows") or []:
            if row.get("IsTextRow") or not row.get("ArticleId"):
                continue
            keep = ("ArticleId", "Text", "UnitPrice", "DiscountPercentage", "LineNumber")
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
        self.events.update(
            e.id, state="applied", visma_id=str(created.Id), details={"credit_invoice": created.InvoiceNumber}
        )
        log.info("status.credited", order=t.starweb_order_id, credit=created.InvoiceNumber)
        return "applied"

    async def _void(self, t: Transfer, e: StatusEvent) -> str:
        """Delete our draft or order in Visma (an order cancelled in the shop before it was invoiced)."""
        doc_id = str(t.visma_document_id)
        resource = self.ctx.visma.orders if t.document_type == "order" else self.ctx.visma.drafts
        self.events.update(e.id, state="sending")
        with contextlib.suppress(NotFoundError):  # already gone: by hand, or by an earlier attempt
            await resource.delete(doc_id)
        self.events.update(e.id, state="applied", visma_id=doc_id)
        log.info("status.voided", order=t.starweb_order_id, visma_id=doc_id)
        return "applied"
