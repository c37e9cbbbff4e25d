"""Usage per connection and calendar month (UTC): transferred orders and shops.

Months are ``'YYYY-MM'`` strings taken from :data:`clock` (UTC). The plan quota (``shopbridge.plans``)
reads the same months, so replacing ``clock`` (a test simulating a month turn) moves both the
counting and the quota to the new month.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .schema import Usage, utcnow
from .sql import SessionFactory, upsert

__all__ = ["UsageCounter", "check_month", "clock", "month_of", "month_start", "next_month_start"]

clock: Callable[[], datetime] = utcnow
"""The clock months are read from (aware UTC). Tests replace it to simulate a month turn."""

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_of(when: datetime | None = None) -> str:
    """``'YYYY-MM'`` of a moment, in UTC (now by :data:`clock` when omitted)."""
    when = when or clock()
    return (when.astimezone(UTC) if when.tzinfo else when).strftime("%Y-%m")


def check_month(month: str) -> str:
    """``month`` if it is a valid ``'YYYY-MM'``; raises ``ValueError`` otherwise."""
    if not _MONTH.match(month):
        raise ValueError(f"month {month!r} is not YYYY-MM (e.g. 2026-03)")
    return month


def month_start(month: str) -> datetime:
    """The first instant (UTC) of a ``'YYYY-MM'`` month."""
    year, mon = (int(x) for x in check_month(month).split("-"))
    return datetime(year, mon, 1, tzinfo=UTC)


def next_month_start(month: str) -> datetime:
    """The first instant (UTC) of the month after ``month``: when its quota resets."""
    start = month_start(month)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


class UsageCounter:
    def __init__(self, session: SessionFactory) -> None:
        self._session = session

    def increment(
        self, connection_id: int, month: str | None = None, *, orders: int = 1, shops: int = 1
    ) -> None:
        """Add ``orders`` transferred orders to the month (atomic, race-free); ``shops`` is kept as the max.

        ``mark_transferred`` already counts each transferred order; call this only for other counts.
        """
        with self._session() as s:
            self.increment_in(s, connection_id, month or month_of(), orders=orders, shops=shops)

    @staticmethod
    def increment_in(
        session: Session, connection_id: int, month: str, *, orders: int = 1, shops: int = 1
    ) -> None:
        """:meth:`increment` inside an open transaction."""
        upsert(
            session,
            Usage,
            {"connection_id": connection_id, "month": month, "transferred_orders": orders, "shops": shops},
            keys=("connection_id", "month"),
            update={
                "transferred_orders": Usage.transferred_orders + orders,
                "shops": func.max(Usage.shops, shops)
                if session.get_bind().dialect.name == "sqlite"
                else func.greatest(Usage.shops, shops),
            },
        )

    def orders(self, connection_id: int, month: str | None = None) -> int:
        """Orders transferred in the month (0 when nothing was counted)."""
        row = self.get(connection_id, month)
        return row.transferred_orders if row is not None else 0

    def get(self, connection_id: int, month: str | None = None) -> Usage | None:
        with self._session() as s:
            return s.get(Usage, (connection_id, month or month_of()))

    def for_month(self, month: str | None = None) -> list[Usage]:
        """Every connection's usage in a month."""
        with self._session() as s:
            return list(
                s.scalars(
                    select(Usage).where(Usage.month == (month or month_of())).order_by(Usage.connection_id)
                )
            )

    def history(self, connection_id: int) -> list[Usage]:
        """A connection's usage, oldest month first."""
        with self._session() as s:
            return list(
                s.scalars(select(Usage).where(Usage.connection_id == connection_id).order_by(Usage.month))
            )

    def total_orders(self, month: str | None = None) -> int:
        with self._session() as s:
            n = s.scalar(
                select(func.coalesce(func.sum(Usage.transferred_orders), 0)).where(
                    Usage.month == (month or month_of())
                )
            )
            return int(n or 0)
