"""Portal sign-in state: sessions, one-time links (invitations, password resets), failed sign-ins.

Only hashes of the random tokens are stored (SHA-256): the database alone never lets anyone sign in
or use a link. A session is created at every sign-in (never reused: no session fixation) and all of
a user's sessions end when the password changes. Failed sign-ins are kept per key
(``account:<email>``, ``address:<ip>``) for the throttle and forgotten after a success.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, delete, func, select, update
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base, utcnow
from .sql import SessionFactory

__all__ = ["AuthToken", "SigninFailure", "WebSession", "WebSessions", "token_hash"]


def token_hash(token: str) -> str:
    """The stored form of a session or link token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class WebSession(Base):
    """A signed-in browser (``verified`` False: password given, TOTP code still due)."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # token_hash(cookie token)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    verified: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AuthToken(Base):
    """A one-time link: ``invite`` (join a tenant with a role) or ``reset`` (choose a new password)."""

    __tablename__ = "auth_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # token_hash(link token)
    kind: Mapped[str] = mapped_column(String(16))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class SigninFailure(Base):
    """One failed sign-in, under each key it counts against."""

    __tablename__ = "signin_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(300), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class WebSessions:
    """Sessions, links and the sign-in throttle's memory (one short transaction per call)."""

    def __init__(self, session: SessionFactory) -> None:
        self._session = session

    # -- sessions -----------------------------------------------------------------------------
    def create(self, user_id: int, *, ttl: timedelta, verified: bool = True) -> str:
        """A new session for the user; returns the token for the cookie (only its hash is kept)."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self._session() as s:
            s.add(
                WebSession(
                    id=token_hash(token),
                    user_id=user_id,
                    verified=verified,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + ttl,
                    data={},
                )
            )
        return token

    def get(self, token: str) -> WebSession | None:
        """The live session of a cookie token (None when unknown or expired)."""
        with self._session() as s:
            row = s.get(WebSession, token_hash(token))
            if row is None or row.expires_at <= utcnow():
                return None
            return row

    def touch(self, session_id: str, *, ttl: timedelta) -> None:
        """Sliding expiry: the session lives `ttl` past its last use."""
        now = utcnow()
        with self._session() as s:
            s.execute(
                update(WebSession)
                .where(WebSession.id == session_id)
                .values(last_seen_at=now, expires_at=now + ttl)
            )

    def set_data(self, session_id: str, **values: Any) -> dict[str, Any]:
        """Merge `values` into the session's data (a value None removes the key)."""
        with self._session() as s:
            row = s.get(WebSession, session_id, with_for_update=True)
            if row is None:
                return {}
            data = dict(row.data or {})
            for key, value in values.items():
                if value is None:
                    data.pop(key, None)
                else:
                    data[key] = value
            row.data = data
            return data

    def push(self, session_id: str, key: str, item: Any) -> None:
        """Append `item` to the list under `key` in the session's data (e.g. a flash message)."""
        with self._session() as s:
            row = s.get(WebSession, session_id, with_for_update=True)
            if row is not None:
                data = dict(row.data or {})
                data[key] = [*data.get(key, []), item]
                row.data = data

    def verify(self, session_id: str) -> None:
        with self._session() as s:
            s.execute(update(WebSession).where(WebSession.id == session_id).values(verified=True))

    def delete(self, session_id: str) -> None:
        with self._session() as s:
            s.execute(delete(WebSession).where(WebSession.id == session_id))

    def delete_for_user(self, user_id: int, *, keep: str | None = None) -> int:
        """End every session of a user (but `keep`); returns how many."""
        with self._session() as s:
            q = delete(WebSession).where(WebSession.user_id == user_id)
            if keep:
                q = q.where(WebSession.id != keep)
            return int(s.execute(q).rowcount or 0)

    def purge(self, *, now: datetime | None = None) -> int:
        """Forget expired sessions, used or expired links and failures older than a day."""
        now = now or utcnow()
        with self._session() as s:
            n = s.execute(delete(WebSession).where(WebSession.expires_at <= now)).rowcount or 0
            n += s.execute(delete(AuthToken).where(AuthToken.expires_at <= now)).rowcount or 0
            n += (
                s.execute(delete(SigninFailure).where(SigninFailure.at < now - timedelta(days=1))).rowcount
                or 0
            )
            return int(n)

    # -- one-time links -------------------------------------------------------------------------
    def new_link(
        self,
        kind: str,
        *,
        tenant_id: int,
        email: str,
        ttl: timedelta,
        user_id: int | None = None,
        role: str = "viewer",
    ) -> str:
        """A one-time link token of `kind` (invite or reset); only its hash is kept."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self._session() as s:
            s.add(
                AuthToken(
                    id=token_hash(token),
                    kind=kind,
                    tenant_id=tenant_id,
                    user_id=user_id,
                    email=email,
                    role=role,
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
        return token

    def link(self, kind: str, token: str) -> AuthToken | None:
        """The unused, unexpired link of `kind` for `token`, or None."""
        with self._session() as s:
            row = s.get(AuthToken, token_hash(token))
        if row is None or row.kind != kind or row.used_at is not None or row.expires_at <= utcnow():
            return None
        return row

    def use_link(self, link_id: str) -> bool:
        """Spend a link (True the one time it works: two tabs cannot both use it)."""
        with self._session() as s:
            res = s.execute(
                update(AuthToken)
                .where(AuthToken.id == link_id, AuthToken.used_at.is_(None), AuthToken.expires_at > utcnow())
                .values(used_at=utcnow())
            )
            return bool(res.rowcount)

    def pending_invites(self, tenant_ids: list[int]) -> list[AuthToken]:
        with self._session() as s:
            q = select(AuthToken).where(
                AuthToken.kind == "invite",
                AuthToken.tenant_id.in_(tenant_ids),
                AuthToken.used_at.is_(None),
                AuthToken.expires_at > utcnow(),
            )
            return list(s.scalars(q.order_by(AuthToken.created_at)))

    def revoke_link(self, link_id: str) -> None:
        with self._session() as s:
            s.execute(delete(AuthToken).where(AuthToken.id == link_id))

    # -- sign-in throttle -----------------------------------------------------------------------
    def record_failure(self, keys: list[str]) -> None:
        now = utcnow()
        with self._session() as s:
            for key in keys:
                s.add(SigninFailure(key=key, at=now))

    def failures(self, key: str, since: datetime) -> tuple[int, datetime | None]:
        """How many failures `key` has since `since`, and the oldest of them."""
        with self._session() as s:
            n, oldest = s.execute(
                select(func.count(), func.min(SigninFailure.at)).where(
                    SigninFailure.key == key, SigninFailure.at >= since
                )
            ).one()
        return int(n or 0), oldest

    def clear_failures(self, key: str) -> None:
        with self._session() as s:
            s.execute(delete(SigninFailure).where(SigninFailure.key == key))
