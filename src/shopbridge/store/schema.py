"""Database tables (SQLAlchemy 2, typed). Change them only together with a new Alembic revision.

Rows returned by the store API are detached snapshots of these classes: read their attributes,
change data through the store API (changing attributes does not save anything).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "DUE_STATES",
    "Attempt",
    "Base",
    "Binding",
    "Connection",
    "Cursor",
    "Lease",
    "Secret",
    "Transfer",
    "TransferState",
    "UTCDateTime",
    "Usage",
    "WebhookEvent",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (what every timestamp in the store is)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores naive UTC; PostgreSQL timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to the store: use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class TransferState(StrEnum):
    """Where an order's transfer stands.

    * ``pending``: waiting for its turn (``next_attempt_at``), first time or after a passing error.
    * ``in_progress``: claimed by a worker right now.
    * ``transferred``: the Visma document exists and is recorded. Final.
    * ``needs_review``: something a person must look at (e.g. totals differ); not retried.
    * ``waiting_for_fix``: bad input (unknown SKU, no postal code, ...); retried after a fix.
    * ``skipped``: deliberately not transferred (e.g. before the start date). Final.
    * ``waiting_for_quota``: the plan's monthly limit or an API quota is used up; retried later.
    * ``in_doubt``: a create was sent but its answer was lost; Visma may or may not hold the document.
      Nothing is created until the grace period has passed (``next_attempt_at``) and a second look
      in Visma has found nothing.
    """

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    TRANSFERRED = "transferred"
    NEEDS_REVIEW = "needs_review"
    WAITING_FOR_FIX = "waiting_for_fix"
    SKIPPED = "skipped"
    WAITING_FOR_QUOTA = "waiting_for_quota"
    IN_DOUBT = "in_doubt"


DUE_STATES = (
    TransferState.PENDING,
    TransferState.WAITING_FOR_FIX,
    TransferState.WAITING_FOR_QUOTA,
    TransferState.IN_DOUBT,
)
"""States that ``claim_due`` picks up once ``next_attempt_at`` has passed (NULL never comes due)."""

_STATE_CHECK = "state IN (" + ", ".join(f"'{s.value}'" for s in TransferState) + ")"


class Connection(Base):
    """One Starweb shop connected to one Visma company, with its settings.

    Multishop: a further shop on the same Visma company is a connection whose ``parent_id`` names the
    connection that holds the Visma consent. It has its own shop, settings (over the parent's),
    transfers and bindings, and shares the parent's Visma tokens, plan and monthly quota.
    """

    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    starweb_base_url: Mapped[str | None] = mapped_column(String(500))
    visma_api_base: Mapped[str | None] = mapped_column(String(500))
    visma_identity_url: Mapped[str | None] = mapped_column(String(500))
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))


class Secret(Base):
    """An encrypted credential of a connection (Fernet ciphertext of a JSON value)."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("connection_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Binding(Base):
    """The same thing in both systems: a Starweb id and its Visma id (and number)."""

    __tablename__ = "bindings"
    __table_args__ = (
        UniqueConstraint("connection_id", "entity_type", "starweb_id"),
        # one Visma customer may stand for many Starweb customers (each guest checkout is a customer of
        # its own in Starweb); every other entity is one-to-one
        Index(
            "uq_bindings_visma_id_one_to_one",
            "connection_id",
            "entity_type",
            "visma_id",
            unique=True,
            sqlite_where=text("entity_type != 'customer'"),
            postgresql_where=text("entity_type != 'customer'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    entity_type: Mapped[str] = mapped_column(String(32))
    starweb_id: Mapped[str] = mapped_column(String(64))
    visma_id: Mapped[str] = mapped_column(String(64))
    visma_number: Mapped[str | None] = mapped_column(String(64))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)


class Cursor(Base):
    """A named sync position of a connection (e.g. the last ``ServerTimeUtc`` seen)."""

    __tablename__ = "cursors"

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Transfer(Base):
    """The transfer log: one row per Starweb order (per entity) and connection."""

    __tablename__ = "transfers"
    __table_args__ = (
        UniqueConstraint("connection_id", "entity_type", "starweb_order_id"),
        CheckConstraint(_STATE_CHECK, name="state"),
        Index("ix_transfers_due", "connection_id", "state", "next_attempt_at"),
        Index("ix_transfers_ordered", "connection_id", "ordered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    entity_type: Mapped[str] = mapped_column(String(32), default="order", server_default="order")
    starweb_order_id: Mapped[str] = mapped_column(String(64))
    starweb_order_number: Mapped[str | None] = mapped_column(String(64))
    # what people search and filter by (the portal's order list), from the shop's order at intake
    customer_name: Mapped[str | None] = mapped_column(String(200))
    customer_email: Mapped[str | None] = mapped_column(String(254))
    ordered_at: Mapped[datetime | None] = mapped_column()
    total_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    state: Mapped[str] = mapped_column(String(32), default=TransferState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    visma_document_id: Mapped[str | None] = mapped_column(String(64))
    visma_document_number: Mapped[str | None] = mapped_column(String(64))
    document_type: Mapped[str | None] = mapped_column(String(32))
    intent_key: Mapped[str | None] = mapped_column(String(128))
    intent_at: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()  # the create was sent (None: not since the intent)
    # what the shop's order held when its document was made or last updated (`sync/order_edits.py`)
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def transfer_state(self) -> TransferState:
        return TransferState(self.state)


class Lease(Base):
    """A named lease held by one process until ``expires_at`` (renewed while it works).

    ``token`` grows by one on every new holder: the fencing token. A holder's writes check that the
    token is still theirs, so a holder that paused past its expiry cannot act on a lease it lost.
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    token: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    acquired_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()


class Attempt(Base):
    """The attempt journal: what was sent, what came back, how it ended."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfers.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(String(32))
    request: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)


class WebhookEvent(Base):
    """A received Starweb web hook, kept to ignore resends (same ``uuid`` on the same connection)."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("connection_id", "uuid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(64))
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Usage(Base):
    """Usage per connection and calendar month (``YYYY-MM``, UTC)."""

    __tablename__ = "usage"

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    transferred_orders: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    shops: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
