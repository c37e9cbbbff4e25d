"""Notifications: the web hook channels of a tenant, the events worth telling, and the outbox.

* ``notification_channels``: a tenant's web hooks (Slack-compatible JSON). The URL is a secret
  (whoever has it can post into the channel) and is stored encrypted with the store's key.
* ``notification_events``: one row per thing to tell (an order started waiting or needs review,
  a connection's credentials stopped working, 80 % / 100 % of the month's quota), unique per
  ``(connection, kind, key)`` so each is told once however often it is seen.
* ``notification_messages``: the outbox: one message per recipient (``user:<id>`` e-mail or
  ``channel:<id>`` web hook), sent with bounded retries; a daily digest is one message per user and
  day (unique per ``(recipient, digest_day)``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    delete,
    select,
    true,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base, utcnow
from .sql import SessionFactory, insert_ignore

if TYPE_CHECKING:
    from .crypto import Cipher

__all__ = [
    "EVENT_KINDS",
    "NotificationChannel",
    "NotificationEvent",
    "NotificationMessage",
    "Notifications",
]

EVENT_KINDS = ("order_waiting", "order_review", "credentials", "quota_80", "quota_100")
ORDER_KINDS = ("order_waiting", "order_review")


class NotificationChannel(Base):
    """A tenant's web hook (Slack-compatible: ``{"text": ...}`` POSTed as JSON)."""

    __tablename__ = "notification_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="webhook")
    name: Mapped[str] = mapped_column(String(200), default="")
    target: Mapped[bytes] = mapped_column(LargeBinary)  # encrypted URL
    language: Mapped[str] = mapped_column(String(8), default="sv")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationEvent(Base):
    """Something worth telling about one connection (see the module docstring)."""

    __tablename__ = "notification_events"
    __table_args__ = (
        UniqueConstraint("connection_id", "kind", "key"),
        Index("ix_notification_events_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationMessage(Base):
    """One message to one recipient, in the outbox until sent (or given up)."""

    __tablename__ = "notification_messages"
    __table_args__ = (
        UniqueConstraint("recipient", "digest_day"),
        Index("ix_notification_messages_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    recipient: Mapped[str] = mapped_column(String(64))  # user:<id> or channel:<id>
    digest_day: Mapped[str | None] = mapped_column(String(10))  # YYYY-MM-DD for a daily digest
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()


class Notifications:
    """Channels, events and the outbox (one short transaction per call)."""

    def __init__(self, session: SessionFactory, cipher: Callable[[], Cipher]) -> None:
        self._session = session
        self._cipher = cipher

    # -- channels -------------------------------------------------------------------------------
    def add_channel(self, tenant_id: int, url: str, *, name: str = "", language: str = "sv") -> int:
        token = self._cipher().encrypt(json.dumps(url).encode("utf-8"))
        row = NotificationChannel(tenant_id=tenant_id, name=name.strip(), target=token, language=language)
        with self._session() as s:
            s.add(row)
            s.flush()
            return row.id

    def channel(self, channel_id: int) -> NotificationChannel | None:
        with self._session() as s:
            return s.get(NotificationChannel, channel_id)

    def channels(self, tenant_ids: list[int], *, enabled_only: bool = False) -> list[NotificationChannel]:
        with self._session() as s:
            q = select(NotificationChannel).where(NotificationChannel.tenant_id.in_(tenant_ids))
            if enabled_only:
                q = q.where(NotificationChannel.enabled.is_(True))
            return list(s.scalars(q.order_by(NotificationChannel.id)))

    def channel_url(self, channel: NotificationChannel) -> str:
        """The decrypted URL (for the transport only: never shown, never logged)."""
        return str(json.loads(self._cipher().decrypt(channel.target)))

    def set_channel(self, channel_id: int, *, enabled: bool) -> None:
        with self._session() as s:
            s.execute(
                update(NotificationChannel)
                .where(NotificationChannel.id == channel_id)
                .values(enabled=enabled)
            )

    def delete_channel(self, channel_id: int) -> None:
        with self._session() as s:
            s.execute(delete(NotificationChannel).where(NotificationChannel.id == channel_id))

    # -- events ---------------------------------------------------------------------------------
    def record(self, connection_id: int, kind: str, key: str, details: dict[str, Any] | None = None) -> bool:
        """Record an event once; True when it is new (then tell it), False when already known."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown notification kind {kind!r}")
        with self._session() as s:
            return insert_ignore(
                s,
                NotificationEvent,
                {
                    "connection_id": connection_id,
                    "kind": kind,
                    "key": key[:200],
                    "details": details or {},
                    "created_at": utcnow(),
                },
                keys=("connection_id", "kind", "key"),
            )

    def known_keys(self, connection_id: int, kind: str, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        with self._session() as s:
            q = select(NotificationEvent.key).where(
                NotificationEvent.connection_id == connection_id,
                NotificationEvent.kind == kind,
                NotificationEvent.key.in_(keys),
            )
            return set(s.scalars(q))

    def events(
        self,
        connection_ids: list[int],
        *,
        since: datetime | None = None,
        kinds: tuple[str, ...] = EVENT_KINDS,
        limit: int = 500,
    ) -> list[NotificationEvent]:
        """Events of these connections (newer than `since`), oldest first."""
        if not connection_ids:
            return []
        with self._session() as s:
            q = select(NotificationEvent).where(
                NotificationEvent.connection_id.in_(connection_ids), NotificationEvent.kind.in_(kinds)
            )
            if since is not None:
                q = q.where(NotificationEvent.created_at > since)
            return list(s.scalars(q.order_by(NotificationEvent.id).limit(limit)))

    # -- outbox ---------------------------------------------------------------------------------
    def enqueue(
        self, tenant_id: int, recipient: str, subject: str, body: str, *, digest_day: str | None = None
    ) -> bool:
        """Put a message in the outbox; a digest is enqueued once per recipient and day."""
        values = {
            "tenant_id": tenant_id,
            "recipient": recipient,
            "digest_day": digest_day,
            "subject": subject[:300],
            "body": body,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": utcnow(),
            "created_at": utcnow(),
        }
        with self._session() as s:
            if digest_day is None:
                s.add(NotificationMessage(**values))
                return True
            return insert_ignore(s, NotificationMessage, values, keys=("recipient", "digest_day"))

    def due(self, *, now: datetime | None = None, limit: int = 50) -> list[NotificationMessage]:
        now = now or utcnow()
        with self._session() as s:
            q = select(NotificationMessage).where(
                NotificationMessage.status == "pending", NotificationMessage.next_attempt_at <= now
            )
            return list(s.scalars(q.order_by(NotificationMessage.id).limit(limit)))

    def sent(self, message_id: int) -> None:
        with self._session() as s:
            s.execute(
                update(NotificationMessage)
                .where(NotificationMessage.id == message_id)
                .values(
                    status="sent", sent_at=utcnow(), error=None, attempts=NotificationMessage.attempts + 1
                )
            )

    def failed(self, message_id: int, error: str, *, retry_in: timedelta | None) -> None:
        """A failed send: retried after `retry_in`, or given up (None)."""
        with self._session() as s:
            s.execute(
                update(NotificationMessage)
                .where(NotificationMessage.id == message_id)
                .values(
                    status="pending" if retry_in is not None else "failed",
                    next_attempt_at=utcnow() + retry_in if retry_in is not None else None,
                    error=error[:1000],
                    attempts=NotificationMessage.attempts + 1,
                )
            )

    def messages(self, tenant_ids: list[int], *, limit: int = 50) -> list[NotificationMessage]:
        with self._session() as s:
            q = select(NotificationMessage).where(NotificationMessage.tenant_id.in_(tenant_ids))
            return list(s.scalars(q.order_by(NotificationMessage.id.desc()).limit(limit)))
