"""Received Starweb web hooks, deduplicated per connection on their ``uuid`` (Starweb resends with the
same one); purged after the connection's ``retention_days`` (see ``store/retention.py``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from .schema import WebhookEvent, utcnow
from .sql import SessionFactory, insert_ignore

__all__ = ["WebhookEvents"]


class WebhookEvents:
    def __init__(self, session: SessionFactory) -> None:
        self._session = session

    def record(
        self,
        connection_id: int,
        uuid: str,
        payload: dict[str, Any] | None = None,
        *,
        now: datetime | None = None,
    ) -> bool:
        """Remember a hook; True if it is new, False if this connection saw this ``uuid`` before."""
        with self._session() as s:
            return insert_ignore(
                s,
                WebhookEvent,
                {
                    "uuid": str(uuid),
                    "connection_id": connection_id,
                    "received_at": now or utcnow(),
                    "payload": payload,
                },
                keys=("connection_id", "uuid"),
            )

    def seen(self, uuid: str, connection_id: int | None = None) -> bool:
        """Whether this ``uuid`` was received (by `connection_id`, or by any connection)."""
        with self._session() as s:
            q = select(WebhookEvent.id).where(WebhookEvent.uuid == str(uuid))
            if connection_id is not None:
                q = q.where(WebhookEvent.connection_id == connection_id)
            return s.scalar(q.limit(1)) is not None

    def recent(self, connection_id: int, limit: int = 50) -> list[WebhookEvent]:
        with self._session() as s:
            q = (
                select(WebhookEvent)
                .where(WebhookEvent.connection_id == connection_id)
                .order_by(WebhookEvent.received_at.desc(), WebhookEvent.id.desc())
                .limit(limit)
            )
            return list(s.scalars(q))

    def purge(
        self, older_than: timedelta, *, now: datetime | None = None, connection_id: int | None = None
    ) -> int:
        """Forget hooks (and their payloads) received before ``now - older_than`` (Starweb resends
        for about 5 hours), of one connection or all."""
        cutoff = (now or utcnow()) - older_than
        with self._session() as s:
            q = delete(WebhookEvent).where(WebhookEvent.received_at < cutoff)
            if connection_id is not None:
                q = q.where(WebhookEvent.connection_id == connection_id)
            return int(s.execute(q).rowcount or 0)
