"""Tenant isolation in one place: every object a page touches is fetched through these accessors.

A :class:`Viewer` is the signed-in user with what they may see: their tenant, and for a partner the
merchants it runs; the connections of those. Each ``*_for`` accessor returns the object only when
it is within that reach, else raises :class:`NotFound` (a 404, the same answer as for an id that
does not exist, so ids of others cannot even be probed). ``write=True`` also needs the ``owner``
role (else :class:`Forbidden`). No route reads a table by id except through here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shopbridge.store import Store, Transfer
from shopbridge.store.notifications import NotificationChannel
from shopbridge.store.schema import Connection
from shopbridge.store.tenants import Tenant, User
from shopbridge.store.web_sessions import AuthToken

__all__ = ["Forbidden", "NotFound", "Viewer"]


class NotFound(LookupError):
    """Not there, or not yours: answered 404."""


class Forbidden(PermissionError):
    """Yours to see, not to change (the viewer role): answered 403."""


@dataclass
class Viewer:
    """The signed-in user and their reach (computed once per request)."""

    store: Store
    user: User
    tenant: Tenant
    session_id: str
    merchants: list[Tenant] = field(default_factory=list)  # a partner's merchants
    connection_ids: set[int] = field(default_factory=set)

    @classmethod
    def load(cls, store: Store, user: User, session_id: str) -> Viewer:
        tenant = store.tenants.get(user.tenant_id)
        if tenant is None:
            raise NotFound("tenant")
        merchants = store.tenants.merchants(tenant.id) if tenant.kind == "partner" else []
        ids = [tenant.id] + [m.id for m in merchants]
        return cls(store, user, tenant, session_id, merchants, set(store.tenants.connection_ids(ids)))

    @property
    def is_partner(self) -> bool:
        return self.tenant.kind == "partner"

    @property
    def can_write(self) -> bool:
        return self.user.role == "owner"

    @property
    def tenant_ids(self) -> list[int]:
        """The tenants in reach: the user's own, and a partner's merchants."""
        return [self.tenant.id] + [m.id for m in self.merchants]

    def _check(self, write: bool) -> None:
        if write and not self.can_write:
            raise Forbidden("role")

    # -- accessors --------------------------------------------------------------------------------
    def connection_for(self, connection_id: int | str, *, write: bool = False) -> Connection:
        cid = _int(connection_id)
        if cid is None or cid not in self.connection_ids:
            raise NotFound("connection")
        self._check(write)
        return self.store.connections.get(cid)

    def transfer_for(self, transfer_id: int | str, *, write: bool = False) -> Transfer:
        tid = _int(transfer_id)
        row = self.store.transfers.get(tid) if tid is not None else None
        if row is None or row.connection_id not in self.connection_ids:
            raise NotFound("order")
        self._check(write)
        return row

    def merchant_for(self, tenant_id: int | str, *, write: bool = False) -> Tenant:
        """One of a partner's merchants (a merchant may name itself)."""
        tid = _int(tenant_id)
        if tid is not None and tid == self.tenant.id and self.tenant.kind == "merchant":
            self._check(write)
            return self.tenant
        found = next((m for m in self.merchants if m.id == tid), None)
        if found is None:
            raise NotFound("merchant")
        self._check(write)
        return found

    def user_for(self, user_id: int | str, *, write: bool = False) -> User:
        """A user of the viewer's own tenant or (partner) of one of its merchants."""
        uid = _int(user_id)
        row = self.store.users.get(uid) if uid is not None else None
        if row is None or row.tenant_id not in self.tenant_ids:
            raise NotFound("user")
        self._check(write)
        return row

    def channel_for(self, channel_id: int | str, *, write: bool = False) -> NotificationChannel:
        cid = _int(channel_id)
        row = self.store.notifications.channel(cid) if cid is not None else None
        if row is None or row.tenant_id != self.tenant.id:
            raise NotFound("channel")
        self._check(write)
        return row

    def invite_for(self, invite_id: str, *, write: bool = False) -> AuthToken:
        found = next(
            (i for i in self.store.web_sessions.pending_invites(self.tenant_ids) if i.id == invite_id), None
        )
        if found is None:
            raise NotFound("invitation")
        self._check(write)
        return found

    # -- lists ------------------------------------------------------------------------------------
    def connections(self) -> list[Connection]:
        """Every connection in reach, Visma companies first then their further shops, by id."""
        rows = [c for c in self.store.connections.all() if c.id in self.connection_ids]
        return sorted(rows, key=lambda c: (c.parent_id or c.id, c.parent_id is not None, c.id))

    def owner_tenant(self, connection_id: int) -> Tenant | None:
        """The merchant that owns a connection in reach."""
        owner = self.store.tenants.owner_of(connection_id)
        if owner == self.tenant.id:
            return self.tenant
        return next((m for m in self.merchants if m.id == owner), None)


def _int(value: int | str | None) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 12:
        return int(value)
    return None
