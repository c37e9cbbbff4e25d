"""Exactly once across a killed worker: the worker process dies at each crash point and is restarted.

The worker is a real `shopbridge sync --once` process on the same SQLite file; it is killed hard
(`os._exit`) before the create call, after Visma created the document but before its answer is read,
and after the answer but before it is recorded. A restarted worker must end with exactly one
document for the order, the transfer recorded and the Visma id written back to the shop.
"""

from __future__ import annotations

import pytest

from shopbridge.store import TransferState

from e2e import Env, env_fixture, worker

pytestmark = pytest.mark.asyncio(loop_scope="session")


env = env_fixture("crash")


@pytest.mark.parametrize("crash_at", ["before_create", "in_create", "after_create"])
async def test_killed_worker_never_doubles_and_never_loses(env: Env, crash_at: str) -> None:
    skus = [a["Number"] for a in (await env.visma_get("articles", **{"$filter": "IsActive eq true"}))["Data"]]
    sku = next(s for s in skus if s.startswith("SW-"))
    order = await env.new_order([{"sku": sku, "quantity": 2, "unitPrice": 123.45, "vatRate": 25}])
    oid = order["orderId"]

    crashed = worker(env, crash_at)
    assert crashed.returncode == 137, crashed.stdout + crashed.stderr
    t = env.transfer(oid)
    assert t.state == TransferState.IN_PROGRESS and t.intent_key  # the intent was recorded first
    created_before_restart = len(await env.documents_for(oid))
    assert created_before_restart == (0 if crash_at == "before_create" else 1)

    restarted = worker(env, None)
    assert restarted.returncode in (0, 1), restarted.stdout + restarted.stderr
    t = env.transfer(oid)
    assert t.state == TransferState.TRANSFERRED, t.last_error
    docs = await env.documents_for(oid)
    assert len(docs) == 1
    assert t.visma_document_id == docs[0]["Id"]
    written = await env.shop("GET", f"orders/{oid}/external-services/visma")
    assert written["data"]["externalIdValue"] == f"D:{docs[0]['Id']}"
    # and a third run changes nothing
    worker(env, None)
    assert len(await env.documents_for(oid)) == 1


async def test_a_kill_costs_an_attempt_only_on_the_order_being_worked_on(env: Env) -> None:
    """Claim only what is worked on: with one order at a time, a worker killed at its first create
    has counted an attempt on that order alone, not on the whole backlog."""
    skus = [a["Number"] for a in (await env.visma_get("articles", **{"$filter": "IsActive eq true"}))["Data"]]
    sku = next(s for s in skus if s.startswith("SW-"))
    orders = [
        await env.new_order([{"sku": sku, "quantity": 1, "unitPrice": 10 + i, "vatRate": 25}])
        for i in range(4)
    ]
    env.configure(order_concurrency=1)
    try:
        crashed = worker(env, "before_create")
        assert crashed.returncode == 137, crashed.stdout + crashed.stderr
        attempts = sorted(env.transfer(o["orderId"]).attempts for o in orders)
        assert attempts == [0, 0, 0, 1], attempts
        restarted = worker(env, None)
        assert restarted.returncode in (0, 1), restarted.stdout + restarted.stderr
        for o in orders:
            t = env.transfer(o["orderId"])
            assert t.state == TransferState.TRANSFERRED and t.attempts <= 2, (t.state, t.attempts)
            assert len(await env.documents_for(o["orderId"])) == 1
    finally:
        env.configure(order_concurrency=8)
