"""The order flow, Starweb → Visma: paid orders become invoice drafts or orders, exactly once, to the öre.

(`document_type invoice` sends a draft here too; `sync/booking.py` books it right after.)

One sweep of one connection:

1. **Discover** (level-triggered): list the shop's complete orders in the trigger statuses created
   since the start date, and make sure each has a transfer row. A web hook only makes a sweep come
   sooner and look at its order first; nothing depends on hooks arriving.
2. **Transfer** each due row (`claim_due`), a few at a time:
   read the order → map it (`starweb.mapping`) → check it (VAT treatment, currency, addresses) →
   find or create the customer → find the articles → build the document (`visma.mapping`) →
   **record the intent** (committed) → create it in Visma with a `reconcile` that looks for a
   document carrying the order's reference → **check the totals** against the shop's → record it
   (`mark_transferred`, binding and usage in one commit) → write the Visma id back onto the Starweb
   order (`externalServices`, service "visma").
3. Bad input parks the order in `waiting_for_fix` with one sentence saying what to fix; passing
   failures go back to `pending` with exponential backoff; the other orders go on.

Exactly once, with any number of workers on any number of machines:
- a sweep holds its connection's lease (`sync.sweep_lease`): one sweep of a connection at a time;
  it claims an order only when a worker slot starts on it (an attempt counts when work starts);
- an attempt that finds an intent from an earlier attempt (a crash, a timeout, a killed worker)
  first looks in Visma for every draft, order or invoice with the order's reference: one is adopted,
  two are one too many (`_resolve_duplicates`: the extra draft is deleted and recorded; two Visma
  orders or invoices put the order in `needs_review`);
- a create whose answer was lost (`sent_at` stamped, nothing found) is **in doubt**: Visma may still
  apply it late. The order waits `in_doubt` for `in_doubt_grace_s` from the send, then looks again
  before it may create. The same holds for a customer: its creation is serialised per Visma company
  and e-mail/org number across processes (a lease), and a lost answer keeps that lease until the
  grace period ends;
- orders that predate the connection (a fresh data directory, a restored backup) are looked up in
  Visma before their first create too: an earlier installation may have created them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog

from shopbridge import plans
from shopbridge.domain.models import LineKind, Order, OrderLine, Warning
from shopbridge.domain.money import VatSummary, normalize_rate
from shopbridge.domain.text import MAX_ARTICLE_NUMBER, MAX_NAME, shorten
from shopbridge.domain.vat import VatTreatment, check_order_vat, treatment
from shopbridge.http.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from shopbridge.http.retry import is_ambiguous
from shopbridge.logs import error_line
from shopbridge.plugins import PluginError
from shopbridge.starweb.mapping import as_dict, external_service, order_facts, order_from_wire
from shopbridge.store import ClaimLost, TransferState, backoff, utcnow
from shopbridge.store.leases import KEPT, LeaseBusy, LeaseLost, holder_name
from shopbridge.store.schema import Transfer
from shopbridge.sync.base import Hint, SweepReport
from shopbridge.sync.context import ConnectionContext
from shopbridge.sync.customer_changes import customer_changes, describe, invoice_fields, wanted_customer
from shopbridge.sync.reference import ReferenceData, article_key
from shopbridge.sync.settings import rate_key
from shopbridge.sync.shops import ShopScope
from shopbridge.sync.start_date import listing_after, on_or_after
from shopbridge.sync.sweep_lease import SweepBusy, sweep_lease
from shopbridge.visma.mapping import (
    ArticleRef,
    customer_body,
    document_body,
    document_vat_rates,
    row_body,
)
from shopbridge.visma.odata import odata_eq
from shopbridge.visma.rows import PlannedRow, plan_rows

log = structlog.get_logger("shopbridge.orders")

ORDER_INCLUDE = ["items", "addresses", "customer", "externalServices"]
SERVICE_NAME = "visma"
DISCOVERY_BATCH = 200
EMAIL_OK = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CANCELLED_CODES = {"canceled", "cancelled"}
ADJUSTMENT_TEXT = "Öresjustering"


class _Pipeline:
    """Discovery and the transfer workers of one sweep side by side.

    Workers start on the first discovered batch instead of after the last page. Once `ahead` new
    orders wait for a worker, discovery pauses until only `low` do, or until the workers take none
    for a second (they wait for Visma's rate window: the listing's work costs nothing then). Visma's
    window repeats the pace of a sweep's first creates in every later minute (a slot frees one window
    after it was taken), so those go without the listing's work between them.
    """

    def __init__(self, *, discovering: bool, ahead: int, low: int) -> None:
        self.discovering = discovering
        self.ahead = ahead
        self.low = low
        self.workers = 0
        self._waiting: set[str] = set()
        self._takes = 0
        self._batch = asyncio.Event()  # replaced (and the old one set) with each batch
        self._room = asyncio.Event()

    def next_batch(self) -> asyncio.Event:
        return self._batch

    def _wake(self) -> None:
        self._batch, old = asyncio.Event(), self._batch
        old.set()

    async def found(self, order_ids: list[str]) -> None:
        """Discovery: a batch is in; wait while enough of the found orders wait for a worker."""
        self._waiting.update(order_ids)
        self._wake()
        if len(self._waiting) < self.ahead:
            return
        while len(self._waiting) > self.low and self.workers > 0:
            self._room.clear()
            takes = self._takes
            try:
                await asyncio.wait_for(self._room.wait(), 1.0)
            except TimeoutError:
                if self._takes == takes:  # the workers wait for the rate limit: list on meanwhile
                    return

    def taken(self, order_id: str) -> None:
        self._takes += 1
        self._waiting.discard(order_id)
        if len(self._waiting) <= self.low:
            self._room.set()

    def worker_done(self) -> None:
        self.workers -= 1
        self._room.set()

    def finished(self) -> None:
        self.discovering = False
        self._wake()


class OrderInputError(Exception):
    """The order cannot be transferred as it is; the message says what to fix, in one sentence."""


class CreateInDoubt(Exception):
    """A create was sent, its answer was lost and Visma does not show its effect (yet): it may land late."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class Busy(Exception):
    """Another process works on something this order needs right now; try again shortly."""


async def plugged(call: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """A plugin hook's result (`ctx.plugins`); a plugin that fails parks only this order, naming it."""
    try:
        return await call
    except PluginError as exc:
        raise OrderInputError(str(exc)) from exc


def crash_point(name: str) -> None:
    """Die here, hard, when `SHOPBRIDGE_CRASH_AT` names this point (for the exactly-once tests).

    The points: `before_create` (intent recorded, nothing sent), `in_create` (Visma created the
    document, its answer is never read) and `after_create` (answer read, nothing recorded yet).
    """
    if os.environ.get("SHOPBRIDGE_CRASH_AT") == name:
        os._exit(137)


def arm_in_create_crash(ctx: ConnectionContext) -> None:
    """With `SHOPBRIDGE_CRASH_AT=in_create`, die as soon as Visma answers a document create."""
    if os.environ.get("SHOPBRIDGE_CRASH_AT") != "in_create":
        return

    async def die(response: Any) -> None:
        request = response.request
        creates = request.url.path.rstrip("/").endswith(("customerinvoicedrafts", "orders"))
        if request.method == "POST" and creates:
            crash_point("in_create")

    ctx.visma.add_response_hook(die)


@dataclass
class Plan:
    """Everything decided about one order before anything is written to Visma."""

    order: Order
    kind: str
    body: dict[str, Any]
    reference: str
    warnings: list[Warning] = field(default_factory=list)
    treatment: VatTreatment = VatTreatment.DOMESTIC


class OrderFlow:
    """Starweb orders → Visma invoice drafts or orders for one connection."""

    name = "orders"

    def __init__(
        self,
        ctx: ConnectionContext,
        *,
        concurrency: int | None = None,
        on_progress: Callable[[str, int], None] | None = None,
        stale_after: timedelta | None = None,
    ) -> None:
        """`on_progress(event, n)`: "found" once per order claimed, "done" once per order handled.

        `stale_after`: how long a claim may go unrenewed before its order is taken again; default the
        longest one call of either client can take (timeout × tries, with the waits between).
        """
        self.ctx = ctx
        self.on_progress = on_progress
        longest = max(ctx.visma.longest_call_s, ctx.starweb.longest_call_s)
        self.stale_after = stale_after if stale_after is not None else timedelta(seconds=longest)
        self.settings = ctx.settings
        self.store = ctx.store
        self.concurrency = concurrency or ctx.settings.order_concurrency
        self.ref: ReferenceData = ctx.cache.setdefault("reference", ReferenceData(ctx.starweb, ctx.visma))
        arm_in_create_crash(ctx)
        self._customer_locks: dict[str, asyncio.Lock] = {}
        self._buyer_locks: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------------ sweep
    async def sweep(self, hints: list[Hint] | None = None) -> SweepReport:
        """Discover qualifying orders (all, or just the hinted ones) and transfer every due one.

        Runs under the connection's sweep lease (taken here unless the caller holds it); when another
        process sweeps the connection, the report says "busy" and nothing is done.
        """
        if self.ctx.lease is not None:
            return await self._sweep(hints)
        try:
            async with sweep_lease(self.ctx):
                return await self._sweep(hints)
        except SweepBusy as exc:
            report = SweepReport(self.ctx.name)
            report.add("busy", "sweep", str(exc))
            return report

    async def _sweep(self, hints: list[Hint] | None) -> SweepReport:
        report = SweepReport(self.ctx.name)
        calls_before = self.ctx.api_calls
        lease = self.ctx.lease
        # A row still in progress belongs to a sweep that stopped: taken again only when its claim went
        # unrenewed past the longest call, or its process is gone; it reconciles before creating.
        self.store.transfers.release_stale(older_than=self.stale_after, connection_id=self.ctx.id)
        plans.wake_waiting(self.store, self.ctx.id, self.settings)  # quota freed: month turned, plan raised
        self.ref.mark_stale()
        fetched: dict[str, Any] = {}
        order_hints = [h for h in hints or [] if h.kind == "order"]
        pipe = _Pipeline(discovering=not order_hints, ahead=DISCOVERY_BATCH, low=DISCOVERY_BATCH // 4)

        async def discovery() -> None:
            try:
                await self.discover(fetched, report, on_batch=pipe.found)
            finally:
                pipe.finished()

        if order_hints:
            for hint in order_hints:
                await self._discover_one(hint.ref, fetched)

        async def worker() -> None:
            # claim one order when this slot starts on it: a kill costs an attempt only on what ran
            try:
                while True:
                    ready = pipe.next_batch()  # taken before the claim: a batch added meanwhile wakes us
                    try:
                        due = self.store.transfers.claim_due(
                            self.ctx.id, limit=1, worker=lease.holder, fence=lease
                        )
                    except LeaseLost:
                        report.add("lease_lost")
                        return
                    if not due:
                        if pipe.discovering:
                            await ready.wait()
                            continue
                        return
                    if self.on_progress:
                        self.on_progress("found", 1)
                    t = due[0]
                    pipe.taken(t.starweb_order_id)
                    await self.transfer(t, fetched.pop(t.starweb_order_id, None), report)
                    if self.on_progress:
                        self.on_progress("done", 1)
            finally:
                pipe.worker_done()

        tasks = [worker() for _ in range(self.concurrency)]
        pipe.workers = len(tasks)
        if not order_hints:
            tasks.append(discovery())
        # every task ends before the sweep does (a failed listing lets the started orders finish)
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome
        if not order_hints:  # a full sweep; a hinted one stays as quick as a hook needs
            await self._watch_edits(report)
        report.api_calls = self.ctx.api_calls - calls_before
        return report

    async def _watch_edits(self, report: SweepReport) -> None:
        """Orders changed in the shop after their transfer (`sync/order_edits.py`); never stops the sweep."""
        from shopbridge.sync.order_edits import EditWatch

        try:
            await EditWatch(self).sweep(report)
        except ApiError as exc:
            reason, _ = _explain(exc)
            log.warning("order.edits_failed", error=reason)
            report.add("retry_later", "changed orders", f"looking for orders changed in the shop: {reason}")
        except Exception as exc:  # a bug must not stop the sweep
            log.debug("order.edits_failed", exc_info=exc)
            log.warning("order.edits_failed", error=error_line(exc))
            report.add(
                "error", "changed orders", f"internal error looking for changed orders ({error_line(exc)})"
            )

    async def discover(
        self,
        fetched: dict[str, Any],
        report: SweepReport,
        *,
        on_batch: Callable[[list[str]], Awaitable[None]] | None = None,
    ) -> None:
        """Make sure every qualifying order has a transfer row; repair missing write-backs.

        `on_batch(order_ids)` is awaited after each batch with the orders it left to transfer.
        """
        ids, unknown = await self.ref.status_ids(self.settings.trigger_statuses)
        if unknown:
            report.add("config_error", "settings", f"unknown trigger statuses: {', '.join(unknown)}")
        filters: dict[str, Any] = {"sortBy": "orderId", "sortOrder": "ASC"}
        if self.settings.start_date:
            filters["ordersCreatedAfter"] = listing_after(
                self.settings.start_date, self.settings.shop_time_zone
            )
        page: list[dict[str, Any]] = []
        for status_id in sorted(ids):
            async for order in self.ctx.starweb.iter_orders(
                include=ORDER_INCLUDE, statusFilter=status_id, **filters
            ):
                wire = as_dict(order)
                if self._qualifies(wire, ids):
                    page.append(wire)
                if len(page) >= DISCOVERY_BATCH:
                    todo = await self._intake(page, fetched, report)
                    page = []
                    if on_batch is not None:
                        await on_batch(todo)
        await self._intake(page, fetched, report)

    async def _intake(
        self, wires: list[dict[str, Any]], fetched: dict[str, Any], report: SweepReport
    ) -> list[str]:
        """Transfer rows for qualifying orders not seen before (one query for the whole batch); the ids
        of the batch's orders left to transfer."""
        known = self.store.transfers.by_orders(self.ctx.id, (str(w["orderId"]) for w in wires))
        new = {str(w["orderId"]): w for w in wires if str(w["orderId"]) not in known}
        if new:  # one transaction each for the batch's new rows and their lines
            self.store.order_lines.record_many(self.ctx.id, {o: sku_quantities(w) for o, w in new.items()})
            facts = {oid: order_facts(w) for oid, w in new.items()}
            self.store.transfers.add_pending(self.ctx.id, facts, document_type=self.settings.document_type)
        for wire in wires:
            oid = str(wire["orderId"])
            t = known.get(oid)
            if t is None:
                fetched[oid] = wire
                report.add("seen")
                continue
            if t.state == TransferState.TRANSFERRED:
                if t.visma_document_id and external_service(wire, SERVICE_NAME) is None:
                    await self.write_back(t, t.visma_document_id, t.visma_document_number, report)
            elif t.state in (TransferState.PENDING, TransferState.IN_PROGRESS, TransferState.IN_DOUBT):
                fetched[oid] = wire
            report.add("seen")
        return list(new)

    async def _discover_one(self, order_id: str, fetched: dict[str, Any]) -> None:
        ids, _ = await self.ref.status_ids(self.settings.trigger_statuses)
        try:
            wire = as_dict(await self.ctx.starweb.get_order(int(order_id), include=ORDER_INCLUDE))
        except NotFoundError:
            return
        if self._qualifies(wire, ids):
            oid = str(wire["orderId"])
            self.store.transfers.upsert_pending(
                self.ctx.id,
                oid,
                starweb_order_number=oid,
                document_type=self.settings.document_type,
                wake=True,
                facts=order_facts(wire),
            )
            self.store.order_lines.record(self.ctx.id, oid, sku_quantities(wire))
            fetched[oid] = wire

    def _qualifies(self, wire: dict[str, Any], trigger_ids: set[int]) -> bool:
        if not wire.get("isComplete") or wire.get("statusId") not in trigger_ids:
            return False
        start = self.settings.start_date
        if start and wire.get("createdAt"):
            return on_or_after(str(wire["createdAt"]), start, self.settings.shop_time_zone)
        return True

    # ------------------------------------------------------------------ one order
    async def transfer(self, t: Transfer, wire: dict[str, Any] | None, report: SweepReport) -> None:
        """One attempt at one claimed order. Never raises: every outcome lands on the transfer row."""
        oid = t.starweb_order_id
        attempt = self.store.journal.start(t.id, {"order": oid, "attempt": t.attempts, "by": t.claimed_by})
        structlog.contextvars.bind_contextvars(order=oid)
        try:
            if wire is None:
                wire = as_dict(await self.ctx.starweb.get_order(int(oid), include=ORDER_INCLUDE))
            outcome = await self._transfer(t, wire, attempt, report)
            if outcome in (TransferState.TRANSFERRED.value, TransferState.NEEDS_REVIEW.value):
                await self._keep_content(t, wire, report)
            report.add(outcome)
        except ClaimLost:
            log.info("order.claim_lost")
            report.add("claim_lost")
        except CreateInDoubt as exc:
            until = (t.sent_at or utcnow()) + timedelta(seconds=self.settings.in_doubt_grace_s)
            self._in_doubt(t, attempt, exc.what, until)
            report.add(TransferState.IN_DOUBT.value, oid, self._doubt_reason(exc.what, until))
        except Busy as exc:
            self._wait(t, attempt, str(exc), fix=False, retry_at=utcnow() + _BUSY_RETRY)
            report.add("retry_later", oid, str(exc))
        except OrderInputError as exc:
            self._wait(t, attempt, str(exc), fix=True)
            report.add(TransferState.WAITING_FOR_FIX.value, oid, str(exc))
        except ApiError as exc:
            reason, fix = _explain(exc)
            if not fix and t.attempts >= self.settings.max_attempts:
                reason, fix = f"gave up after {t.attempts} attempts: {reason}", True
            self._wait(t, attempt, reason, fix=fix, error_id=exc.request_id)
            report.add(TransferState.WAITING_FOR_FIX.value if fix else "retry_later", oid, reason)
        except Exception as exc:  # a bug must not stop the other orders
            self._failed(t, attempt, exc, report)
        finally:
            structlog.contextvars.unbind_contextvars("order")

    async def _keep_content(self, t: Transfer, wire: dict[str, Any], report: SweepReport) -> None:
        """What the order holds now that its document exists, to notice edits after the transfer. A
        document adopted again (`orders retry`) answers for the content it was made from: when the
        order has changed since, it is handled as an edit right away (`sync/order_edits.py`)."""
        from shopbridge.sync.order_edits import EditWatch, order_content

        row = self.store.transfers.get(t.id)
        if row is None:
            return
        if row.content is None:
            order = order_from_wire(wire, shop_id="1", reference_prefix=self.settings.reference_prefix)
            self.store.transfers.record_content(t.id, order_content(order, cancelled=False))
        elif row.state == TransferState.TRANSFERRED and row.visma_document_id:
            await EditWatch(self).check(row, wire, report)

    def _failed(self, t: Transfer, attempt: int, exc: Exception, report: SweepReport) -> None:
        """An unexpected exception (a bug, a surprise from the database): retried with backoff up to
        `max_attempts`, then `needs_review` with one sentence. The traceback goes to the log at DEBUG."""
        log.debug("order.failed", exc_info=exc)
        line = error_line(exc)
        log.warning("order.failed", error=line)
        oid = t.starweb_order_id
        if t.attempts < self.settings.max_attempts:
            reason = f"internal error ({line}); it will be retried"
            self._wait(t, attempt, reason, fix=False)
            report.add("error", oid, reason)
            return
        reason = (
            f"internal error after {t.attempts} attempts ({line}); shopbridge stopped retrying: report it "
            "with `shopbridge orders show`, then `shopbridge orders retry`"
        )
        try:
            self.store.transfers.mark_needs_review(t, reason)
        except ClaimLost:
            return
        self.store.journal.finish(attempt, TransferState.NEEDS_REVIEW, error=reason)
        report.add("needs_review_reason", oid, reason)
        report.add(TransferState.NEEDS_REVIEW.value)

    async def _transfer(self, t: Transfer, wire: dict[str, Any], attempt: int, report: SweepReport) -> str:
        status = wire.get("statusId")
        cancelled = {s.statusId for s in await self.ref.order_statuses() if str(s.idCode) in CANCELLED_CODES}
        done = _parse_external(external_service(wire, SERVICE_NAME))
        if done is not None:  # written back by an earlier attempt whose record was lost
            kind_done, doc_id, number = done
            return self._adopt(t, attempt, kind_done, doc_id, number)
        if status in cancelled:
            self.store.transfers.mark_skipped(
                t, "the order was cancelled in the shop before it was transferred"
            )
            self.store.journal.finish(attempt, TransferState.SKIPPED)
            return TransferState.SKIPPED.value
        order = order_from_wire(wire, shop_id="1", reference_prefix=self.settings.reference_prefix)
        self.ctx.plugins.set_wire(wire)
        kind = t.document_type or self.settings.document_type
        reference = order.reference or order.number
        if t.intent_key or self._predates_connection(wire):
            # an earlier attempt (or installation) may have created the document: look before creating
            outcome = await self._look_before_create(t, attempt, t.intent_key or reference, kind, report)
            if outcome is not None:
                return outcome
        if order.total_inc_vat == 0 and self.settings.zero_total == "skip":
            reason = (
                f"the order total is 0 {order.currency}: nothing to invoice, so it is skipped "
                "(set zero_total transfer to send such orders to Visma)"
            )
            self.store.transfers.mark_skipped(t, reason)
            self.store.journal.finish(attempt, TransferState.SKIPPED, error=reason)
            return TransferState.SKIPPED.value
        # one buyer's orders one at a time from plan to create: each document takes the address its
        # customer has when it is made, never another order's (update_customers)
        async with self._buyer_locks.setdefault(_buyer_key(order), asyncio.Lock()):
            return await self._plan_and_send(t, wire, order, kind, reference, attempt, report)

    async def _plan_and_send(
        self,
        t: Transfer,
        wire: dict[str, Any],
        order: Order,
        kind: str,
        reference: str,
        attempt: int,
        report: SweepReport,
    ) -> str:
        """Plan the document, reserve quota, record the intent, create it, record it."""
        plan = await self.plan(order, kind)
        plugins = self.ctx.plugins
        plan.body = await plugged(plugins.document_body(plan.body, order=order, wire=wire, kind=kind))
        # plan quota, right before the create: over it the order waits (no document), never dropped;
        # allowed, the order's intent is recorded in the same transaction
        quota = plans.reserve(self.store, t, reference, self.settings, document_type=kind, report=report)
        if not quota.allowed:
            self.store.journal.finish(attempt, TransferState.WAITING_FOR_QUOTA, error=quota.reason)
            report.waiting[t.starweb_order_id] = quota.reason or ""
            return TransferState.WAITING_FOR_QUOTA.value
        # the intent is recorded: the reservation is the intent (`Transfers.reserve_quota`)
        sent = {"order": order.order_id, "document": _summary(plan.body), "shop_totals": _shop_totals(order)}
        self.store.journal.update(attempt, request=sent)
        crash_point("before_create")
        t.sent_at = self.store.transfers.mark_sent(t).sent_at  # from here on, the document may exist

        try:
            created = await self._create(kind, plan.body, reference)
        except ApiError as exc:
            if not is_ambiguous(exc):  # a plain refusal: nothing was created
                t.sent_at = self.store.transfers.mark_sent(t, sent=False).sent_at
            raise
        self.ctx.cache[f"order:{t.starweb_order_id}"] = wire  # booking reads it this sweep, not the shop
        crash_point("after_create")
        doc = created if isinstance(created, dict) else created.model_dump(by_alias=True)
        return await self._record(t, attempt, plan, doc, report)

    def _predates_connection(self, wire: dict[str, Any]) -> bool:
        """The order was placed before this connection existed: another installation may have sent it."""
        placed = wire.get("createdAt")
        created = self.ctx.connection.created_at
        if not placed or created is None:
            return False
        try:
            when = datetime.fromisoformat(str(placed).replace("Z", "+00:00"))
        except ValueError:
            return False
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        return when < created

    async def _look_before_create(
        self, t: Transfer, attempt: int, reference: str, kind: str, report: SweepReport
    ) -> str | None:
        """Adopt what Visma holds for the order; wait in doubt while a lost create may still land.

        Returns the outcome, or None when nothing was found and a create may be sent.
        """
        docs = await self.find_documents(reference, kind)
        if len(docs) > 1:
            return await self._resolve_duplicates(t, attempt, docs, report)
        if docs:
            found_kind, doc_id, number = _created_document(*docs[0], kind)
            outcome = self._adopt(t, attempt, found_kind, doc_id, number)
            await self.write_back(t, doc_id, number, report, kind=found_kind)
            return outcome
        if t.sent_at is not None:
            until = t.sent_at + timedelta(seconds=self.settings.in_doubt_grace_s)
            if utcnow() < until:
                what = "the create of its Visma document was sent but no answer came back"
                self._in_doubt(t, attempt, what, until)
                report.add(TransferState.IN_DOUBT.value, t.starweb_order_id, self._doubt_reason(what, until))
                return TransferState.IN_DOUBT.value
        return None

    async def _resolve_duplicates(
        self, t: Transfer, attempt: int, docs: list[tuple[str, dict[str, Any]]], report: SweepReport
    ) -> str:
        """Two or more documents carry the order's reference (a late answer landed after a re-create).

        Drafts can be deleted: one document is kept (an invoice or order over a draft, else the first
        created) and every extra draft is deleted and recorded on the order. Two Visma orders or
        invoices cannot be undone here: the order goes to `needs_review` with both numbers.
        """
        rank = {"invoice": 0, "order": 1, "invoice_draft": 2}
        ordered = sorted(docs, key=lambda kd: (rank.get(kd[0], 3), str(kd[1].get("CreatedUtc") or "")))
        keep_kind, keep = ordered[0]
        extra = ordered[1:]
        if any(k != "invoice_draft" for k, _ in extra):
            numbers = ", ".join(f"{k} {_doc_number(d) or d.get('Id')}" for k, d in ordered)
            reason = (
                f"Visma holds {len(ordered)} documents for this order ({numbers}), created when an answer "
                "was lost; remove the extra one in Visma, then retry the order"
            )
            self.store.transfers.mark_needs_review(
                t,
                reason,
                {
                    "documents": [
                        {"kind": k, "id": str(d.get("Id")), "number": _doc_number(d)} for k, d in docs
                    ]
                },
                visma_document_id=str(keep.get("Id")),
                visma_document_number=_doc_number(keep),
            )
            self.store.journal.finish(attempt, TransferState.NEEDS_REVIEW, error=reason)
            report.add("needs_review_reason", t.starweb_order_id, reason)
            return TransferState.NEEDS_REVIEW.value
        deleted = []
        for _, draft in extra:
            with contextlib.suppress(NotFoundError):  # already gone
                await self.ctx.visma.drafts.delete(str(draft["Id"]))
            deleted.append(str(draft["Id"]))
            log.warning("order.duplicate_draft_deleted", visma_id=str(draft["Id"]), kept=str(keep.get("Id")))
        warning = Warning(
            code="duplicate_deleted",
            message=(
                f"a second Visma draft for this order ({', '.join(deleted)}), created when an answer was "
                f"lost, was deleted; kept {keep_kind} {_doc_number(keep) or keep.get('Id')}"
            ),
            value=",".join(deleted),
        )
        keep_kind, keep_id, keep_number = _created_document(keep_kind, keep, t.document_type or keep_kind)
        outcome = self._adopt(
            t, attempt, keep_kind, keep_id, keep_number, warnings=[warning], deleted=deleted
        )
        report.add("duplicate_deleted")
        await self.write_back(t, keep_id, keep_number, report, kind=keep_kind)
        return outcome

    def _in_doubt(self, t: Transfer, attempt: int, what: str, until: datetime) -> None:
        reason = self._doubt_reason(what, until)
        try:
            self.store.transfers.mark_waiting(t, reason, until, state=TransferState.IN_DOUBT)
        except ClaimLost:
            return
        self.store.journal.finish(attempt, TransferState.IN_DOUBT, error=reason)
        log.info("order.in_doubt", until=until.isoformat())

    @staticmethod
    def _doubt_reason(what: str, until: datetime) -> str:
        return (
            f"In doubt: {what}; Visma may still apply it, so shopbridge looks again at "
            f"{until:%H:%M:%S} UTC before it creates anything"
        )

    async def _create(self, kind: str, body: dict[str, Any], reference: str) -> Any:
        """Send the create. A lost answer is looked up once; not found, it is in doubt (never resent)."""

        async def reconcile() -> Any:
            docs = await self.find_documents(reference, kind)
            if docs:
                return docs[0][1]
            raise CreateInDoubt("the create of its Visma document was sent but no answer came back")

        if kind == "order":
            return await self.ctx.visma.orders.create(body, reconcile=reconcile)
        return await self.ctx.visma.drafts.create(body, reconcile=reconcile)

    async def _record(
        self, t: Transfer, attempt: int, plan: Plan, doc: dict[str, Any], report: SweepReport
    ) -> str:
        doc_id = str(doc.get("Id"))
        number = doc.get("Number") or doc.get("InvoiceNumber")
        differences = totals_differences(plan.order, doc, tolerance=self.settings.totals_tolerance)
        response = {"id": doc_id, "number": number, "totals": _doc_totals(doc)}
        if differences:
            reason = "totals differ between the shop and Visma: " + "; ".join(differences)
            self.store.transfers.mark_needs_review(
                t,
                reason,
                {"shop": _shop_totals(plan.order), "visma": _doc_totals(doc), "differences": differences},
                visma_document_id=doc_id,
                visma_document_number=number,
                warnings=plan.warnings,
            )
            self.store.journal.finish(attempt, TransferState.NEEDS_REVIEW, response=response, error=reason)
            outcome = TransferState.NEEDS_REVIEW.value
            report.add("needs_review_reason", t.starweb_order_id, reason)
        else:
            self.store.transfers.mark_transferred(
                t, doc_id, number, document_type=plan.kind, warnings=plan.warnings
            )
            self.store.journal.finish(attempt, TransferState.TRANSFERRED, response=response)
            outcome = TransferState.TRANSFERRED.value
        log.info("order.transferred", kind=plan.kind, visma_id=doc_id, number=number, outcome=outcome)
        await self.write_back(t, doc_id, number, report, kind=plan.kind)
        return outcome

    def _adopt(
        self,
        t: Transfer,
        attempt: int,
        kind: str,
        doc_id: str,
        number: Any,
        *,
        warnings: list[Warning] | None = None,
        deleted: list[str] | None = None,
    ) -> str:
        """An earlier attempt created the document (`doc_id`): record it instead of creating another."""
        number = None if number is None else str(number)
        self.store.transfers.mark_transferred(t, doc_id, number, document_type=kind, warnings=warnings)
        response: dict[str, Any] = {"id": doc_id, "number": number, "adopted": True}
        if deleted:
            response["deleted_duplicates"] = deleted
        self.store.journal.finish(attempt, TransferState.TRANSFERRED, response=response)
        log.info("order.adopted", visma_id=doc_id)
        return TransferState.TRANSFERRED.value

    async def write_back(
        self, t: Transfer, doc_id: str, number: Any, report: SweepReport, *, kind: str | None = None
    ) -> None:
        """Put the Visma document on the Starweb order; a failure is repaired by a later sweep."""
        value = external_value(kind or t.document_type or self.settings.document_type, doc_id)
        try:
            await self.ctx.starweb.add_external_service(int(t.starweb_order_id), SERVICE_NAME, value)
            report.add("written_back")
        except ApiError as exc:
            log.warning("order.write_back_failed", error=str(exc))
            report.add("write_back_pending")

    def _wait(
        self,
        t: Transfer,
        attempt: int,
        reason: str,
        *,
        fix: bool,
        error_id: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        state = TransferState.WAITING_FOR_FIX if fix else TransferState.PENDING
        if not fix and retry_at is None:
            retry_at = utcnow() + backoff(t.attempts, base=_RETRY_BASE)
        try:
            self.store.transfers.mark_waiting(t, reason, None if fix else retry_at, state=state)
        except ClaimLost:
            return
        error = f"{reason} [Visma ErrorId {error_id}]" if error_id else reason
        self.store.journal.finish(attempt, state, error=error)
        log.info("order.waiting", state=state.value, reason=reason)

    # ------------------------------------------------------------------ planning
    async def plan(self, order: Order, kind: str) -> Plan:
        """Check the order and build the Visma document body; raises `OrderInputError` with the reason."""
        self._check_input(order)
        vat_kind = treatment(order, uses_oss=self.settings.uses_oss)
        problem = check_order_vat(order, vat_kind)
        if problem:
            raise OrderInputError(problem)
        if order.currency not in await self.ref.currencies():
            raise OrderInputError(f"the Visma company has no currency {order.currency}; add it in Visma")
        warnings: list[Warning] = []
        customer = await self.customer_for(order, warnings)
        includes_vat = bool(customer.get("IsPrivatePerson")) and await self._private_prices_include_vat()
        foreign = order.currency != "SEK" or (customer.get("InvoiceCountryCode") or "SE") != "SE"
        planned = plan_rows(order, gross=includes_vat, places=4 if foreign else 2)
        articles = await self.articles_for(planned, vat_kind, warnings)
        rows = [
            row_body(article, p, p.line.name if p.line else ADJUSTMENT_TEXT)
            for p, article in zip(planned, articles, strict=True)
        ]
        for p in (p for p in planned if p.is_adjustment):
            basis = "incl. VAT" if includes_vat else "excl. VAT"
            warnings.append(
                Warning(
                    code="ore_adjustment",
                    message=f"öre adjustment row of {p.amount} {order.currency} at {_rate(p.rate)} VAT "
                    f"({basis}): what Visma's per-row rounding leaves of the shop's amount",
                    value=str(p.amount),
                )
            )
        for row in rows:  # the shop recognisable in the books (multishop: one cost centre/project per shop)
            if self.settings.cost_center_item_id:
                row["CostCenterItemId1"] = self.settings.cost_center_item_id
            if self.settings.project_id:
                row["ProjectId"] = self.settings.project_id
        invoice, address_row = invoice_fields(order, kind, customer)
        if address_row:  # a draft whose read-only address fields are another's: the order's, as text
            text = {"IsTextRow": True, "Text": address_row, "ReversedConstructionServicesVatFree": False}
            rows = [text, *rows]
        body, more = document_body(
            order,
            kind=kind,
            customer_id=str(customer["Id"]),
            rows=rows,
            reference_field=self.settings.reference_field,
        )
        body.update(invoice)
        return Plan(order, kind, body, order.reference or order.number, warnings + more, vat_kind)

    def _check_input(self, order: Order) -> None:
        if order.total_inc_vat < 0:
            raise OrderInputError(
                f"the order total is {order.total_inc_vat} {order.currency}, below zero; a refund is a "
                "credit in Visma, not an order"
            )
        address = order.billing_address
        if address is None or not address.postal_code:
            raise OrderInputError("the invoice address has no postal code; add it on the order in Starweb")
        if not address.city:
            raise OrderInputError("the invoice address has no city; add it on the order in Starweb")
        email = order.customer.email
        if email and not EMAIL_OK.match(email):
            raise OrderInputError(
                f"the customer's email address {email!r} is not valid; correct it in Starweb"
            )
        missing_sku = [line.name for line in order.lines_of(LineKind.ITEM) if not line.sku]
        if missing_sku:
            raise OrderInputError(
                f"order line {missing_sku[0]!r} has no SKU; every product needs an article number"
            )

    async def _private_prices_include_vat(self) -> bool:
        settings = self.ctx.cache.get("company_settings")
        if settings is None:  # read once, also when the sweep's workers all ask at its start
            settings = await self.ref.once("company_settings", self.ctx.visma.company_settings.get)
            self.ctx.cache["company_settings"] = settings
        return bool(getattr(settings, "ShowPricesExclVatPC", False))

    # ------------------------------------------------------------------ customers
    async def customer_for(self, order: Order, warnings: list[Warning]) -> dict[str, Any]:
        """The Visma customer of the order: bound, found by email or org number, or created."""
        c = order.customer
        if not c.is_company and self.settings.collective_customer_number:
            found = await self.ctx.visma.customers.find_by_number(self.settings.collective_customer_number)
            if found is None:
                number = self.settings.collective_customer_number
                raise OrderInputError(f"the collective customer {number} does not exist in Visma")
            return found.model_dump(by_alias=True)
        key = f"id:{c.source_id}" if c.source_id else f"email:{(c.email or '').lower()}"
        lock = self._customer_locks.setdefault(key, asyncio.Lock())
        async with lock:
            binding = self.store.bindings.get(self.ctx.id, "customer", key)
            customer = self.ref.customers.get(binding.visma_id) if binding is not None else None
            if binding is not None and customer is None:
                try:
                    customer = (await self.ctx.visma.customers.get(binding.visma_id)).model_dump(
                        by_alias=True
                    )
                except NotFoundError:
                    customer = None
            if customer is None:
                customer = await self._find_or_create_customer(order, warnings)
            if binding is None or binding.visma_id != str(customer["Id"]):
                self.store.bindings.bind(
                    self.ctx.id,
                    "customer",
                    key,
                    str(customer["Id"]),
                    visma_number=customer.get("CustomerNumber"),
                )
            if order.currency != (customer.get("CurrencyCode") or "SEK"):
                customer = await self._switch_currency(customer, order.currency, warnings)
            customer = await self._customer_as_ordered(customer, order, warnings)
            self.ref.customers[str(customer["Id"])] = customer
            return customer

    async def _customer_as_ordered(
        self, customer: dict[str, Any], order: Order, warnings: list[Warning]
    ) -> dict[str, Any]:
        """The customer moved (or changed name, e-mail, phone, VAT number): update it in Visma from the
        order (`update_customers always`), or say it differs. Only differences are written: idempotent."""
        changes = customer_changes(customer, wanted_customer(order))
        if not changes:
            return customer
        number = customer.get("CustomerNumber") or customer.get("Id")
        if self.settings.update_customers == "never":
            warnings.append(
                Warning(
                    code="customer_differs",
                    message=f"customer {number} in Visma differs from the order ({describe(changes)}); "
                    "not updated (update_customers never): the document carries the order's address",
                    field=",".join(changes),
                )
            )
            return customer
        body = {k: v for k, v in customer.items() if v is not None}
        body.update({k: new for k, (_, new) in changes.items()})
        updated = await self.ctx.visma.customers.update(str(customer["Id"]), body)
        log.info("customer.updated", visma_id=str(customer["Id"]), fields=list(changes))
        warnings.append(
            Warning(
                code="customer_updated",
                message=f"customer {number} updated in Visma from the order: {describe(changes)}",
                field=",".join(changes),
            )
        )
        return updated.model_dump(by_alias=True)

    async def _find_or_create_customer(self, order: Order, warnings: list[Warning]) -> dict[str, Any]:
        """Find the customer in Visma, else create it: serialised per Visma company and e-mail/org
        number across every process (a lease), so two workers never create one customer twice.

        A create whose answer is lost keeps the lease until the grace period ends (a late answer may
        still land) and the order waits in doubt; then the next attempt looks again first.
        """
        customer = await self._find_customer(order)
        if customer is not None:  # found: nothing to create, nothing to serialise
            return customer
        c = order.customer
        ident = f"org:{c.org_number}" if c.is_company and c.org_number else f"email:{(c.email or '').lower()}"
        if ident in ("org:", "email:"):
            ident = f"id:{c.source_id}"
        root = self.ctx.connection.parent_id or self.ctx.id
        grace = timedelta(seconds=self.settings.in_doubt_grace_s)
        ttl = max(grace, self.stale_after)  # a holder that dies mid-create may still have it land
        name = f"customer:{root}:{ident.lower()}"
        kept = Busy(
            "this buyer's customer was just created in Visma without an answer; the order waits until it "
            "shows (or the in-doubt grace period is over) so it is not created twice"
        )
        if (self.store.leases.holder(name) or "").endswith(KEPT):
            raise kept  # waiting for the lease would only hold a slot until the grace period is over
        try:
            async with self.store.leases.held(
                name, holder_name(self.ctx.worker), ttl, wait_s=10, steal_from_dead=False
            ) as lease:
                customer = await self._find_customer(order)  # again: another process may just have made it
                if customer is not None:
                    return customer

                async def reconcile() -> Any:
                    found = await self._find_customer(order)
                    if found is None:
                        self.store.leases.extend_to(lease, utcnow() + grace)
                        raise CreateInDoubt(
                            f"the create of customer {c.email or c.org_number or c.source_id} in Visma "
                            "was sent but no answer came back"
                        )
                    return found

                return await self._create_customer(order, warnings, reconcile=reconcile)
        except LeaseBusy as exc:
            if (self.store.leases.holder(name) or "").endswith(KEPT):
                raise kept from exc
            raise Busy(
                "another worker is creating this order's customer in Visma right now; retrying shortly"
            ) from exc

    async def _find_customer(self, order: Order) -> dict[str, Any] | None:
        c = order.customer
        candidates: list[Any] = []
        if c.is_company and c.org_number:
            candidates = await self.ctx.visma.customers.find_by_org_number(c.org_number)
        if not candidates and c.email:
            candidates = await self.ctx.visma.customers.find_by_email(c.email)
            candidates = [
                x for x in candidates if bool(x.IsPrivatePerson) == (not c.is_company)
            ] or candidates
        if not candidates:
            return None
        same_currency = [x for x in candidates if (x.CurrencyCode or "SEK") == order.currency]
        return (same_currency or candidates)[0].model_dump(by_alias=True)

    async def _create_customer(
        self, order: Order, warnings: list[Warning], *, reconcile: Any = True
    ) -> dict[str, Any]:
        terms = await self.ref.default_terms_id(self.settings.terms_of_payment_id)
        if terms is None:
            raise OrderInputError("the Visma company has no terms of payment for sales; add one in Visma")
        body, more = customer_body(
            order.customer,
            order.billing_address,
            order.delivery_address,
            terms_of_payment_id=terms,
            currency=order.currency,
        )
        warnings += more
        body = await plugged(self.ctx.plugins.customer_body(body, order=order))
        created = await self.ctx.visma.customers.create(body, reconcile=reconcile)
        log.info("customer.created", visma_id=str(created.Id))
        return created.model_dump(by_alias=True)

    async def _switch_currency(
        self, customer: dict[str, Any], currency: str, warnings: list[Warning]
    ) -> dict:
        """Drafts take their currency from the customer: move the customer to the order's currency."""
        before = customer.get("CurrencyCode") or "SEK"
        body = {k: v for k, v in customer.items() if v is not None}
        body["CurrencyCode"] = currency
        updated = await self.ctx.visma.customers.update(str(customer["Id"]), body)
        warnings.append(
            Warning(
                code="customer_currency",
                message=f"customer {customer.get('CustomerNumber')}: currency {before} -> {currency}",
                field="CurrencyCode",
                original=before,
                value=currency,
            )
        )
        return updated.model_dump(by_alias=True)

    # ------------------------------------------------------------------ articles
    async def articles_for(
        self, planned: list[PlannedRow], vat_kind: VatTreatment, warnings: list[Warning]
    ) -> list[ArticleRef]:
        """The Visma article of each planned row, in order; all problems collected into one reason."""
        problems: list[str] = []
        out: list[ArticleRef] = []
        domestic_vat = vat_kind in (VatTreatment.DOMESTIC, VatTreatment.EU_PRIVATE_SWEDISH_VAT)
        for row in planned:
            line = row.line
            if line is None:
                article = await self._adjustment_article(row.rate, problems)
            else:
                article = await self._article_for(line, vat_kind, problems, warnings)
            if article is None:
                out.append(ArticleRef("", "", Decimal(0)))
                continue
            wrong_rate = article.vat_rate != normalize_rate(row.rate) and row.amount
            if not article.is_active:
                problems.append(f"article {article.number} is inactive in Visma; activate it or fix the SKU")
            elif domestic_vat and wrong_rate:
                what = f"order line {line.name!r}" if line else "the öre adjustment"
                problems.append(
                    f"article {article.number} has {_rate(article.vat_rate)} VAT in Visma but {what} "
                    f"has {_rate(row.rate)}"
                )
            out.append(article)
        if problems:
            raise OrderInputError("; ".join(dict.fromkeys(problems)))
        return out

    async def _adjustment_article(self, rate: Decimal, problems: list[str]) -> ArticleRef | None:
        """The öre adjustment article of a VAT rate (`adjustment_articles`)."""
        number = self.settings.adjustment_articles.get(rate_key(rate))
        return await self._service_article(
            number, f"öre adjustment article for {_rate(rate)} VAT", "adjustment_articles", problems
        )

    async def _service_article(
        self, number: str | None, what: str, setting: str, problems: list[str]
    ) -> ArticleRef | None:
        """The article a setting names for `what` (shipping, fees, discounts, adjustments); a sentence in
        `problems` when the setting names none or Visma lacks it (`doctor --fix` creates it)."""
        if number is None:
            problems.append(f"no {what}; set {setting}")
            return None
        article = await self.ref.article(number)
        if article is None:
            problems.append(
                f"the {what}, {number}, does not exist in Visma; `shopbridge doctor --fix` creates it"
            )
        return article

    @staticmethod
    def _foreign_charge_key(line: OrderLine, vat_kind: VatTreatment) -> str | None:
        """`foreign_charge_articles` key of a shipping or fee line of an EU reverse-charge or export sale."""
        kind = {LineKind.SHIPPING: "shipping", LineKind.PAYMENT_FEE: "fee"}.get(line.kind)
        where = {VatTreatment.REVERSE_CHARGE: "eu", VatTreatment.EXPORT: "export"}.get(vat_kind)
        return f"{kind}_{where}" if kind and where else None

    async def _article_for(
        self, line: OrderLine, vat_kind: VatTreatment, problems: list[str], warnings: list[Warning]
    ) -> ArticleRef | None:
        s = self.settings
        charge = self._foreign_charge_key(line, vat_kind)
        if charge is not None:  # shipping and fees follow the goods: that treatment, a goods coding
            number = s.foreign_charge_articles.get(charge)
            return await self._service_article(
                number, f"article for {charge} rows", "foreign_charge_articles", problems
            )
        if line.kind is not LineKind.ITEM:
            table = {
                LineKind.SHIPPING: ("shipping_articles", s.shipping_articles, "shipping"),
                LineKind.PAYMENT_FEE: ("fee_articles", s.fee_articles, "payment fee"),
                LineKind.DISCOUNT: ("discount_articles", s.discount_articles, "discount"),
            }[line.kind]
            setting, mapping, what = table
            number = mapping.get(rate_key(line.vat_rate)) or (
                mapping.get("25") if not line.vat_rate else None
            )
            return await self._service_article(
                number, f"{what} article for {_rate(line.vat_rate)} VAT", setting, problems
            )
        sku = line.sku or ""
        article = await self.ref.article(sku)
        if article is not None:
            return article
        if s.missing_article == "fallback" and s.fallback_article:
            fallback = await self.ref.article(s.fallback_article)
            if fallback is None:
                problems.append(f"the fallback article {s.fallback_article} does not exist in Visma")
            return fallback
        if s.missing_article == "create":
            return await self._create_article(line, problems, warnings)
        problems.append(f"article {sku} does not exist in Visma (order line {line.name!r})")
        return None

    async def _create_article(
        self, line: OrderLine, problems: list[str], warnings: list[Warning]
    ) -> ArticleRef | None:
        sku = (line.sku or "").strip()
        if len(sku) > MAX_ARTICLE_NUMBER:
            problems.append(
                f"SKU {sku} is longer than Visma's {MAX_ARTICLE_NUMBER} characters for article numbers"
            )
            return None
        coding = await self.ref.coding_for_rate(line.vat_rate, self.settings.coding_by_rate)
        if coding is None:
            problems.append(f"no article account coding for {_rate(line.vat_rate)} VAT; set coding_by_rate")
            return None
        name, warning = shorten(line.name or sku, MAX_NAME, field=f"article {sku} name")
        if warning:
            warnings.append(warning)
        body = {
            "Number": sku,
            "Name": name,
            "CodingId": coding,
            "UnitId": await self.ref.default_unit_id(self.settings.unit_id),
            "IsActive": True,
            "NetPrice": line.unit_price_ex_vat,
        }
        body = await plugged(self.ctx.plugins.article_body(body, line=line))
        created = await self.ctx.visma.articles.create(body)
        self.ref.remember_article(created)
        warnings.append(
            Warning(code="article_created", message=f"article {sku} was created in Visma", value=sku)
        )
        return await self.ref.article_ref(created)

    # ------------------------------------------------------------------ reconciliation
    async def find_documents(self, reference: str, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """Every Visma draft or order (by `kind`) and invoice of this shop carrying `reference`, as
        (kind, document)."""
        flt = odata_eq(self.settings.reference_field, reference)
        visma = self.ctx.visma
        own = ("order", visma.orders) if kind == "order" else ("invoice_draft", visma.drafts)
        places = [own, ("invoice", visma.invoices)]  # the accountant may have converted it
        scope = ShopScope(self.ctx)  # multishop: never another shop's document with the same reference
        out: list[tuple[str, dict[str, Any]]] = []
        for found_kind, resource in places:
            for doc in await scope.all(resource, flt):
                out.append((found_kind, doc if isinstance(doc, dict) else doc.model_dump(by_alias=True)))
        converted = {str(d.get("CreatedFromDraftId")) for k, d in out if k == "invoice"}
        # an invoice made from one of the drafts found is that draft, not a second document
        return [(k, d) for k, d in out if not (k == "invoice_draft" and str(d.get("Id")) in converted)]

    async def find_document(self, reference: str, kind: str) -> dict[str, Any] | None:
        """The Visma document carrying `reference` (the first, when several do), or None."""
        docs = await self.find_documents(reference, kind)
        return docs[0][1] if docs else None


def _buyer_key(order: Order) -> str:
    """Who bought, as Visma will find them: the org number of a company, else the e-mail."""
    c = order.customer
    if c.is_company and c.org_number:
        return f"org:{c.org_number}"
    return f"email:{(c.email or '').lower()}" if c.email else f"id:{c.source_id}"


def _doc_number(doc: dict[str, Any]) -> str | None:
    number = doc.get("Number") or doc.get("InvoiceNumber")
    return None if number is None else str(number)


def _created_document(found_kind: str, doc: dict[str, Any], kind: str) -> tuple[str, str, str | None]:
    """(kind, id, number) of the document the order flow created, for one found by reference.

    An invoice converted from our draft or order (by the accountant, or by booking) stands for that
    draft or order: the transfer keeps the document it created, which booking and status follow.
    """
    source = doc.get("CreatedFromDraftId") or doc.get("CreatedFromOrderId")
    if found_kind == "invoice" and source:
        return kind, str(source), None
    if found_kind == "invoice_draft" and kind == "invoice":  # not booked yet: booking takes it on
        return kind, str(doc.get("Id")), _doc_number(doc)
    return found_kind, str(doc.get("Id")), _doc_number(doc)


# ---------------------------------------------------------------------- totals check
def totals_differences(order: Order, doc: dict[str, Any], *, tolerance: Decimal) -> list[str]:
    """Each figure where Visma's document differs from the shop's order beyond `tolerance`, in words."""
    total = Decimal(str(doc.get("TotalAmount", doc.get("Amount")) or 0))
    roundings = Decimal(str(doc.get("TotalRoundings", doc.get("RoundingsAmount")) or 0))
    vat = Decimal(str(doc.get("TotalVatAmount", doc.get("VatAmount")) or 0))
    out: list[str] = []
    cur = order.currency
    if abs((total - roundings) - order.total_inc_vat) > tolerance:
        out.append(f"total shop {order.total_inc_vat} {cur}, Visma {total - roundings} {cur}")
    if abs(vat - order.total_vat) > tolerance:
        out.append(f"VAT shop {order.total_vat} {cur}, Visma {vat} {cur}")
    shop = order.vat_summary()
    visma = document_vat_rates(doc)
    includes_vat = bool(doc.get("IncludesVat"))
    for rate in sorted(set(shop.rates) | set(visma)):
        shop_line = shop.get(rate) if rate in shop.rates else None
        shop_amount = (shop_line.gross if includes_vat else shop_line.net) if shop_line else Decimal(0)
        visma_amount = visma.get(rate, (Decimal(0), Decimal(0)))[0]
        if abs(shop_amount - visma_amount) > tolerance and not _zero_rated_elsewhere(order, rate, visma):
            basis = "incl. VAT" if includes_vat else "excl. VAT"
            out.append(f"{_rate(rate)} rows ({basis}) shop {shop_amount} {cur}, Visma {visma_amount} {cur}")
    return out


def _zero_rated_elsewhere(order: Order, rate: Decimal, visma: dict[Decimal, Any]) -> bool:
    """Reverse charge and export: the shop's 0 % rows may sit on articles Visma shows at their rate."""
    shop_rates = {r for r in order.vat_summary().rates}
    return shop_rates == {Decimal(0)} or (rate == Decimal(0) and not visma)


def _shop_totals(order: Order) -> dict[str, Any]:
    summary: VatSummary = order.vat_summary()
    return {
        "total": str(order.total_inc_vat),
        "vat": str(order.total_vat),
        "currency": order.currency,
        "per_rate": summary.as_dict(),
    }


def _doc_totals(doc: dict[str, Any]) -> dict[str, Any]:
    keys = ("TotalAmount", "TotalVatAmount", "TotalRoundings", "Amount", "VatAmount", "RoundingsAmount")
    out = {k: str(doc[k]) for k in keys if doc.get(k) is not None}
    out["per_rate"] = {str(r): str(v[0]) for r, v in document_vat_rates(doc).items()}
    out["currency"] = doc.get("InvoiceCurrencyCode") or doc.get("CurrencyCode")
    return out


def _summary(body: dict[str, Any]) -> dict[str, Any]:
    """What was sent, small and free of secrets, for the attempt journal."""
    return {
        "customer": body.get("CustomerId"),
        "rows": [
            {
                k: str(v)
                for k, v in row.items()
                if k in ("ArticleId", "Text", "Quantity", "UnitPrice", "DiscountPercentage")
            }
            for row in body.get("Rows") or []
        ],
        "reference": body.get("YourReference") or body.get("OurReference"),
    }


KIND_PREFIX = {"invoice_draft": "D", "order": "O", "invoice": "I"}


def sku_quantities(wire: dict[str, Any]) -> dict[str, Decimal]:
    """An order's quantity per SKU (normalised), for the stock flow's oversell rule."""
    out: dict[str, Decimal] = {}
    items = wire.get("items") or {}
    for item in items.get("data", []) if isinstance(items, dict) else items:
        sku = str(item.get("sku") or "").strip()
        if sku and item.get("quantity") is not None:
            key = article_key(sku)
            out[key] = out.get(key, Decimal(0)) + Decimal(str(item["quantity"]))
    return out


def external_value(kind: str, doc_id: str) -> str:
    """What goes on the Starweb order (max 40 characters): `D:<draft id>` or `O:<order id>`."""
    return f"{KIND_PREFIX.get(kind, 'D')}:{doc_id}"


def _parse_external(value: str | None) -> tuple[str, str, str | None] | None:
    """(kind, document id, number) from an `external_value`."""
    if not value or ":" not in value:
        return None
    prefix, doc_id = value.split(":", 1)
    kinds = {v: k for k, v in KIND_PREFIX.items()}
    return (kinds[prefix], doc_id, None) if prefix in kinds and doc_id else None


def _explain(exc: ApiError) -> tuple[str, bool]:
    """A Visma or Starweb error in words, and whether a person must fix something first."""
    hint = getattr(exc, "hint", None)
    message = hint or exc.message
    if isinstance(exc, PermissionDeniedError):
        return f"Visma refused: {message}", True
    if isinstance(exc, BadRequestError):
        return f"{exc.service.capitalize()} refused the data: {message}", True
    if isinstance(exc, NotFoundError):
        return f"{exc.service.capitalize()} did not find it: {message}", True
    if isinstance(exc, AuthenticationError):
        return f"{exc.service.capitalize()} refused the credentials: {message}", False
    return f"{exc.service.capitalize()} did not answer usefully ({type(exc).__name__}: {message})", False


def _rate(rate: Decimal) -> str:
    return f"{normalize_rate(rate)} %"


_RETRY_BASE = timedelta(seconds=30)
_BUSY_RETRY = timedelta(seconds=5)
