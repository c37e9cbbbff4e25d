"""Named sync positions per connection (e.g. ``orders.modified`` = the last ``ServerTimeUtc``).

Write a cursor only after the data it describes is saved (or in the same ``store.session()``
transaction via :meth:`Cursors.set_in`).
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .schema import Cursor, utcnow
from .sql import SessionFactory, upsert

__all__ = ["Cursors"]


class Cursors:
    def __init__(self, session: SessionFactory) -> None:
        self._session = session

    def get(self, connection_id: int, name: str, default: str | None = None) -> str | None:
        with self._session() as s:
            row = s.get(Cursor, (connection_id, name))
            return default if row is None or row.value is None else row.value

    def set(self, connection_id: int, name: str, value: str | None) -> None:
        with self._session() as s:
            self.set_in(s, connection_id, name, value)

    @staticmethod
    def set_in(session: Session, connection_id: int, name: str, value: str | None) -> None:
        """Set a cursor inside an open transaction (commit it with the data it describes)."""
        upsert(
            session,
            Cursor,
            {"connection_id": connection_id, "name": name, "value": value, "updated_at": utcnow()},
            keys=("connection_id", "name"),
        )

    def all(self, connection_id: int) -> dict[str, str | None]:
        with self._session() as s:
            rows = s.scalars(
                select(Cursor).where(Cursor.connection_id == connection_id).order_by(Cursor.name)
            )
            return {r.name: r.value for r in rows}

    def delete(self, connection_id: int, name: str) -> bool:
        """Forget a cursor (the next sweep starts from its initial value)."""
        with self._session() as s:
            res = s.execute(delete(Cursor).where(Cursor.connection_id == connection_id, Cursor.name == name))
            return bool(res.rowcount)
