"""Usage per connection and calendar month (UTC): transferred orders and shops."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .schema import Usage, utcnow
from .sql import SessionFactory, upsert

__all__ = ["UsageCounter", "month_of"]


def month_of(when: datetime | None = None) -> str:
    """``'YYYY-MM'`` of a moment, in UTC (now when omitted)."""
    when = when or utcnow()
    return (when.astimezone(UTC) if when.tzinfo else when).strftime("%Y-%m")


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
