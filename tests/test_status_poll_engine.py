"""Status polls end to end: the engine reads Visma's changes between its full sweeps (`sync/status_poll.py`).

The engine's full sweep comes once an hour here, so a status that reaches the shop came with a
status poll, not with the fixed interval."""

from __future__ import annotations

import asyncio

import pytest

from shopbridge.engine.embedded import run_embedded
from status_env import ship, status_env_fixture, status_log, transferred

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
