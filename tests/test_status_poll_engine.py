"""Status polls end to end: the engine reads Visma's changes between its full sweeps (`sync/status_poll.py`).

The engine's full sweep comes once an hour here, so a status that reaches the shop came with a
status poll, not with the fixed interval."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from shopbridge.engine.embedded import run_embedded
from shopbridge.store.events import StatusEvent
from shopbridge.sync.flows import sweep_connection
from shopbridge.sync.status_poll import HOT_WINDOW, STATUS_POLL
from status_env import ship, status_env_fixture, status_log, transferred, visma

from e2e import Env

pytestmark = pytest.mark.asyncio(loop_scope="session")

env = status_env_fixture("status-poll")


async def test_a_shipped_order_reaches_the_shop_before_the_next_full_sweep(env: Env) -> None:
    order = await transferred(env, kind="order")
    stop, ready = asyncio.Event(), asyncio.Event()
    engine = asyncio.create_task(
        run_embedded(
            env.store, port=0, ops_port=None, interval_s=3600, stop=stop, on_ready=lambda _p: ready.set()
        )
    )
    try:
        await ready.wait()
        await ship(env, order["visma_id"])
        for _ in range(1200):  # a poll comes within seconds (ACTIVE_S: the order was just transferred)
            if status_log(env, order["orderId"])["statusLog"]:
                break
            await asyncio.sleep(0.05)
        assert status_log(env, order["orderId"])["statusLog"], "the shipped order never reached the shop"
    finally:
        stop.set()
        await engine


async def test_a_quiet_poll_reads_one_list_at_a_time_a_hot_one_both(env: Env) -> None:
    # the invoice stays unpaid: both lists can tell something; no deletion check (it lists orders too)
    env.configure(paid_payment_methods=[], deletion_check_interval_s=3600)
    await transferred(env, kind="order")
    invoiced = await transferred(env, kind="order")
    await visma(env, "POST", f"orders/{invoiced['visma_id']}/convert")
    async with env.context() as ctx:
        ctx.status_polls = True
        await sweep_connection(ctx, [STATUS_POLL])  # sees the conversion: a change just now, hot
        assert await lists_read(ctx) == {"orders", "customerinvoices"}
        with env.store.engine.begin() as db:  # as if nothing had changed for longer than the hot window
            for row in db.execute(sa.select(StatusEvent.id, StatusEvent.created_at)).all():
                older = row.created_at - HOT_WINDOW * 2
                db.execute(sa.update(StatusEvent).where(StatusEvent.id == row.id).values(created_at=older))
        first, second = await lists_read(ctx), await lists_read(ctx)
        assert len(first) == len(second) == 1 and first != second  # one list a poll, taking turns


async def lists_read(ctx: Any) -> set[str]:
    """The Visma lists one status poll read."""
    before = Counter(ctx.visma.calls)
    await sweep_connection(ctx, [STATUS_POLL])
    read = Counter(ctx.visma.calls) - before
    return {key.split(" ", 1)[1] for key in read if key in ("GET orders", "GET customerinvoices")}
