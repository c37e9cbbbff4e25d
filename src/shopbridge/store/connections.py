"""Connections: one Starweb shop and one Visma company, with their settings.

``settings`` is a free JSON dict owned by the sync layer (preset, ``document_type``
``invoice_draft``/``order``, ``trigger_status_ids``, ``start_date``, article and coding mappings,
customer defaults, reference field, ...). Credentials never go in it: use ``store.secrets``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from .schema import Connection, utcnow
from .sql import SessionFactory

__all__ = ["ConnectionExists", "Connections", "UnknownConnection"]

_FIELDS = ("name", "starweb_base_url", "visma_api_base", "visma_identity_url", "paused")


class UnknownConnection(LookupError):
    """No connection with that id or name."""


class ConnectionExists(ValueError):
    """A connection with that name exists already."""


class Connections:
    def __init__(self, session: SessionFactory) -> None:
        self._session = session

    def create(
        self,
        name: str,
        *,
        starweb_base_url: str | None = None,
        visma_api_base: str | None = None,
        visma_identity_url: str | None = None,
        settings: dict[str, Any] | None = None,
        paused: bool = False,
        parent_id: int | None = None,
    ) -> Connection:
        """Add a connection (a further shop of `parent_id`'s Visma company when given);
        ``ConnectionExists`` if the name is taken."""
        row = Connection(
            name=name,
            parent_id=parent_id,
            starweb_base_url=starweb_base_url,
            visma_api_base=visma_api_base,
            visma_identity_url=visma_identity_url,
            settings=dict(settings or {}),
            paused=paused,
        )
        try:
            with self._session() as s:
                s.add(row)
        except IntegrityError:
            raise ConnectionExists(f"a connection named {name!r} exists already") from None
        return row

    def get(self, connection_id: int) -> Connection:
        """The connection, or ``UnknownConnection``."""
        with self._session() as s:
            row = s.get(Connection, connection_id)
        if row is None:
            raise UnknownConnection(f"no connection with id {connection_id}")
        return row

    def find(self, name_or_id: str | int) -> Connection:
        """By id (int or digits) or by name; ``UnknownConnection`` if neither matches."""
        with self._session() as s:
            row = s.scalar(select(Connection).where(Connection.name == str(name_or_id)))
            if row is None and str(name_or_id).isdigit():
                row = s.get(Connection, int(name_or_id))
        if row is None:
            raise UnknownConnection(f"no connection named {name_or_id!r}")
        return row

    def all(self, *, include_paused: bool = True) -> list[Connection]:
        with self._session() as s:
            q = select(Connection).order_by(Connection.id)
            if not include_paused:
                q = q.where(Connection.paused.is_(False))
            return list(s.scalars(q))

    def update(self, connection_id: int, **fields: Any) -> Connection:
        """Change ``name``, URLs or ``paused``; returns the updated row."""
        bad = set(fields) - set(_FIELDS)
        if bad:
            raise TypeError(f"cannot update {sorted(bad)} (settings: use update_settings)")
        try:
            with self._session() as s:
                res = s.execute(
                    update(Connection)
                    .where(Connection.id == connection_id)
                    .values(**fields, updated_at=utcnow())
                )
                if not res.rowcount:
                    raise UnknownConnection(f"no connection with id {connection_id}")
        except IntegrityError:
            raise ConnectionExists(f"a connection named {fields.get('name')!r} exists already") from None
        return self.get(connection_id)

    def update_settings(
        self, connection_id: int, changes: dict[str, Any], *, replace: bool = False
    ) -> dict[str, Any]:
        """Merge ``changes`` into the settings (a key set to None is removed), or replace them all.

        Read-modify-write in one transaction; returns the new settings.
        """
        with self._session() as s:
            row = s.get(Connection, connection_id, with_for_update=True)
            if row is None:
                raise UnknownConnection(f"no connection with id {connection_id}")
            new = {} if replace else dict(row.settings or {})
            for key, value in changes.items():
                if value is None:
                    new.pop(key, None)
                else:
                    new[key] = value
            row.settings = new
            row.updated_at = utcnow()
            return dict(new)

    def shops(self, connection_id: int) -> list[Connection]:
        """Every shop on the Visma company of `connection_id`: the root connection first, then its
        further shops (multishop), by id."""
        root = self.root(connection_id)
        with self._session() as s:
            children = list(
                s.scalars(select(Connection).where(Connection.parent_id == root.id).order_by(Connection.id))
            )
        return [root, *children]

    def root(self, connection_id: int) -> Connection:
        """The connection holding the Visma consent (itself unless it is a further shop)."""
        row = self.get(connection_id)
        return self.get(row.parent_id) if row.parent_id is not None else row

    def set_paused(self, connection_id: int, paused: bool) -> None:
        self.update(connection_id, paused=paused)

    def delete(self, connection_id: int) -> bool:
        """Remove a connection and everything of it (secrets, bindings, transfers, ...)."""
        with self._session() as s:
            return bool(s.execute(delete(Connection).where(Connection.id == connection_id)).rowcount)
