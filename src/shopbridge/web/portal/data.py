"""The portal's reads over the transfer log, each a fixed number of queries whatever the log's size.

Every function takes the connection ids the viewer may see (``Viewer.connection_ids``) and never
looks outside them. The order list pages by id (keyset: ``before``/``after``), so page 1 and page
2,000 cost the same.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, update

from shopbridge.store import Store, Transfer, TransferState, utcnow
from shopbridge.store.schema import Connection
from shopbridge.store.transfers import search_condition

__all__ = [
    "PAGE_SIZE",
    "RETRYABLE",
    "OrderFilters",
    "OrderPage",
    "order_page",
    "retry_by_reason",
    "state_counts",
    "waiting_reasons",
]

PAGE_SIZE = 50
RETRYABLE = (TransferState.WAITING_FOR_FIX.value, TransferState.NEEDS_REVIEW.value)


@dataclass
class OrderFilters:
    """What the order list is narrowed to (all optional)."""

    state: str | None = None
    shop: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""

    def query(self) -> dict[str, str]:
        """The filters as query parameters (for the pager's links)."""
        out = {
            "state": self.state or "",
            "shop": str(self.shop) if self.shop else "",
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "q": self.q,
        }
        return {k: v for k, v in out.items() if v}


@dataclass
class OrderPage:
    rows: list[Transfer]
    total: int
    newer: int | None = None  # id for the "newer" link (after=)
    older: int | None = None  # id for the "older" link (before=)
    names: dict[int, str] = field(default_factory=dict)


def _scoped(ids: set[int] | list[int], f: OrderFilters) -> list[Any]:
    conds: list[Any] = [Transfer.connection_id.in_(sorted(ids)), Transfer.entity_type == "order"]
    if f.shop is not None:
        conds.append(Transfer.connection_id == f.shop)
    if f.state:
        conds.append(Transfer.state == f.state)
    when = func.coalesce(Transfer.ordered_at, Transfer.created_at)
    if f.date_from:
        conds.append(when >= datetime.combine(f.date_from, time.min, tzinfo=UTC))
    if f.date_to:
        conds.append(when < datetime.combine(f.date_to + timedelta(days=1), time.min, tzinfo=UTC))
    if f.q.strip():
        conds.append(search_condition(f.q))  # the one search, shared with `shopbridge orders list`
    return conds


def order_page(
    store: Store,
    ids: set[int],
    filters: OrderFilters,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = PAGE_SIZE,
) -> OrderPage:
    """One page of orders, newest first, with the total matching the filters (3 queries)."""
    if not ids:
        return OrderPage([], 0)
    conds = _scoped(ids, filters)
    with store.session() as s:
        q = select(Transfer).where(*conds)
        if after is not None:
            rows = list(s.scalars(q.where(Transfer.id > after).order_by(Transfer.id.asc()).limit(limit + 1)))
            more_newer = len(rows) > limit
            rows = list(reversed(rows[:limit]))
            more_older = True
        else:
            if before is not None:
                q = q.where(Transfer.id < before)
            rows = list(s.scalars(q.order_by(Transfer.id.desc()).limit(limit + 1)))
            more_older = len(rows) > limit
            rows = rows[:limit]
            more_newer = before is not None
        total = int(s.scalar(select(func.count()).select_from(Transfer).where(*conds)) or 0)
        names = dict(
            s.execute(select(Connection.id, Connection.name).where(Connection.id.in_(sorted(ids)))).all()
        )
    return OrderPage(
        rows,
        total,
        newer=rows[0].id if rows and more_newer else None,
        older=rows[-1].id if rows and more_older else None,
        names=names,
    )


def state_counts(store: Store, ids: set[int] | list[int]) -> dict[int, dict[str, int]]:
    """Orders per state for each connection (one query)."""
    out: dict[int, dict[str, int]] = defaultdict(lambda: {s.value: 0 for s in TransferState})
    if not ids:
        return out
    with store.session() as s:
        q = (
            select(Transfer.connection_id, Transfer.state, func.count())
            .where(Transfer.connection_id.in_(sorted(ids)), Transfer.entity_type == "order")
            .group_by(Transfer.connection_id, Transfer.state)
        )
        for cid, state, n in s.execute(q):
            out[cid][state] = int(n)
    return out


def waiting_reasons(store: Store, ids: set[int] | list[int], limit: int = 20) -> list[tuple[int, str, int]]:
    """(connection id, reason, how many) for orders waiting for a person, most common first."""
    if not ids:
        return []
    with store.session() as s:
        q = (
            select(Transfer.connection_id, Transfer.last_error, func.count())
            .where(
                Transfer.connection_id.in_(sorted(ids)),
                Transfer.state.in_(RETRYABLE),
                Transfer.last_error.is_not(None),
            )
            .group_by(Transfer.connection_id, Transfer.last_error)
            .order_by(func.count().desc())
            .limit(limit)
        )
        return [(int(c), str(r), int(n)) for c, r, n in s.execute(q)]


def count_for_reason(store: Store, connection_id: int, reason: str) -> int:
    with store.session() as s:
        q = select(func.count()).where(
            Transfer.connection_id == connection_id,
            Transfer.state.in_(RETRYABLE),
            Transfer.last_error == reason,
        )
        return int(s.scalar(q) or 0)


def retry_by_reason(store: Store, connection_id: int, reason: str) -> int:
    """Take again every order of the connection waiting (or in review) for exactly `reason`."""
    now = utcnow()
    with store.session() as s:
        res = s.execute(
            update(Transfer)
            .where(
                Transfer.connection_id == connection_id,
                Transfer.state.in_(RETRYABLE),
                Transfer.last_error == reason,
            )
            .values(state=TransferState.PENDING.value, next_attempt_at=now, attempts=0, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(res.rowcount or 0)
