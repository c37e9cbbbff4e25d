"""Portal accounts: tenants (a partner or a merchant), their users, and which connections they own.

A **partner** runs the service for many merchants and sees every merchant whose ``partner_id`` is its
own (and their connections). A **merchant** sees only the connections assigned to it. A user
belongs to one tenant with a role: ``owner`` (may change things) or ``viewer`` (reads only).
E-mail addresses are kept lower-case and are unique over all tenants. Passwords are stored only as
argon2 hashes (made in ``web/portal/auth.py``); a TOTP secret only encrypted with the store's key.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    delete,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base, Connection, utcnow
from .sql import SessionFactory

__all__ = [
    "KINDS",
    "ROLES",
    "EmailTaken",
    "Tenant",
    "TenantConnection",
    "TenantExists",
    "Tenants",
    "User",
    "Users",
    "normalise_email",
]

KINDS = ("partner", "merchant")
ROLES = ("owner", "viewer")


class TenantExists(ValueError):
    """A tenant with that name exists already."""


class EmailTaken(ValueError):
    """A user with that e-mail address exists already."""


def normalise_email(email: str) -> str:
    """How e-mail addresses are compared and stored: trimmed, lower-case."""
    return email.strip().lower()


class Tenant(Base):
    """A partner (runs the service for merchants) or a merchant (owns Visma companies and shops)."""

    __tablename__ = "tenants"
    __table_args__ = (CheckConstraint("kind IN ('partner', 'merchant')", name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), unique=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TenantConnection(Base):
    """A connection (Visma company or further shop) owned by a merchant tenant."""

    __tablename__ = "tenant_connections"

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)


class User(Base):
    """A person who signs in to the portal."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('owner', 'viewer')", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16), default="owner")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="sv", server_default="sv")
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)  # encrypted with the store's key
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_alerts: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    notify_digest: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    digest_sent_at: Mapped[datetime | None] = mapped_column()
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column()


class Tenants:
    """Tenants and the connections they own (one short transaction per call)."""

    def __init__(self, session: SessionFactory) -> None:
        self._session = session

    def create(self, kind: str, name: str, *, partner_id: int | None = None) -> Tenant:
        if kind not in KINDS:
            raise ValueError(f"tenant kind is partner or merchant, not {kind!r}")
        row = Tenant(kind=kind, name=name.strip(), partner_id=partner_id if kind == "merchant" else None)
        try:
            with self._session() as s:
                s.add(row)
        except IntegrityError:
            raise TenantExists(f"a tenant named {name!r} exists already") from None
        return row

    def get(self, tenant_id: int) -> Tenant | None:
        with self._session() as s:
            return s.get(Tenant, tenant_id)

    def find(self, name: str) -> Tenant | None:
        with self._session() as s:
            return s.scalar(select(Tenant).where(Tenant.name == name.strip()))

    def ensure(self, kind: str, name: str, *, partner_id: int | None = None) -> Tenant:
        """The tenant named `name`, created when missing."""
        found = self.find(name)
        if found is not None:
            if found.kind != kind:
                raise ValueError(f"{name!r} is a {found.kind}, not a {kind}")
            return found
        return self.create(kind, name, partner_id=partner_id)

    def all(self) -> list[Tenant]:
        with self._session() as s:
            return list(s.scalars(select(Tenant).order_by(Tenant.id)))

    def merchants(self, partner_id: int) -> list[Tenant]:
        """The merchants a partner runs, by name."""
        with self._session() as s:
            q = select(Tenant).where(Tenant.partner_id == partner_id, Tenant.kind == "merchant")
            return list(s.scalars(q.order_by(Tenant.name)))

    def assign(self, tenant_id: int, connection_id: int) -> None:
        """Make `connection_id` (and nothing else) belong to merchant `tenant_id`."""
        with self._session() as s:
            tenant = s.get(Tenant, tenant_id)
            if tenant is None or tenant.kind != "merchant":
                raise ValueError("connections belong to a merchant")
            row = s.get(TenantConnection, connection_id)
            if row is None:
                s.add(TenantConnection(connection_id=connection_id, tenant_id=tenant_id))
            else:
                row.tenant_id = tenant_id

    def owner_of(self, connection_id: int) -> int | None:
        """The merchant tenant owning a connection (a further shop: its Visma company's owner)."""
        with self._session() as s:
            conn = s.get(Connection, connection_id)
            if conn is None:
                return None
            root = conn.parent_id or conn.id
            for cid in (connection_id, root):
                row = s.get(TenantConnection, cid)
                if row is not None:
                    return row.tenant_id
            return None

    def connection_ids(self, tenant_ids: list[int]) -> list[int]:
        """Every connection owned by any of `tenant_ids`, further shops of owned companies included."""
        if not tenant_ids:
            return []
        with self._session() as s:
            owned = select(TenantConnection.connection_id).where(TenantConnection.tenant_id.in_(tenant_ids))
            q = select(Connection.id).where(Connection.id.in_(owned) | Connection.parent_id.in_(owned))
            return sorted(s.scalars(q))

    def tenants_of_connection(self, connection_id: int) -> list[int]:
        """The merchant owning a connection and that merchant's partner (who both see it)."""
        merchant = self.owner_of(connection_id)
        if merchant is None:
            return []
        tenant = self.get(merchant)
        return [merchant] + ([tenant.partner_id] if tenant and tenant.partner_id else [])

    def delete(self, tenant_id: int) -> None:
        with self._session() as s:
            s.execute(delete(Tenant).where(Tenant.id == tenant_id))


class Users:
    """Portal users (one short transaction per call)."""

    def __init__(self, session: SessionFactory) -> None:
        self._session = session

    def create(
        self,
        tenant_id: int,
        email: str,
        *,
        role: str = "owner",
        name: str = "",
        password_hash: str | None = None,
        language: str = "sv",
    ) -> User:
        if role not in ROLES:
            raise ValueError(f"role is owner or viewer, not {role!r}")
        row = User(
            tenant_id=tenant_id,
            email=normalise_email(email),
            name=name.strip(),
            role=role,
            password_hash=password_hash,
            language=language,
        )
        try:
            with self._session() as s:
                s.add(row)
        except IntegrityError:
            raise EmailTaken(f"a user with e-mail {email!r} exists already") from None
        return row

    def get(self, user_id: int) -> User | None:
        with self._session() as s:
            return s.get(User, user_id)

    def by_email(self, email: str) -> User | None:
        with self._session() as s:
            return s.scalar(select(User).where(User.email == normalise_email(email)))

    def of_tenants(self, tenant_ids: list[int]) -> list[User]:
        with self._session() as s:
            q = select(User).where(User.tenant_id.in_(tenant_ids)).order_by(User.tenant_id, User.email)
            return list(s.scalars(q))

    def all(self) -> list[User]:
        with self._session() as s:
            return list(s.scalars(select(User).order_by(User.tenant_id, User.email)))

    def update(self, user_id: int, **fields: object) -> User:
        allowed = {
            "name",
            "role",
            "password_hash",
            "language",
            "totp_secret",
            "totp_enabled",
            "notify_alerts",
            "notify_digest",
            "digest_sent_at",
            "is_active",
            "last_login_at",
        }
        bad = set(fields) - allowed
        if bad:
            raise TypeError(f"cannot update {sorted(bad)}")
        if "role" in fields and fields["role"] not in ROLES:
            raise ValueError(f"role is owner or viewer, not {fields['role']!r}")
        with self._session() as s:
            s.execute(update(User).where(User.id == user_id).values(**fields))
            row = s.get(User, user_id, populate_existing=True)
            if row is None:
                raise LookupError(f"no user with id {user_id}")
            return row

    def delete(self, user_id: int) -> bool:
        with self._session() as s:
            return bool(s.execute(delete(User).where(User.id == user_id)).rowcount)
