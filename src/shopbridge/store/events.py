"""Order status events: what happened to a transferred order in Visma, and what we did about it.

One row per (connection, Starweb order, event). Events: ``delivered``, ``invoiced``, ``paid``,
``cancelled`` (fed back to the shop) and the actions we take in Visma: ``book`` (document_type
invoice: our draft converted to a booked invoice), ``send`` (that invoice sent to the customer),
``payment`` (a checkout payment registered on the invoice), ``credit`` (a credit invoice for a
returned order), ``refund`` (the checkout payment paid back on that credit invoice), ``void`` (our
draft or order deleted for an order cancelled in the shop).

States: ``pending`` (seen, not applied yet), ``sending`` (intent recorded, the call may have gone out:
look before repeating), ``applied``, ``superseded`` (a later event was already applied: the order
never moves backwards), ``ignored`` (no action configured) and ``error`` (the message says what to fix;
retried every sweep).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base, utcnow
from .sql import SessionFactory

__all__ = ["OPEN_STATES", "StatusEvent", "StatusEvents"]

OPEN_STATES = ("pending", "sending", "error")


class StatusEvent(Base):
    """One status event of one order (see the module docstring)."""

    __tablename__ = "status_events"
    __table_args__ = (
        UniqueConstraint("connection_id", "starweb_order_id", "event"),
        Index("ix_status_events_open", "connection_id", "state"),
        Index("ix_status_events_visma", "connection_id", "visma_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    starweb_order_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    visma_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any] | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StatusEvents:
    """The status event history (one short transaction per call; rows are snapshots)."""

    def __init__(self, session: SessionFactory) -> None:
        self._session = session

    def record(
        self,
        connection_id: int,
        order_id: str,
        event: str,
        *,
        visma_id: str | None = None,
        details: dict[str, Any] | None = None,
        state: str = "pending",
    ) -> tuple[StatusEvent, bool]:
        """The event's row, created when new (second value True); an existing row is left as it is,
        except that a missing `visma_id` is filled in."""
        with self._session() as s:
            row = s.scalar(
                select(StatusEvent).where(
                    StatusEvent.connection_id == connection_id,
                    StatusEvent.starweb_order_id == str(order_id),
                    StatusEvent.event == event,
                )
            )
            if row is not None:
                if visma_id and not row.visma_id:
                    row.visma_id = visma_id
                    row.updated_at = utcnow()
                return row, False
            row = StatusEvent(
                connection_id=connection_id,
                starweb_order_id=str(order_id),
                event=event,
                state=state,
                visma_id=visma_id,
                details=details or {},
            )
            s.add(row)
            s.flush()
            return row, True

    def update(self, event_id: int, **fields: Any) -> StatusEvent:
        """Change `state`, `visma_id`, `details` (merged) or `error` of one event."""
        with self._session() as s:
            row = s.get(StatusEvent, event_id)
            if row is None:
                raise KeyError(event_id)
            if "details" in fields:
                row.details = {**(row.details or {}), **(fields.pop("details") or {})}
            for key, value in fields.items():
                setattr(row, key, value)
            if "error" not in fields and fields.get("state") not in (None, "error"):
                row.error = None
            row.updated_at = utcnow()
            s.flush()
            return row

    def for_order(self, connection_id: int, order_id: str) -> list[StatusEvent]:
        """The order's events, oldest first."""
        with self._session() as s:
            return list(
                s.scalars(
                    select(StatusEvent)
                    .where(
                        StatusEvent.connection_id == connection_id,
                        StatusEvent.starweb_order_id == str(order_id),
                    )
                    .order_by(StatusEvent.id)
                )
            )

    def all(self, connection_id: int, *, limit: int = 1000) -> list[StatusEvent]:
        """The connection's events, oldest first."""
        with self._session() as s:
            q = select(StatusEvent).where(StatusEvent.connection_id == connection_id)
            return list(s.scalars(q.order_by(StatusEvent.id).limit(limit)))

    def open(self, connection_id: int) -> list[StatusEvent]:
        """Events not finished yet (pending, sending, error), oldest first."""
        with self._session() as s:
            return list(
                s.scalars(
                    select(StatusEvent)
                    .where(StatusEvent.connection_id == connection_id, StatusEvent.state.in_(OPEN_STATES))
                    .order_by(StatusEvent.id)
                )
            )

    def by_visma_id(self, connection_id: int, visma_ids: list[str]) -> dict[str, StatusEvent]:
        """Events carrying one of `visma_ids` (e.g. our invoices), by Visma id."""
        if not visma_ids:
            return {}
        with self._session() as s:
            rows = s.scalars(
                select(StatusEvent).where(
                    StatusEvent.connection_id == connection_id, StatusEvent.visma_id.in_(visma_ids)
                )
            )
            return {str(r.visma_id): r for r in rows}

    def owners(self, connection_ids: list[int], visma_ids: list[str]) -> dict[str, int]:
        """Which of `connection_ids` has an event carrying each of `visma_ids` (an invoice, a credit)."""
        if not connection_ids or not visma_ids:
            return {}
        with self._session() as s:
            rows = s.execute(
                select(StatusEvent.visma_id, StatusEvent.connection_id).where(
                    StatusEvent.connection_id.in_(connection_ids),
                    StatusEvent.visma_id.in_([str(v) for v in visma_ids]),
                )
            )
            return {str(v): int(c) for v, c in rows}

    def last_recorded(self, connection_ids: list[int]) -> dict[int, datetime]:
        """Per connection: when its latest status event was recorded (a change seen in Visma)."""
        if not connection_ids:
            return {}
        with self._session() as s:
            rows = s.execute(
                select(StatusEvent.connection_id, func.max(StatusEvent.created_at))
                .where(StatusEvent.connection_id.in_(connection_ids))
                .group_by(StatusEvent.connection_id)
            )
            return {int(c): last for c, last in rows if last is not None}

    def orders_with(
        self, connection_id: int, events: tuple[str, ...], *, states: tuple[str, ...] | None = None
    ) -> set[str]:
        """Starweb order ids that have any of `events` (in any state, or in one of `states`)."""
        with self._session() as s:
            q = select(StatusEvent.starweb_order_id).where(
                StatusEvent.connection_id == connection_id, StatusEvent.event.in_(events)
            )
            if states is not None:
                q = q.where(StatusEvent.state.in_(states))
            return set(s.scalars(q))
