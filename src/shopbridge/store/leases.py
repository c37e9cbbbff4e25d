"""Leases: one holder of a name at a time, across processes and machines, through the database.

A lease row (``leases``) names its holder and an expiry; the holder renews it while it works. A new
holder gets a higher ``token`` (the fencing token): calls that must only run under the lease check
the token inside their own transaction (:meth:`Leases.check_in`), so a holder that stalled past its
expiry (a long GC pause, a frozen VM) cannot act on a lease someone else took meanwhile.

A lease is taken over when it expired, when it was released, or (``steal_from_dead``) when its
holder is provably dead: a process of this machine whose pid no longer runs. Holder names are
``host:pid:nonce`` (:func:`holder_name`), unique per acquisition, so two tasks of one process never
share a lease.

Used for: one sweep of a connection at a time (``sweep:<connection id>``), customer creation per
Visma company and e-mail/org number (``customer:...``), OAuth refreshes of rotating tokens
(``oauth:<connection id>``), the scheduler's leader (``scheduler``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from .schema import Lease as LeaseRow
from .schema import utcnow
from .sql import SessionFactory, insert_ignore

__all__ = ["Lease", "LeaseBusy", "LeaseLost", "Leases", "holder_dead", "holder_name"]


class LeaseLost(RuntimeError):
    """This holder no longer holds the lease (it expired and another holder took it). Stop."""


class LeaseBusy(RuntimeError):
    """Another live holder has the lease (the message says which name)."""


KEPT = "+kept"  # a holder name with this suffix: the lease is kept until it runs out (`extend_to`)


@dataclass(frozen=True)
class Lease:
    """A lease held: its name, this holder, the fencing token and when it runs out unless renewed."""

    name: str
    holder: str
    token: int
    expires_at: datetime


def holder_name(role: str = "") -> str:
    """A unique holder name for this process: ``host:pid:nonce`` (``role`` goes in front when given)."""
    base = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return f"{role}@{base}" if role else base


def holder_dead(holder: str | None) -> bool:
    """True only when `holder` is a process of this machine that no longer runs (never a guess).

    A holder on another machine, an unreadable name, Windows (no safe liveness probe) or a lease kept
    on purpose (`Leases.extend_to`) are never called dead: their leases run until they expire.
    """
    if not holder or sys.platform == "win32" or holder.endswith(KEPT):
        return False
    parts = holder.rsplit("@", 1)[-1].split(":")
    if len(parts) < 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a killed child not yet reaped is a zombie: dead for our purpose
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return False


class Leases:
    """Named leases in the store (``store.leases``). Every call is one short transaction."""

    def __init__(self, session: SessionFactory) -> None:
        self._session = session

    def acquire(
        self,
        name: str,
        holder: str,
        ttl: timedelta,
        *,
        steal_from_dead: bool = True,
        now: datetime | None = None,
    ) -> Lease | None:
        """Take `name` for `ttl` when it is free; None when another live holder has it."""
        now = now or utcnow()
        with self._session() as s:
            row = self._row(s, name)
            free = (
                row.holder is None
                or row.expires_at is None
                or row.expires_at <= now
                or (steal_from_dead and holder_dead(row.holder))
            )
            if not free and row.holder != holder:
                return None
            row.holder = holder
            row.token = (row.token or 0) + 1
            row.acquired_at = now
            row.expires_at = now + ttl
            return Lease(name, holder, row.token, row.expires_at)

    def renew(self, lease: Lease, ttl: timedelta, *, now: datetime | None = None) -> Lease:
        """Push the expiry to now + `ttl`; raises `LeaseLost` when the lease is no longer ours."""
        now = now or utcnow()
        with self._session() as s:
            row = self.check_in(s, lease)
            row.expires_at = now + ttl
            return Lease(lease.name, lease.holder, lease.token, row.expires_at)

    def extend_to(self, lease: Lease, until: datetime) -> Lease:
        """Keep the lease until `until`, and only until then, whatever this holder does next (e.g. a
        create in doubt: a late answer may still land). The lease is handed to the clock: this holder
        can no longer release or renew it (`held` leaving its block does not free it), nobody can take
        it before then."""
        with self._session() as s:
            row = self.check_in(s, lease)
            row.expires_at = until  # not a moment longer: the holder is done with it
            row.holder = f"{lease.holder}{KEPT}"
            return Lease(lease.name, row.holder, lease.token, row.expires_at)

    def release(self, lease: Lease) -> None:
        """Give the lease up at once (a no-op when it is no longer ours)."""
        with self._session() as s:
            row = s.get(LeaseRow, lease.name, with_for_update=True, populate_existing=True)
            if row is not None and row.token == lease.token and row.holder == lease.holder:
                row.holder = None
                row.expires_at = None

    def holder(self, name: str, *, now: datetime | None = None) -> str | None:
        """Who holds `name` now (None: free or expired)."""
        now = now or utcnow()
        with self._session() as s:
            row = s.get(LeaseRow, name)
            if row is None or row.holder is None or row.expires_at is None or row.expires_at <= now:
                return None
            return row.holder

    @staticmethod
    def check_in(s: Session, lease: Lease) -> LeaseRow:
        """Inside a transaction: lock the lease row and raise `LeaseLost` unless `lease` still holds it."""
        row = s.get(LeaseRow, lease.name, with_for_update=True, populate_existing=True)
        if row is None or row.token != lease.token or row.holder != lease.holder:
            raise LeaseLost(f"the lease {lease.name!r} was taken over by another process")
        return row

    @contextlib.asynccontextmanager
    async def held(
        self,
        name: str,
        holder: str,
        ttl: timedelta,
        *,
        wait_s: float = 30.0,
        poll_s: float = 0.05,
        steal_from_dead: bool = True,
    ) -> AsyncIterator[Lease]:
        """Wait up to `wait_s` for `name` (raises `LeaseBusy`), hold it for the block, release it after."""
        deadline = time.monotonic() + wait_s
        while True:
            lease = self.acquire(name, holder, ttl, steal_from_dead=steal_from_dead)
            if lease is not None:
                break
            if time.monotonic() >= deadline:
                raise LeaseBusy(f"{name} is held by another process")
            await asyncio.sleep(poll_s)
        try:
            yield lease
        finally:
            self.release(lease)

    @staticmethod
    def _row(s: Session, name: str) -> LeaseRow:
        insert_ignore(s, LeaseRow, {"name": name, "token": 0}, keys=("name",))
        row = s.get(LeaseRow, name, with_for_update=True, populate_existing=True)
        assert row is not None
        return row
