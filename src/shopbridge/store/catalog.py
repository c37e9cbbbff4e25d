"""Catalogue bookkeeping: what the shop sold that Visma has not drawn yet, and per-item problems.

* ``order_lines``: the SKU quantities of every complete shop order seen (written once, at discovery
  by the order flow, or by the stock flow whatever the order's status). The stock flow subtracts the
  lines of orders Visma does not reflect yet, so writing Visma's stock to the shop never resurrects
  units the shop already sold (see ``sync/held_back.py``).
* ``catalog_issues``: one row per catalogue item that could not be synced (an error: the item waits
  and is retried every sweep) or was synced with a compromise (a warning, e.g. a shortened name).
  Cleared when the item goes through cleanly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, and_, delete, exists, or_, select
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base, utcnow
from .sql import SessionFactory, insert_ignore, upsert

__all__ = ["CatalogIssue", "CatalogIssues", "OrderLine", "OrderLines"]


class OrderLine(Base):
    """Quantity of one SKU on one Starweb order (SKU normalised with ``article_key``)."""

    __tablename__ = "order_lines"

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    starweb_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku: Mapped[str] = mapped_column(String(100), primary_key=True)
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class CatalogIssue(Base):
    """A catalogue item's current problem (``level`` error or warning), in plain words."""

    __tablename__ = "catalog_issues"
    __table_args__ = (Index("ix_catalog_issues_conn", "connection_id", "level"),)

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    entity: Mapped[str] = mapped_column(String(32), primary_key=True)  # article, product, price, stock
    key: Mapped[str] = mapped_column(String(100), primary_key=True)  # SKU / article number
    level: Mapped[str] = mapped_column(String(16), default="error")
    message: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


class OrderLines:
    """Order quantities per SKU, for the stock flow's oversell rule."""

    def __init__(self, session: SessionFactory) -> None:
        self._session = session

    def record(self, connection_id: int, order_id: str, quantities: Mapping[str, Decimal]) -> None:
        """Record an order's SKU quantities once (later calls for the same order change nothing)."""
        self.record_many(connection_id, {order_id: quantities})

    def record_many(self, connection_id: int, orders: Mapping[str, Mapping[str, Decimal]]) -> None:
        """`record` for many orders (order id → SKU quantities) in one transaction."""
        with self._session() as s:
            for order_id, quantities in orders.items():
                for sku, qty in quantities.items():
                    insert_ignore(
                        s,
                        OrderLine,
                        {
                            "connection_id": connection_id,
                            "starweb_order_id": str(order_id),
                            "sku": sku,
                            "quantity": qty,
                            "recorded_at": utcnow(),
                        },
                        keys=("connection_id", "starweb_order_id", "sku"),
                    )

    def forget_untransferred(self, connection_id: int, order_id: str) -> None:
        """Forget the lines of an order cancelled in the shop before it went to Visma (nothing to hold)."""
        from .schema import Transfer

        transferred = exists().where(
            Transfer.connection_id == connection_id, Transfer.starweb_order_id == str(order_id)
        )
        with self._session() as s:
            s.execute(
                delete(OrderLine).where(
                    OrderLine.connection_id == connection_id,
                    OrderLine.starweb_order_id == str(order_id),
                    ~transferred,
                )
            )

    def not_drawn(
        self, connection_ids: int | Iterable[int], *, since: datetime, drawn_on_transfer: bool
    ) -> dict[str, Decimal]:
        """Quantity per SKU on orders taken in since `since` that Visma's stock does not reflect yet.

        An order without a transfer row (recorded whatever its status, sync/held_back.py) counts. An
        order with one counts until it is transferred when a transferred document already draws or reserves
        stock (`drawn_on_transfer`: a Visma order read as available stock), else until it is invoiced
        (an invoice draft draws nothing). Skipped and cancelled orders never count. Pass every shop of
        a Visma company (multishop): they share its stock.
        """
        from .events import StatusEvent
        from .schema import Transfer, TransferState

        ids = [connection_ids] if isinstance(connection_ids, int) else list(connection_ids)
        done = exists().where(
            StatusEvent.connection_id == OrderLine.connection_id,
            StatusEvent.starweb_order_id == OrderLine.starweb_order_id,
            StatusEvent.event.in_(("invoiced", "cancelled", "void")),
        )
        q = (
            select(OrderLine.sku, OrderLine.quantity, Transfer.state)
            .outerjoin(
                Transfer,
                (Transfer.connection_id == OrderLine.connection_id)
                & (Transfer.starweb_order_id == OrderLine.starweb_order_id),
            )
            .where(
                OrderLine.connection_id.in_(ids),
                or_(
                    # not (yet) an order to transfer: it counts from the moment it was seen
                    and_(Transfer.id.is_(None), OrderLine.recorded_at >= since),
                    and_(Transfer.created_at >= since, Transfer.state != TransferState.SKIPPED.value),
                ),
                ~done,
            )
        )
        out: dict[str, Decimal] = defaultdict(Decimal)
        with self._session() as s:
            for sku, qty, state in s.execute(q):
                if drawn_on_transfer and state == TransferState.TRANSFERRED.value:
                    continue
                out[sku] += Decimal(qty)
        return dict(out)


class CatalogIssues:
    """Per-item catalogue problems (one short transaction per call)."""

    def __init__(self, session: SessionFactory) -> None:
        self._session = session

    def report(
        self, connection_id: int, entity: str, key: str, message: str, *, level: str = "error"
    ) -> None:
        """Record (or refresh) the problem of one item."""
        now = utcnow()
        values = {
            "connection_id": connection_id,
            "entity": entity,
            "key": key,
            "level": level,
            "message": message,
            "first_seen": now,
            "last_seen": now,
        }
        with self._session() as s:
            upsert(
                s,
                CatalogIssue,
                values,
                keys=("connection_id", "entity", "key"),
                update={"level": level, "message": message, "last_seen": now},
            )

    def clear_entity(self, connection_id: int, entity: str) -> None:
        """Forget every issue of `entity` (before checking them all again)."""
        with self._session() as s:
            s.execute(
                delete(CatalogIssue).where(
                    CatalogIssue.connection_id == connection_id, CatalogIssue.entity == entity
                )
            )

    def clear(self, connection_id: int, entity: str, key: str) -> None:
        with self._session() as s:
            s.execute(
                delete(CatalogIssue).where(
                    CatalogIssue.connection_id == connection_id,
                    CatalogIssue.entity == entity,
                    CatalogIssue.key == key,
                )
            )

    def keys(self, connection_id: int, entity: str, *, level: str = "error") -> set[str]:
        """Keys of `entity` items that have an issue of `level` now."""
        with self._session() as s:
            rows = s.scalars(
                select(CatalogIssue.key).where(
                    CatalogIssue.connection_id == connection_id,
                    CatalogIssue.entity == entity,
                    CatalogIssue.level == level,
                )
            )
            return set(rows)

    def all(self, connection_id: int, *, level: str | None = None) -> list[CatalogIssue]:
        with self._session() as s:
            q = select(CatalogIssue).where(CatalogIssue.connection_id == connection_id)
            if level:
                q = q.where(CatalogIssue.level == level)
            return list(s.scalars(q.order_by(CatalogIssue.entity, CatalogIssue.key)))
