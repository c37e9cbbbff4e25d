"""`shopbridge run` end to end: the shop's web hook reaches the engine and the order lands in Visma."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from shopbridge.engine.embedded import run_embedded
from shopbridge.store import TransferState

from e2e import Env, env_fixture

pytestmark = pytest.mark.asyncio(loop_scope="session")


env = env_fixture("engine")


async def test_hook_hint_transfers_the_order_and_health_and_metrics_answer(env: Env) -> None:
    stop = asyncio.Event()
    ports: list[int] = []
    ops_ports: list[int] = []
    task = asyncio.create_task(
        run_embedded(
            env.store,
            port=0,
            interval_s=3600,
            stop=stop,
            on_ready=ports.append,
            on_ops_ready=ops_ports.append,
            local_hooks=True,
            starweb_rate_limit=20000,
        )
    )
    try:
        wanted = {"order-created", "order-status-changed"}
        for _ in range(400):  # hooks are registered one by one: wait for all of them, not the first
            hooks = (await env.shop("GET", "web-hooks"))["data"] if ports else []
            if {h["event"] for h in hooks} >= wanted:
                break
            await asyncio.sleep(0.05)
        hooks = (await env.shop("GET", "web-hooks"))["data"]
        assert {h["event"] for h in hooks} >= wanted
        assert all("/hooks/starweb/" in h["url"] for h in hooks)
        await asyncio.sleep(1.0)  # let the start-up sweep finish; only the hook can bring the next order
        skus = (await env.visma_get("articles", **{"$filter": "IsActive eq true"}))["Data"]
        sku = next(a["Number"] for a in skus if a["Number"].startswith("SW-"))
        order = await env.new_order([{"sku": sku, "quantity": 1, "unitPrice": 250, "vatRate": 25}])
        for _ in range(300):
            t = env.transfer(order["orderId"])
            if t is not None and t.state == TransferState.TRANSFERRED:
                break
            await asyncio.sleep(0.05)
        assert t is not None and t.state == TransferState.TRANSFERRED, t and t.last_error
        assert len(await env.documents_for(order["orderId"])) == 1
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}") as web:
            assert (await web.get("/healthz")).status_code == 404  # not on the public port
            assert (await web.get("/metrics")).status_code == 404
            bad = await web.post(f"/hooks/starweb/{env.store.connections.find(env.name).id}/wrong", json={})
            assert bad.status_code == 404
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ops_ports[0]}") as ops:
            health = await ops.get("/healthz")
            assert health.status_code == 200 and health.json()["ok"] is True
            metrics = (await ops.get("/metrics")).text
        for gauge in (
            f'shopbridge_orders_waiting{{connection="{env.name}"}}',
            f'shopbridge_orders_needs_review{{connection="{env.name}"}}',
            f'shopbridge_orders_in_doubt{{connection="{env.name}"}}',
            f'shopbridge_quota_used_orders{{connection="{env.name}"}}',
            f'shopbridge_seconds_since_last_successful_sweep{{connection="{env.name}"}}',
            'shopbridge_api_errors_total{system="starweb"}',
            "shopbridge_api_rate_limited_total",
            "shopbridge_api_retries_total",
        ):
            assert gauge in metrics, gauge
        # restarting registers nothing twice
        assert len((await env.shop("GET", "web-hooks"))["data"]) == len(hooks)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_run_finishes_a_consent_on_its_callback_and_ignores_stray_requests(env: Env) -> None:
    from shopbridge.onboarding import VISMA_CONSENT, consent_in_sandbox, start_consent, wait_for_consent
    from shopbridge.sandbox.common import defaults as d
    from shopbridge.sync.context import VISMA_TOKENS

    conn = env.store.connections.find(env.name)
    before = env.store.secrets.get(conn.id, VISMA_TOKENS)
    stop = asyncio.Event()
    ports: list[int] = []
    task = asyncio.create_task(
        run_embedded(env.store, port=0, ops_port=None, interval_s=3600, stop=stop, on_ready=ports.append)
    )
    try:
        for _ in range(200):
            if ports:
                break
            await asyncio.sleep(0.05)
        callback = f"http://127.0.0.1:{ports[0]}/oauth/visma/callback"
        url = start_consent(
            env.store,
            env.name,
            client_id=d.VISMA_CLIENT_ID,
            client_secret=d.VISMA_CLIENT_SECRET,
            redirect_uri=callback,
        )
        async with httpx.AsyncClient() as web:
            assert (await web.get(f"http://127.0.0.1:{ports[0]}/favicon.ico")).status_code == 404
            assert (await web.get(callback)).status_code == 400  # neither code nor error: not the answer
            forged = await web.get(callback, params={"code": "x", "state": "forged"})
            assert forged.status_code == 400 and "state" in forged.text
        assert env.store.secrets.get(conn.id, VISMA_CONSENT) is not None  # still waiting for the real one
        assert env.store.secrets.get(conn.id, VISMA_TOKENS) == before
        await consent_in_sandbox(url)  # the person approves; Visma redirects to run's callback
        await wait_for_consent(env.store, env.name, timeout=10, poll_s=0.05)
        after = env.store.secrets.get(conn.id, VISMA_TOKENS)
        assert after != before and after["access_token"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
