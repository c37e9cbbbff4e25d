"""The binder: which Visma thing is which Starweb thing, per connection and entity type.

Entity types in use: ``order`` (Starweb order → Visma invoice draft or order), ``customer``,
``article`` (SKU → article), ``product``. Ids are stored as strings. A Starweb id has one binding;
a Visma id is unique too (a race can never bind one thing twice: :meth:`Bindings.bind` raises
``BindingConflict`` instead), except a customer's: one Visma customer may stand for many Starweb
customers (Starweb makes a customer of each guest checkout; a returning guest finds the same one).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .schema import Binding, utcnow
from .sql import SessionFactory, upsert

__all__ = ["BindingConflict", "Bindings", "Bound", "content_hash"]


class Bound(NamedTuple):
    """One binding, read-only and small (see `Bindings.index`)."""

    starweb_id: str
    visma_id: str
    content_hash: str | None


class BindingConflict(ValueError):
    """The Visma id (not a customer's) is already bound to another Starweb id."""


def content_hash(value: Any) -> str:
    """A stable sha256 of a JSON-able value (dict key order does not matter), for up-to-date checks."""
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class Bindings:
    def __init__(self, session: SessionFactory) -> None:
        self._session = session

    def bind(
        self,
        connection_id: int,
        entity_type: str,
        starweb_id: str | int,
        visma_id: str,
        *,
        visma_number: str | None = None,
        content_hash: str | None = None,
        now: datetime | None = None,
    ) -> Binding:
        """Record (or update) that ``starweb_id`` is ``visma_id``; committed at once.

        Re-binding the same Starweb id to another Visma id replaces the old binding. Binding a Visma
        id that already belongs to another Starweb id raises ``BindingConflict``.
        """
        try:
            with self._session() as s:
                return self.bind_in(
                    s,
                    connection_id,
                    entity_type,
                    starweb_id,
                    visma_id,
                    visma_number=visma_number,
                    content_hash=content_hash,
                    now=now,
                )
        except IntegrityError as exc:
            raise BindingConflict(
                f"{entity_type} {visma_id} in Visma is already bound to another Starweb {entity_type}"
            ) from exc

    @staticmethod
    def bind_in(
        session: Session,
        connection_id: int,
        entity_type: str,
        starweb_id: str | int,
        visma_id: str,
        *,
        visma_number: str | None = None,
        content_hash: str | None = None,
        now: datetime | None = None,
    ) -> Binding:
        """:meth:`bind` inside an open transaction (raises ``IntegrityError`` on a conflict)."""
        values = {
            "connection_id": connection_id,
            "entity_type": entity_type,
            "starweb_id": str(starweb_id),
            "visma_id": str(visma_id),
            "visma_number": visma_number,
            "content_hash": content_hash,
            "synced_at": now or utcnow(),
        }
        upsert(session, Binding, values, keys=("connection_id", "entity_type", "starweb_id"))
        row = session.scalar(
            select(Binding)
            .where(
                Binding.connection_id == connection_id,
                Binding.entity_type == entity_type,
                Binding.starweb_id == str(starweb_id),
            )
            .execution_options(populate_existing=True)
        )
        assert row is not None
        return row

    def get(self, connection_id: int, entity_type: str, starweb_id: str | int) -> Binding | None:
        """The binding of a Starweb id, or None."""
        with self._session() as s:
            return s.scalar(
                select(Binding).where(
                    Binding.connection_id == connection_id,
                    Binding.entity_type == entity_type,
                    Binding.starweb_id == str(starweb_id),
                )
            )

    def get_by_visma(self, connection_id: int, entity_type: str, visma_id: str) -> Binding | None:
        """The binding of a Visma id, or None."""
        with self._session() as s:
            return s.scalar(
                select(Binding).where(
                    Binding.connection_id == connection_id,
                    Binding.entity_type == entity_type,
                    Binding.visma_id == str(visma_id),
                )
            )

    def owners(self, connection_ids: list[int], entity_type: str, visma_ids: list[str]) -> dict[str, int]:
        """Which of `connection_ids` has each of `visma_ids` bound (e.g. a document found by reference)."""
        if not connection_ids or not visma_ids:
            return {}
        with self._session() as s:
            rows = s.execute(
                select(Binding.visma_id, Binding.connection_id).where(
                    Binding.connection_id.in_(connection_ids),
                    Binding.entity_type == entity_type,
                    Binding.visma_id.in_([str(v) for v in visma_ids]),
                )
            )
            return {str(v): int(c) for v, c in rows}

    def visma_id(self, connection_id: int, entity_type: str, starweb_id: str | int) -> str | None:
        b = self.get(connection_id, entity_type, starweb_id)
        return b.visma_id if b else None

    def is_up_to_date(
        self, connection_id: int, entity_type: str, starweb_id: str | int, content_hash: str
    ) -> bool:
        """True when bound and the stored hash equals ``content_hash`` (nothing to send)."""
        b = self.get(connection_id, entity_type, starweb_id)
        return b is not None and b.content_hash == content_hash

    def set_hash(
        self,
        connection_id: int,
        entity_type: str,
        starweb_id: str | int,
        content_hash: str | None,
        *,
        now: datetime | None = None,
    ) -> bool:
        """Update the content hash and ``synced_at`` of an existing binding; False if not bound."""
        with self._session() as s:
            row = s.scalar(
                select(Binding).where(
                    Binding.connection_id == connection_id,
                    Binding.entity_type == entity_type,
                    Binding.starweb_id == str(starweb_id),
                )
            )
            if row is None:
                return False
            row.content_hash = content_hash
            row.synced_at = now or utcnow()
            return True

    def unbind(self, connection_id: int, entity_type: str, starweb_id: str | int) -> bool:
        with self._session() as s:
            res = s.execute(
                delete(Binding).where(
                    Binding.connection_id == connection_id,
                    Binding.entity_type == entity_type,
                    Binding.starweb_id == str(starweb_id),
                )
            )
            return bool(res.rowcount)

    def index(self, connection_id: int, entity_type: str) -> dict[str, Bound]:
        """Starweb id -> `Bound` of every binding of one type: plain tuples, not ORM rows, so a
        catalogue of tens of thousands costs little memory."""
        with self._session() as s:
            rows = s.execute(
                select(Binding.starweb_id, Binding.visma_id, Binding.content_hash).where(
                    Binding.connection_id == connection_id, Binding.entity_type == entity_type
                )
            )
            return {sw: Bound(sw, vi, h) for sw, vi, h in rows}

    def all(self, connection_id: int, entity_type: str | None = None) -> list[Binding]:
        with self._session() as s:
            q = select(Binding).where(Binding.connection_id == connection_id)
            if entity_type is not None:
                q = q.where(Binding.entity_type == entity_type)
            return list(s.scalars(q.order_by(Binding.entity_type, Binding.id)))
