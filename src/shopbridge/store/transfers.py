"""The transfer log and its state machine: one row per Starweb order and connection.

The life of a transfer, as the order flow drives it::

    t = store.transfers.upsert_pending(conn_id, order_id, starweb_order_number="1001")
    for t in store.transfers.claim_due(conn_id, limit=20, worker="w1"):      # now in_progress, attempts+1
        if t.intent_key:                      # an earlier attempt may have created the document:
            ...look in Visma for a document carrying t.intent_key before creating anything...
        store.transfers.record_intent(t, key)                                 # committed BEFORE the create
        doc = visma.create_draft(...)                                         # the remote create
        store.transfers.mark_transferred(t, doc.id, doc.number)               # + binding + usage, one commit
        # or: mark_waiting(t, "Article 'X-1' does not exist in Visma", retry_at, state=WAITING_FOR_FIX)
        # or: mark_needs_review(t, "Totals differ", {...}, visma_document_id=doc.id)

Passing the claimed ``Transfer`` (not just its id) fences the call: if the claim was lost meanwhile
(``release_stale`` gave the row to another worker), ``ClaimLost`` is raised and nothing changes.
The exceptions are calls that record a created document (``mark_transferred``, and
``mark_needs_review`` with a document id): a document in Visma is a fact and is always recorded.
Passing a plain id is for people (CLI ``orders retry``, admin pages) and is not fenced.

After a crash the row comes back (``release_stale``) still carrying ``intent_key``: the next attempt
must look in Visma for a document with that key before creating one. Every call is its own short
transaction and commits before it returns.

Many workers: a sweep claims rows under its connection lease (``fence``, see ``leases.py``) and only
as many as it starts working on; the lease's heartbeat keeps ``claimed_at`` fresh (``touch_claims``).
A row still ``in_progress`` is given back (``release_stale``) only when its claim went unrenewed for
longer than the longest a call can take, or its claimer is a process of this machine that no longer
runs: never on sight. A create whose answer was lost (``sent_at`` set, nothing found) waits
``in_doubt`` for a grace period and looks again before creating.

Claims are guarded updates (``... WHERE state IN (due states)``) inside one transaction; on
PostgreSQL the candidate rows are locked with ``FOR UPDATE SKIP LOCKED``, on SQLite the transaction
is ``BEGIN IMMEDIATE``. Two workers never get the same row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from shopbridge.domain.models import Warning

from .bindings import Bindings
from .events import StatusEvent
from .leases import Lease, Leases, holder_dead
from .schema import DUE_STATES, Connection, Transfer, TransferState, Usage, utcnow
from .sql import SessionFactory, insert_ignore
from .usage import UsageCounter, month_of

__all__ = [
    "ClaimLost",
    "DuplicateDocument",
    "IntentConflict",
    "InvalidTransition",
    "QuotaCheck",
    "TransferRef",
    "Transfers",
    "backoff",
]

TransferRef = int | Transfer
"""A claimed :class:`Transfer` (fenced) or a plain transfer id (not fenced)."""

WAIT_STATES = (
    TransferState.PENDING,
    TransferState.WAITING_FOR_FIX,
    TransferState.WAITING_FOR_QUOTA,
    TransferState.IN_DOUBT,
)
RETRYABLE_STATES = (
    TransferState.PENDING,
    TransferState.WAITING_FOR_FIX,
    TransferState.WAITING_FOR_QUOTA,
    TransferState.NEEDS_REVIEW,
    TransferState.SKIPPED,
)
STALE_MESSAGE = "The previous attempt stopped before it finished (the worker was restarted); trying again."


class ClaimLost(RuntimeError):
    """This worker no longer holds the transfer (released as stale, or changed by a person). Stop."""


class IntentConflict(RuntimeError):
    """A different intent key is already recorded: reconcile with that one before creating anything."""


class InvalidTransition(ValueError):
    """The transfer is not in a state that allows this change."""


class DuplicateDocument(InvalidTransition):
    """The order is already transferred as another Visma document."""


def _shop_group(s: Session, connection_id: int) -> list[int]:
    """The connection ids sharing one Visma company: the root first, then its further shops."""
    parent = s.scalar(select(Connection.parent_id).where(Connection.id == connection_id))
    root = parent if parent is not None else connection_id
    children = s.scalars(select(Connection.id).where(Connection.parent_id == root).order_by(Connection.id))
    return [root, *children]


def backoff(
    attempts: int,
    *,
    base: timedelta = timedelta(minutes=1),
    factor: float = 2.0,
    cap: timedelta = timedelta(hours=6),
) -> timedelta:
    """Exponential delay before the next attempt: ``base * factor**(attempts-1)``, at most ``cap``."""
    n = max(attempts, 1) - 1
    limit = cap.total_seconds()
    seconds = base.total_seconds() * (factor**n) if n < 64 else limit
    return timedelta(seconds=min(seconds, limit))


def _warnings_json(warnings: Iterable[Warning | dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if warnings is None:
        return None
    return [w.model_dump(mode="json") if isinstance(w, Warning) else dict(w) for w in warnings]


@dataclass(frozen=True)
class QuotaCheck:
    """The answer of :meth:`Transfers.reserve_quota`.

    ``allowed``: the order may be created (its intent is recorded). ``used``: the month's orders
    counted against the quota, this one included when allowed (transferred + in flight).
    """

    allowed: bool
    used: int
    limit: int | None
    month: str


def search_condition(text: str) -> Any:
    """Transfers whose order number or id or Visma document number is `text`, or whose customer's
    name or e-mail contains it (case ignored): what people search orders by."""
    q = text.strip()
    like = f"%{q.replace('%', '').replace('_', '')}%"
    return or_(
        Transfer.starweb_order_number == q,
        Transfer.starweb_order_id == q,
        Transfer.visma_document_number == q,
        Transfer.customer_name.ilike(like),
        Transfer.customer_email.ilike(like),
    )


class Transfers:
    def __init__(self, session: SessionFactory) -> None:
        self._session = session

    # ------------------------------------------------------------------ intake

    def upsert_pending(
        self,
        connection_id: int,
        starweb_order_id: str | int,
        *,
        starweb_order_number: str | int | None = None,
        entity_type: str = "order",
        document_type: str | None = None,
        wake: bool = False,
        facts: dict[str, Any] | None = None,
        now: datetime | None = None,
    ) -> Transfer:
        """Make sure the order has a transfer row; a new one is ``pending`` and due at once.

        ``facts``: what people search by (``customer_name``, ``customer_email``, ``ordered_at``,
        ``total_amount``, ``currency``; see ``starweb.mapping.order_facts``), kept up to date.

        An existing row keeps its state (a transferred order stays transferred). With ``wake=True``
        (a web hook said the order changed) a ``pending`` or ``waiting_for_fix`` row becomes due now,
        so a fixed order is taken again without waiting for its retry time.
        """
        now = now or utcnow()
        oid = str(starweb_order_id)
        number = None if starweb_order_number is None else str(starweb_order_number)
        with self._session() as s:
            _insert_pending(s, connection_id, entity_type, oid, number, document_type, facts, now)
            row = self._by_order(s, connection_id, oid, entity_type, lock=True)
            assert row is not None
            for key, value in (facts or {}).items():
                if value is not None and getattr(row, key) != value:
                    setattr(row, key, value)
            if number is not None and row.starweb_order_number != number:
                row.starweb_order_number = number
            if (
                wake
                and row.state in (TransferState.PENDING, TransferState.WAITING_FOR_FIX)
                and (row.next_attempt_at is None or row.next_attempt_at > now)
            ):
                row.next_attempt_at = now
                row.updated_at = now
            return row

    def add_pending(
        self,
        connection_id: int,
        orders: Mapping[str, dict[str, Any] | None],
        *,
        document_type: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """`upsert_pending` for many new orders (order id → facts) in one transaction: rows that exist
        already are left as they are (discovery's batches; one commit instead of one per order)."""
        now = now or utcnow()
        with self._session() as s:
            for oid, facts in orders.items():
                _insert_pending(s, connection_id, "order", str(oid), str(oid), document_type, facts, now)

    # ------------------------------------------------------------------ claiming

    def claim_due(
        self,
        connection_id: int,
        now: datetime | None = None,
        limit: int = 10,
        *,
        worker: str | None = None,
        entity_type: str | None = "order",
        fence: Lease | None = None,
    ) -> list[Transfer]:
        """Atomically take up to ``limit`` due transfers (oldest due first) and mark them ``in_progress``.

        Due: state pending / waiting_for_fix / waiting_for_quota / in_doubt and ``next_attempt_at <= now``.
        ``attempts`` goes up by one: claim only what is worked on now. Each returned row carries a
        ``claim_token`` that fences later calls. With ``fence`` (the sweep's connection lease) nothing
        is claimed unless the lease still holds (``LeaseLost``).
        """
        now = now or utcnow()
        due = [s.value for s in DUE_STATES]
        with self._session() as s:
            if fence is not None:
                Leases.check_in(s, fence)
            q = select(Transfer.id).where(
                Transfer.connection_id == connection_id,
                Transfer.state.in_(due),
                Transfer.next_attempt_at.is_not(None),
                Transfer.next_attempt_at <= now,
            )
            if entity_type is not None:
                q = q.where(Transfer.entity_type == entity_type)
            q = (
                q.order_by(Transfer.next_attempt_at, Transfer.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            ids = list(s.scalars(q))
            if not ids:
                return []
            token = str(uuid.uuid4())
            s.execute(
                update(Transfer)
                .where(
                    Transfer.id.in_(ids),
                    Transfer.state.in_(due),  # the guard: only rows still due are taken
                    Transfer.next_attempt_at <= now,
                )
                .values(
                    state=TransferState.IN_PROGRESS.value,
                    claim_token=token,
                    claimed_at=now,
                    claimed_by=worker,
                    attempts=Transfer.attempts + 1,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            rows = s.scalars(
                select(Transfer)
                .where(Transfer.claim_token == token)
                .order_by(Transfer.next_attempt_at, Transfer.id)
                .execution_options(populate_existing=True)
            )
            return list(rows)

    def release(self, transfer: TransferRef, *, now: datetime | None = None) -> Transfer:
        """Give a claimed transfer back untouched (e.g. on shutdown): pending, due now, not counted."""
        now = now or utcnow()
        with self._session() as s:
            row = self._load(s, transfer, require_claim=True)
            if row.state != TransferState.IN_PROGRESS:
                raise InvalidTransition(f"transfer {row.id} is {row.state}, not in_progress")
            row.state = TransferState.PENDING.value
            row.next_attempt_at = now
            row.attempts = max(row.attempts - 1, 0)
            self._unclaim(row, now)
            return row

    def release_stale(
        self,
        older_than: timedelta,
        *,
        now: datetime | None = None,
        connection_id: int | None = None,
        dead: Any = holder_dead,
    ) -> int:
        """Give back transfers whose worker stopped: ``in_progress`` whose claim went unrenewed for
        longer than ``older_than`` (the longest a call can take), or whose claimer ``dead(claimed_by)``
        says is a process of this machine that no longer runs.

        They become pending and due now, keeping their intent key and send stamp, so the next attempt
        looks in Visma (and waits in doubt if needed) before creating anything. Returns how many.
        """
        now = now or utcnow()
        with self._session() as s:
            q = select(Transfer.id, Transfer.claimed_by, Transfer.claimed_at).where(
                Transfer.state == TransferState.IN_PROGRESS.value
            )
            if connection_id is not None:
                q = q.where(Transfer.connection_id == connection_id)
            dead_cache: dict[str | None, bool] = {}
            ids = []
            for tid, by, at in s.execute(q):
                if by not in dead_cache:
                    dead_cache[by] = bool(dead(by))
                if at is None or at < now - older_than or dead_cache[by]:
                    ids.append(tid)
            if not ids:
                return 0
            res = s.execute(
                update(Transfer)
                .where(Transfer.id.in_(ids), Transfer.state == TransferState.IN_PROGRESS.value)
                .values(
                    state=TransferState.PENDING.value,
                    next_attempt_at=now,
                    claim_token=None,
                    claimed_at=None,
                    claimed_by=None,
                    last_error=STALE_MESSAGE,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            return int(res.rowcount or 0)

    def touch_claims(self, worker: str, *, now: datetime | None = None) -> int:
        """The claims of ``worker`` are alive: move their ``claimed_at`` to now (the lease heartbeat)."""
        now = now or utcnow()
        with self._session() as s:
            res = s.execute(
                update(Transfer)
                .where(Transfer.claimed_by == worker, Transfer.state == TransferState.IN_PROGRESS.value)
                .values(claimed_at=now)
                .execution_options(synchronize_session=False)
            )
            return int(res.rowcount or 0)

    # ------------------------------------------------------------------ during an attempt

    def record_intent(
        self,
        transfer: TransferRef,
        intent_key: str,
        *,
        document_type: str | None = None,
        replace: bool = False,
        now: datetime | None = None,
    ) -> Transfer:
        """Commit "about to create a document marked ``intent_key``" before calling Visma.

        Recording the same key again is a no-op (the first ``intent_at`` stays). A different key
        raises ``IntentConflict`` unless ``replace=True``: an earlier attempt may have created a
        document with the old key, so look for it first.
        """
        now = now or utcnow()
        with self._session() as s:
            row = self._load(s, transfer, require_claim=True)
            self._set_intent(row, intent_key, document_type=document_type, replace=replace, now=now)
            return row

    def mark_sent(self, transfer: TransferRef, *, sent: bool = True, now: datetime | None = None) -> Transfer:
        """Commit "the create is being sent now", right before it is (fenced by the claim).

        A later attempt that finds ``sent_at`` knows the document may exist even if no answer came.
        ``sent=False`` clears it: Visma answered with a plain refusal, so nothing was created.
        """
        now = now or utcnow()
        with self._session() as s:
            row = self._load(s, transfer, require_claim=True)
            row.sent_at = now if sent else None
            row.updated_at = now
            return row

    @staticmethod
    def _set_intent(
        row: Transfer, intent_key: str, *, document_type: str | None, replace: bool, now: datetime
    ) -> None:
        if row.intent_key is not None and row.intent_key != intent_key and not replace:
            raise IntentConflict(
                f"transfer {row.id} already has intent {row.intent_key!r}; reconcile with it first"
            )
        if row.intent_key != intent_key:
            row.intent_key = intent_key
            row.intent_at = now
        if document_type is not None:
            row.document_type = document_type
        row.updated_at = now

    # ------------------------------------------------------------------ plan quota

    def reserve_quota(
        self,
        transfer: TransferRef,
        intent_key: str,
        *,
        limit: int | None,
        month: str | None = None,
        document_type: str | None = None,
        now: datetime | None = None,
    ) -> QuotaCheck:
        """Take one of the month's ``limit`` orders for this transfer, or say that none is left.

        One transaction, serialised per connection (its row is locked on PostgreSQL; SQLite
        transactions are ``BEGIN IMMEDIATE``). It counts the month's transferred orders (usage) plus
        the orders in flight (:meth:`quota_used`) and, when there is room, records ``intent_key``
        exactly like :meth:`record_intent`: the recorded intent IS the reservation, so two workers can
        never both take the last order, and a crashed attempt frees its place (its row leaves
        ``in_progress``). ``limit`` None means no quota (one short transaction, nothing counted). Refused,
        nothing changes: the caller parks the order with ``mark_waiting(..., state=WAITING_FOR_QUOTA)``.
        Fenced by the claim.
        """
        month = month or month_of()
        now = now or utcnow()
        if limit is None:  # no quota: nothing to count or serialise (`used` is not counted: 0)
            with self._session() as s:
                row = self._load(s, transfer, require_claim=True)
                self._set_intent(row, intent_key, document_type=document_type, replace=False, now=now)
                return QuotaCheck(True, 0, None, month)
        with self._session() as s:
            row = self._load(s, transfer, require_claim=True)
            root = _shop_group(s, row.connection_id)[0]
            s.execute(select(Connection.id).where(Connection.id == root).with_for_update())
            used = self._quota_used(s, row.connection_id, month, row.entity_type, exclude=row.id)
            if limit is not None and used + self._waiting_ahead(s, row) >= limit:
                return QuotaCheck(False, used, limit, month)
            self._set_intent(row, intent_key, document_type=document_type, replace=False, now=now)
            return QuotaCheck(True, used + 1, limit, month)

    def quota_used(self, connection_id: int, month: str | None = None, entity_type: str = "order") -> int:
        """Orders counted against the month's quota: transferred in the month (usage) + in flight.

        In flight: ``in_progress`` and ``in_doubt`` transfers with an intent recorded and no document
        yet (their create may be under way). A row carrying an intent from an earlier attempt counts
        as in flight until it is recorded or parked: the count errs on the safe side.
        """
        with self._session() as s:
            return self._quota_used(s, connection_id, month or month_of(), entity_type)

    def wake_quota_waiting(
        self, connection_id: int, room: int | None = None, *, now: datetime | None = None
    ) -> int:
        """Make up to ``room`` (None: all) ``waiting_for_quota`` transfers due now, oldest first, over
        every shop of the Visma company (they share one quota).

        For when the quota frees before their retry time (the plan was raised). Returns how many.
        """
        now = now or utcnow()
        if room is not None and room <= 0:
            return 0
        with self._session() as s:
            q = (
                select(Transfer.id)
                .where(
                    Transfer.connection_id.in_(_shop_group(s, connection_id)),  # multishop: one queue
                    Transfer.state == TransferState.WAITING_FOR_QUOTA.value,
                    or_(Transfer.next_attempt_at.is_(None), Transfer.next_attempt_at > now),
                )
                .order_by(Transfer.id)
            )
            ids = list(s.scalars(q if room is None else q.limit(room)))
            if not ids:
                return 0
            res = s.execute(
                update(Transfer)
                .where(Transfer.id.in_(ids), Transfer.state == TransferState.WAITING_FOR_QUOTA.value)
                .values(next_attempt_at=now, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            return int(res.rowcount or 0)

    @staticmethod
    def _quota_used(
        s: Session, connection_id: int, month: str, entity_type: str, *, exclude: int | None = None
    ) -> int:
        group = _shop_group(s, connection_id)  # multishop: the quota is the Visma company's
        counted = s.scalar(
            select(func.sum(Usage.transferred_orders)).where(
                Usage.connection_id.in_(group), Usage.month == month
            )
        )
        q = select(func.count()).where(
            Transfer.connection_id.in_(group),
            Transfer.entity_type == entity_type,
            Transfer.state.in_([TransferState.IN_PROGRESS.value, TransferState.IN_DOUBT.value]),
            Transfer.intent_key.is_not(None),
            Transfer.visma_document_id.is_(None),
        )
        if exclude is not None:
            q = q.where(Transfer.id != exclude)
        return int(counted or 0) + int(s.scalar(q) or 0)

    @staticmethod
    def _waiting_ahead(s: Session, row: Transfer) -> int:
        """Orders of the same Visma company (any shop that is not paused) that waited for quota before
        `row` did: they get the room first."""
        return int(
            s.scalar(
                select(func.count()).where(
                    Transfer.connection_id.in_(_shop_group(s, row.connection_id)),
                    Transfer.entity_type == row.entity_type,
                    Transfer.state == TransferState.WAITING_FOR_QUOTA.value,
                    Transfer.id < row.id,
                    Transfer.connection_id.in_(select(Connection.id).where(Connection.paused.is_(False))),
                )
            )
            or 0
        )

    # ------------------------------------------------------------------ outcomes

    def mark_transferred(
        self,
        transfer: TransferRef,
        visma_document_id: str,
        visma_document_number: str | int | None = None,
        *,
        document_type: str | None = None,
        warnings: Sequence[Warning | dict[str, Any]] | None = None,
        bind: bool = True,
        count_usage: bool = True,
        now: datetime | None = None,
    ) -> Transfer:
        """The document exists: record it, in ONE transaction with the order binding and the usage count.

        A created document is a fact, so this is not fenced: it is recorded even if the claim was lost
        meanwhile (the other worker's next fenced call then gets ``ClaimLost``). Calling it again with
        the same document is a no-op; with a different document for an already transferred order it
        raises ``DuplicateDocument`` (two documents exist in Visma: a person must remove one).
        ``warnings`` replace the row's warnings. ``bind`` writes the ``order`` binding (Starweb order
        id → Visma document id and number); ``count_usage`` adds one transferred order to this month's
        usage, once per order. Raises ``BindingConflict`` (nothing saved) if the document is bound to
        another order.
        """
        from sqlalchemy.exc import IntegrityError

        from .bindings import BindingConflict

        month = month_of(now)  # the month clock when now is not given (a test may move it)
        now = now or utcnow()
        doc_id = str(visma_document_id)
        number = None if visma_document_number is None else str(visma_document_number)
        try:
            with self._session() as s:
                row = self._load(s, transfer, require_claim=False)
                if row.state == TransferState.TRANSFERRED:
                    if row.visma_document_id == doc_id:
                        return row
                    raise DuplicateDocument(
                        f"order {row.starweb_order_number or row.starweb_order_id} is already transferred as "
                        f"Visma document {row.visma_document_number or row.visma_document_id}; another "
                        f"document ({number or doc_id}) was created for it and should be removed in Visma"
                    )
                row.state = TransferState.TRANSFERRED.value
                row.visma_document_id = doc_id
                row.visma_document_number = number
                if document_type is not None:
                    row.document_type = document_type
                row.next_attempt_at = None
                row.last_error = None
                row.details = None
                if warnings is not None:
                    row.warnings = _warnings_json(warnings) or []
                self._unclaim(row, now)
                if bind:
                    Bindings.bind_in(
                        s,
                        row.connection_id,
                        row.entity_type,
                        row.starweb_order_id,
                        doc_id,
                        visma_number=number,
                        now=now,
                    )
                if count_usage:
                    UsageCounter.increment_in(s, row.connection_id, month, orders=1)
                s.flush()
                return row
        except IntegrityError as exc:
            raise BindingConflict(
                f"Visma document {doc_id} is already bound to another Starweb order"
            ) from exc

    def mark_waiting(
        self,
        transfer: TransferRef,
        reason: str,
        retry_at: datetime | None,
        *,
        state: TransferState = TransferState.PENDING,
        warnings: Sequence[Warning | dict[str, Any]] | None = None,
        now: datetime | None = None,
    ) -> Transfer:
        """Not now: wait in ``state`` until ``retry_at`` with ``reason`` (plain words) as the last error.

        * ``PENDING``: a passing failure (timeout, 5xx); ``retry_at`` is required (see :func:`backoff`).
        * ``WAITING_FOR_FIX``: bad input (unknown SKU, missing postal code, ...); ``retry_at`` None waits
          for ``retry()`` or a web hook (``upsert_pending(wake=True)``), a time re-checks by itself.
        * ``WAITING_FOR_QUOTA``: a monthly or API quota is used up; ``retry_at`` when it resets.
        * ``IN_DOUBT``: a create's answer was lost; ``retry_at`` is when the grace period ends and
          Visma is looked at again before anything is created.
        """
        state = TransferState(state)
        if state not in WAIT_STATES:
            raise InvalidTransition(f"{state} is not a waiting state")
        if state in (TransferState.PENDING, TransferState.IN_DOUBT) and retry_at is None:
            raise ValueError(f"a {state} transfer needs retry_at, or it would never be taken again")
        now = now or utcnow()
        with self._session() as s:
            row = self._load(s, transfer, require_claim=True)
            self._refuse_if_transferred(row)
            row.state = state.value
            row.next_attempt_at = retry_at
            row.last_error = reason
            if warnings is not None:
                row.warnings = _warnings_json(warnings) or []
            self._unclaim(row, now)
            return row

    def mark_needs_review(
        self,
        transfer: TransferRef,
        reason: str,
        details: dict[str, Any] | None = None,
        *,
        visma_document_id: str | None = None,
        visma_document_number: str | int | None = None,
        warnings: Sequence[Warning | dict[str, Any]] | None = None,
        now: datetime | None = None,
    ) -> Transfer:
        """A person must look: ``reason`` in words, ``details`` (e.g. both totals side by side).

        When the document was created (totals differ afterwards) pass its id and number: they are
        recorded and bound in the same transaction, so a retry can never create a second one.
        Not retried automatically. Fenced by the claim, except when a document id is given (a created
        document is always recorded).
        """
        now = now or utcnow()
        with self._session() as s:
            row = self._load(s, transfer, require_claim=visma_document_id is None)
            self._refuse_if_transferred(row)
            row.state = TransferState.NEEDS_REVIEW.value
            row.next_attempt_at = None
            row.last_error = reason
            row.details = details
            if visma_document_id is not None:
                number = None if visma_document_number is None else str(visma_document_number)
                row.visma_document_id = str(visma_document_id)
                row.visma_document_number = number
                Bindings.bind_in(
                    s,
                    row.connection_id,
                    row.entity_type,
                    row.starweb_order_id,
                    str(visma_document_id),
                    visma_number=number,
                    now=now,
                )
            if warnings is not None:
                row.warnings = _warnings_json(warnings) or []
            self._unclaim(row, now)
            return row

    def flag_for_review(
        self, transfer: TransferRef, reason: str, details: dict[str, Any] | None = None
    ) -> Transfer:
        """After the transfer, something in Visma and the shop disagrees (e.g. returned in the shop but
        not invoiced): the transferred order waits in ``needs_review`` with ``reason``, its document
        kept. ``retry()`` takes it again (the document is adopted, never made twice)."""
        with self._session() as s:
            row = self._load(s, transfer, require_claim=False)
            if row.state not in (TransferState.TRANSFERRED, TransferState.NEEDS_REVIEW):
                raise InvalidTransition(f"transfer {row.id} is {row.state}, not transferred")
            row.state = TransferState.NEEDS_REVIEW.value
            row.last_error = reason
            if details is not None:
                row.details = details
            row.updated_at = utcnow()
            return row

    def mark_skipped(self, transfer: TransferRef, reason: str, *, now: datetime | None = None) -> Transfer:
        """Deliberately not transferred (e.g. created before the start date); final until ``retry()``."""
        now = now or utcnow()
        with self._session() as s:
            row = self._load(s, transfer, require_claim=True)
            self._refuse_if_transferred(row)
            row.state = TransferState.SKIPPED.value
            row.next_attempt_at = None
            row.last_error = reason
            self._unclaim(row, now)
            return row

    def record_content(
        self,
        transfer_id: int,
        content: dict[str, Any] | None,
        *,
        warning: Warning | dict[str, Any] | None = None,
    ) -> Transfer:
        """What the shop's order holds now that its document matches it (`sync/order_edits.py`), and a
        warning added to the order's history (e.g. "document updated"); any state, not fenced."""
        with self._session() as s:
            row = self._load(s, transfer_id, require_claim=False)
            row.content = content
            if warning is not None:
                row.warnings = [*(row.warnings or []), *(_warnings_json([warning]) or [])]
            row.updated_at = utcnow()
            return row

    # ------------------------------------------------------------------ people

    def retry(self, transfer_id: int, *, now: datetime | None = None) -> Transfer:
        """Take a waiting, reviewed or skipped transfer again now (``orders retry``); attempts restart at 0.

        Raises ``InvalidTransition`` for a transferred or in-progress one. A needs_review transfer
        whose document exists keeps its document id: the flow must not create another one.
        """
        now = now or utcnow()
        with self._session() as s:
            row = self._load(s, transfer_id, require_claim=False)
            if row.state not in RETRYABLE_STATES:
                raise InvalidTransition(f"transfer {row.id} is {row.state} and cannot be retried")
            row.state = TransferState.PENDING.value
            row.next_attempt_at = now
            row.attempts = 0
            row.updated_at = now
            return row

    def retry_all(
        self,
        connection_id: int,
        states: Iterable[TransferState] = (TransferState.WAITING_FOR_FIX,),
        *,
        now: datetime | None = None,
    ) -> int:
        """:meth:`retry` every transfer of a connection in ``states``; returns how many."""
        now = now or utcnow()
        wanted = [TransferState(st).value for st in states]
        if any(st not in RETRYABLE_STATES for st in wanted):
            raise InvalidTransition("only waiting, reviewed or skipped transfers can be retried")
        with self._session() as s:
            res = s.execute(
                update(Transfer)
                .where(Transfer.connection_id == connection_id, Transfer.state.in_(wanted))
                .values(state=TransferState.PENDING.value, next_attempt_at=now, attempts=0, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            return int(res.rowcount or 0)

    # ------------------------------------------------------------------ reading

    def get(self, transfer_id: int) -> Transfer | None:
        with self._session() as s:
            return s.get(Transfer, transfer_id)

    def by_orders(
        self, connection_id: int, starweb_order_ids: Iterable[str | int], entity_type: str = "order"
    ) -> dict[str, Transfer]:
        """The transfers of many orders in one query, by Starweb order id (missing ones left out)."""
        ids = [str(i) for i in starweb_order_ids]
        if not ids:
            return {}
        with self._session() as s:
            rows = s.scalars(
                select(Transfer).where(
                    Transfer.connection_id == connection_id,
                    Transfer.entity_type == entity_type,
                    Transfer.starweb_order_id.in_(ids),
                )
            )
            return {row.starweb_order_id: row for row in rows}

    def get_by_order(
        self, connection_id: int, starweb_order_id: str | int, entity_type: str = "order"
    ) -> Transfer | None:
        with self._session() as s:
            return self._by_order(s, connection_id, str(starweb_order_id), entity_type)

    def find(self, connection_id: int, id_or_number: str | int) -> Transfer | None:
        """By Starweb order id, else by Starweb order number (for the CLI)."""
        with self._session() as s:
            row = self._by_order(s, connection_id, str(id_or_number), "order")
            if row is None:
                row = s.scalar(
                    select(Transfer)
                    .where(
                        Transfer.connection_id == connection_id,
                        Transfer.starweb_order_number == str(id_or_number),
                    )
                    .order_by(Transfer.id)
                    .limit(1)
                )
            return row

    def all(
        self,
        connection_id: int | None = None,
        *,
        state: TransferState | str | Iterable[TransferState | str] | None = None,
        limit: int = 100,
        offset: int = 0,
        since: datetime | None = None,
        until: datetime | None = None,
        search: str | None = None,
    ) -> list[Transfer]:
        """Transfers, newest first, optionally of one connection, in some states, ordered (or taken
        in) from `since` until before `until`, matching `search` (see `search_condition`)."""
        with self._session() as s:
            q = select(Transfer)
            if connection_id is not None:
                q = q.where(Transfer.connection_id == connection_id)
            if state is not None:
                states = [state] if isinstance(state, str) else list(state)
                q = q.where(Transfer.state.in_([TransferState(x).value for x in states]))
            when = func.coalesce(Transfer.ordered_at, Transfer.created_at)
            if since is not None:
                q = q.where(when >= since)
            if until is not None:
                q = q.where(when < until)
            if search and search.strip():
                q = q.where(search_condition(search))
            return list(s.scalars(q.order_by(Transfer.id.desc()).limit(limit).offset(offset)))

    def counts(self, connection_id: int | None = None) -> dict[str, int]:
        """How many transfers are in each state (every state present, zeros included)."""
        with self._session() as s:
            q = select(Transfer.state, func.count()).group_by(Transfer.state)
            if connection_id is not None:
                q = q.where(Transfer.connection_id == connection_id)
            found = {state: int(n) for state, n in s.execute(q)}
        return {st.value: found.get(st.value, 0) for st in TransferState}

    def document_activity(self, connection_ids: Sequence[int]) -> dict[int, tuple[int, datetime | None]]:
        """Per connection: how many of its transfers have a Visma document whose status may still change
        (transferred or needs review, not paid, cancelled or voided yet), and when the latest of them
        was created or changed."""
        if not connection_ids:
            return {}
        states = [TransferState.TRANSFERRED.value, TransferState.NEEDS_REVIEW.value]
        settled = (
            select(StatusEvent.id)
            .where(
                StatusEvent.connection_id == Transfer.connection_id,
                StatusEvent.starweb_order_id == Transfer.starweb_order_id,
                StatusEvent.event.in_(("paid", "cancelled", "void")),
            )
            .exists()
        )
        with self._session() as s:
            rows = s.execute(
                select(Transfer.connection_id, func.count(), func.max(Transfer.updated_at))
                .where(
                    Transfer.connection_id.in_(list(connection_ids)),
                    Transfer.state.in_(states),
                    Transfer.visma_document_id.is_not(None),
                    ~settled,
                )
                .group_by(Transfer.connection_id)
            )
            return {int(c): (int(n), last) for c, n, last in rows}

    def in_doubt(self, connection_id: int | None = None) -> int:
        """Transfers whose intent is recorded but whose Visma document is not: the document may exist
        (a crash or a lost answer); the next attempt reconciles before creating."""
        with self._session() as s:
            q = select(func.count()).where(
                Transfer.intent_key.is_not(None),
                Transfer.visma_document_id.is_(None),
                Transfer.state.not_in([TransferState.TRANSFERRED.value, TransferState.SKIPPED.value]),
            )
            if connection_id is not None:
                q = q.where(Transfer.connection_id == connection_id)
            return int(s.scalar(q) or 0)

    def next_due_at(self, connection_id: int) -> datetime | None:
        """When the next waiting transfer of the connection comes due (None if none will)."""
        with self._session() as s:
            return s.scalar(
                select(func.min(Transfer.next_attempt_at)).where(
                    Transfer.connection_id == connection_id,
                    Transfer.state.in_([x.value for x in DUE_STATES]),
                )
            )

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _by_order(
        s: Session, connection_id: int, order_id: str, entity_type: str, *, lock: bool = False
    ) -> Transfer | None:
        q = select(Transfer).where(
            Transfer.connection_id == connection_id,
            Transfer.entity_type == entity_type,
            Transfer.starweb_order_id == order_id,
        )
        if lock:
            q = q.with_for_update()
        return s.scalar(q.execution_options(populate_existing=True))

    @staticmethod
    def _load(s: Session, transfer: TransferRef, *, require_claim: bool) -> Transfer:
        """Lock and load the row; with a claimed Transfer check the claim still holds."""
        tid = transfer.id if isinstance(transfer, Transfer) else int(transfer)
        row = s.get(Transfer, tid, with_for_update=True, populate_existing=True)
        if row is None:
            raise LookupError(f"no transfer with id {tid}")
        if (
            require_claim
            and isinstance(transfer, Transfer)
            and transfer.claim_token is not None
            and (row.claim_token != transfer.claim_token or row.state != TransferState.IN_PROGRESS)
        ):
            raise ClaimLost(
                f"transfer {tid} is no longer held by this worker (now {row.state}); leaving it alone"
            )
        return row

    @staticmethod
    def _unclaim(row: Transfer, now: datetime) -> None:
        row.claim_token = None
        row.claimed_at = None
        row.claimed_by = None
        row.updated_at = now

    @staticmethod
    def _refuse_if_transferred(row: Transfer) -> None:
        if row.state == TransferState.TRANSFERRED:
            raise InvalidTransition(f"transfer {row.id} is already transferred")


def _insert_pending(
    s: Any,
    connection_id: int,
    entity_type: str,
    oid: str,
    number: str | None,
    document_type: str | None,
    facts: dict[str, Any] | None,
    now: datetime,
) -> None:
    """A new ``pending`` row, due now; nothing when the order has one already."""
    insert_ignore(
        s,
        Transfer,
        {
            "connection_id": connection_id,
            "entity_type": entity_type,
            "starweb_order_id": oid,
            "starweb_order_number": number,
            "state": TransferState.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "warnings": [],
            "document_type": document_type,
            "created_at": now,
            "updated_at": now,
            **(facts or {}),
        },
        keys=("connection_id", "entity_type", "starweb_order_id"),
    )
