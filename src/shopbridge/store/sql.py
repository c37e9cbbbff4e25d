"""Small SQL helpers that work the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

__all__ = ["SessionFactory", "insert_ignore", "upsert"]

SessionFactory = Callable[[], AbstractContextManager[Session]]
"""``Store.session``: a callable giving a context manager that is one transaction."""


def _insert(session: Session, model: Any) -> Insert:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(model)
    if name == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"database {name!r} is not supported (use SQLite or PostgreSQL)")


def upsert(
    session: Session,
    model: Any,
    values: Mapping[str, Any],
    *,
    keys: Iterable[str],
    update: Mapping[str, Any] | None = None,
) -> None:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE``: atomic insert-or-replace.

    ``update`` defaults to every non-key value of ``values``; pass SQL expressions to compute from the
    existing row (e.g. ``{"n": Model.n + 1}``).
    """
    keys = tuple(keys)
    stmt = _insert(session, model).values(**values)
    set_ = dict(update) if update is not None else {k: v for k, v in values.items() if k not in keys}
    session.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=set_))


def insert_ignore(session: Session, model: Any, values: Mapping[str, Any], *, keys: Iterable[str]) -> bool:
    """``INSERT ... ON CONFLICT (keys) DO NOTHING``; True when a row was inserted.

    Uses ``RETURNING`` rather than ``rowcount``, which the psycopg dialect reports as -1 here.
    """
    keys = list(keys)
    stmt = (
        _insert(session, model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=keys)
        .returning(getattr(model, keys[0]))
    )
    return session.execute(stmt).first() is not None
