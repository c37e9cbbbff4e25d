"""One sweep of a connection at a time, across every process and machine: the connection's lease.

`sweep_lease(ctx)` takes the lease `sweep:<connection id>` in the store (see `store/leases.py`) or
raises `SweepBusy` when another live process holds it. While the sweep runs, a heartbeat renews the
lease and the claims made under it (`claimed_at`), so a slow but living sweep keeps its orders; a
sweep that lost its lease (it stalled past the expiry) can no longer claim anything. The holder name
(`host:pid:nonce`) goes on every claim, so a sweep that died on this machine is known dead at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import structlog

from shopbridge.store.leases import Lease, LeaseLost, holder_name
from shopbridge.sync.context import ConnectionContext

log = structlog.get_logger("shopbridge.sweep")

LEASE_TTL = timedelta(seconds=30)
RENEW_EVERY_S = LEASE_TTL.total_seconds() / 3


class SweepBusy(RuntimeError):
    """Another process sweeps this connection right now."""


def lease_name(connection_id: int) -> str:
    return f"sweep:{connection_id}"


@contextlib.asynccontextmanager
async def sweep_lease(ctx: ConnectionContext, ttl: timedelta = LEASE_TTL) -> AsyncIterator[Lease]:
    """Hold the connection's sweep lease for the block (sets `ctx.lease`); `SweepBusy` when taken."""
    store = ctx.store
    holder = holder_name(ctx.worker)
    lease = await asyncio.to_thread(store.leases.acquire, lease_name(ctx.id), holder, ttl)
    if lease is None:
        raise SweepBusy(f"connection {ctx.name!r} is being swept by another process")
    ctx.lease = lease

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(min(RENEW_EVERY_S, ttl.total_seconds() / 3))
            try:
                await asyncio.to_thread(store.leases.renew, lease, ttl)
                await asyncio.to_thread(store.transfers.touch_claims, holder)
            except LeaseLost:
                log.warning("sweep.lease_lost", connection=ctx.name)
                return
            except Exception as exc:  # the database blinked: try again next beat; expiry is the limit
                log.warning("sweep.lease_renew_failed", connection=ctx.name, error=type(exc).__name__)

    beat = asyncio.create_task(heartbeat())
    try:
        yield lease
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        ctx.lease = None
        with contextlib.suppress(Exception):
            await asyncio.to_thread(store.leases.release, lease)
