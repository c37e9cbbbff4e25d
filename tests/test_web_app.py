"""The web app of `shopbridge run` over real HTTP: hook receiver, health, metrics, OAuth callback.

The engine and uvicorn run in the test's event loop through `serve_engine`, as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import Request
from fastapi.responses import PlainTextResponse
from prometheus_client.parser import text_string_to_metric_families

from shopbridge.engine.runner import Backoff, Engine
from shopbridge.logs import configure_logging
from shopbridge.sync.base import Hint
from shopbridge.web.app import create_web_app, parse_hook_event, redact_path, secret_resolver, secrets_equal
from shopbridge.web.server import bind_socket, serve_engine
from test_engine_runner import FakeSweep, eventually

SECRETS = {"c1": "s3cr3t-one-Xq9pZ", "c2": "s3cr3t-two-Lm4wR"}


@dataclass
class Running:
    client: httpx.AsyncClient
    engine: Engine
    sweep: FakeSweep
    seen: dict[str, int]  # uuid -> how many times dedupe saw it


@contextlib.asynccontextmanager
async def running(
    sweep: FakeSweep | None = None,
    connections: tuple[str, ...] = ("c1", "c2"),
    *,
    debounce_s: float = 0.05,
    dedupe_with_connection: bool = False,
    **app_kw: Any,
) -> AsyncIterator[Running]:
    sweep = sweep or FakeSweep()
    engine = Engine(
        sweep,
        lambda: list(connections),
        interval_s=3600,
        initial_sweep=False,
        debounce_s=debounce_s,
        retry_backoff=Backoff(base_s=0.02, max_s=0.1, jitter=0),
    )
    seen: dict[str, int] = {}

    def dedupe(uuid: str, payload: dict[str, Any]) -> bool:
        seen[uuid] = seen.get(uuid, 0) + 1
        return seen[uuid] == 1

    def dedupe3(connection_id: str, uuid: str, payload: dict[str, Any]) -> bool:
        assert connection_id in SECRETS
        return dedupe(uuid, payload)

    app_kw.setdefault("ops_public", True)  # these tests read /metrics on the same port
    app = create_web_app(
        engine,
        resolve_hook=secret_resolver(SECRETS.get),
        dedupe=dedupe3 if dedupe_with_connection else dedupe,
        **app_kw,
    )
    stop = asyncio.Event()
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    ready = asyncio.Event()
    task = asyncio.create_task(
        serve_engine(engine, app, stop=stop, sock=sock, on_ready=lambda _p: ready.set())
    )
    try:
        await asyncio.wait_for(ready.wait(), 10)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield Running(client, engine, sweep, seen)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        sock.close()


def order_event(uuid: str, order_id: int, event: str = "order-created") -> dict[str, Any]:
    return {
        "uuid": uuid,
        "eventId": event,
        "shopIdCode": "demo",
        "eventTimestamp": "2026-01-05T10:00:00+01:00",
        "orderId": order_id,
        "orderStatusId": 1,
        "orderStatusIdCode": "created",
        "totalAmount": 1249.5,
        "currencyCode": "SEK",
    }


def hook(connection: str, secret: str | None = None) -> str:
    return f"/hooks/starweb/{connection}/{secret if secret is not None else SECRETS[connection]}"


def hints_total(engine: Engine) -> float:
    return sum(
        s.value
        for fam in text_string_to_metric_families(engine.metrics.render().decode())
        if fam.name == "shopbridge_hints"
        for s in fam.samples
        if s.name == "shopbridge_hints_total"
    )


async def test_wrong_secret_or_connection_is_404_and_gives_no_hint() -> None:
    async with running() as r:
        wrong = await r.client.post(hook("c1", "guess"), json=order_event("u-1", 1))
        other = await r.client.post(hook("c1", SECRETS["c2"]), json=order_event("u-2", 2))
        unknown = await r.client.post(hook("nope", "x"), json=order_event("u-3", 3))
        no_route = await r.client.post("/hooks/starweb/c1", json=order_event("u-4", 4))
        for resp in (wrong, other, unknown, no_route):
            assert resp.status_code == 404
        assert wrong.json() == unknown.json() == no_route.json() == {"detail": "Not Found"}
        assert hints_total(r.engine) == 0  # the handler hints before it answers: nothing was queued
        assert r.seen == {}  # not even deduped
        assert all(s.pending_hints == 0 for s in r.engine.status())
        assert "shopbridge_webhook_rejected_total 3.0" in (await r.client.get("/metrics")).text
    assert r.sweep.calls == []


async def test_resent_uuid_gives_exactly_one_hint() -> None:
    async with running() as r:
        body = order_event("5f0c-resent", 1001)
        first = await r.client.post(hook("c1"), json=body)
        second = await r.client.post(hook("c1"), json=body)
        assert first.status_code == second.status_code == 200
        assert first.json() == {"ok": True}
        assert second.json() == {"ok": True, "duplicate": True}
        await eventually(lambda: r.sweep.finished["c1"] == 1)
        third = await r.client.post(hook("c1"), json=body)  # a resend after the sweep: still ignored
        assert third.json()["duplicate"] is True
        assert hints_total(r.engine) == 1
    assert r.sweep.hints("c1") == [Hint("order", "1001")]
    assert r.sweep.sweeps("c1") == 1


async def test_three_argument_dedupe_gets_the_connection() -> None:
    async with running(dedupe_with_connection=True) as r:
        body = order_event("u-three", 5)
        assert (await r.client.post(hook("c2"), json=body)).json() == {"ok": True}
        assert (await r.client.post(hook("c2"), json=body)).json()["duplicate"] is True
        await eventually(lambda: r.sweep.finished["c2"] == 1)
    assert r.sweep.hints("c2") == [Hint("order", "5")]


async def test_burst_of_hooks_gives_one_or_two_sweeps_never_parallel() -> None:
    sweep = FakeSweep(delay_s=0.1)
    async with running(sweep, debounce_s=1.0) as r:
        responses = await asyncio.gather(
            *(r.client.post(hook("c1"), json=order_event(f"burst-{i}", 2000 + i)) for i in range(20))
        )
        assert all(resp.status_code == 200 for resp in responses)
        expected = {Hint("order", str(2000 + i)) for i in range(20)}
        await eventually(lambda: set(sweep.hints("c1")) == expected and sweep.active["c1"] == 0)
    assert 1 <= sweep.sweeps("c1") <= 2
    assert sweep.max_active["c1"] == 1
    assert sweep.sweeps("c2") == 0


async def test_hooks_for_two_connections_and_a_failing_one() -> None:
    sweep = FakeSweep(fail={"c2"})
    async with running(sweep) as r:
        await r.client.post(hook("c2"), json=order_event("f-1", 1))
        await eventually(lambda: sweep.sweeps("c2") >= 1)
        resp = await r.client.post(hook("c1"), json=order_event("f-2", 2))
        assert resp.status_code == 200
        await eventually(lambda: sweep.finished["c1"] == 1)
        health = (await r.client.get("/healthz")).json()
    by_id = {c["connection"]: c for c in health["connections"]}
    assert by_id["c1"]["last_success_at"] and by_id["c2"]["last_error"] == "RuntimeError"


async def test_event_kinds_and_lenient_bodies() -> None:
    async with running() as r:
        calls = [
            {"uuid": "k-1", "eventId": "product-updated", "productId": 77},
            {"uuid": "k-2", "event": "customer-created", "customerId": "12"},
            {"uuid": "k-3", "orderId": 9},  # no event name: inferred from the id
            {"uuid": "k-4", "eventId": "shop-opened", "shopIdCode": "demo"},  # nothing to look at
        ]
        for body in calls:
            assert (await r.client.post(hook("c1"), json=body)).status_code == 200
        # several events in one call, and an unreadable body (still 200: Starweb must not resend it)
        many = [order_event("k-5", 10), order_event("k-6", 11, "order-status-changed")]
        assert (await r.client.post(hook("c1"), json=many)).json() == {"ok": True}
        garbage = await r.client.post(hook("c1"), content=b"not json", headers={"content-type": "text/plain"})
        assert garbage.status_code == 200 and garbage.json()["ignored"]
        await eventually(lambda: len(r.sweep.hints("c1")) == 5 and r.sweep.active["c1"] == 0)
        metrics = (await r.client.get("/metrics")).text
    assert set(r.sweep.hints("c1")) == {
        Hint("product", "77"),
        Hint("customer", "12"),
        Hint("order", "9"),
        Hint("order", "10"),
        Hint("order", "11"),
    }
    assert 'shopbridge_webhook_events_total{connection="c1",event="shop-opened"} 1.0' in metrics
    assert 'shopbridge_webhook_events_total{connection="c1",event="unknown"} 2.0' in metrics


def test_parse_hook_event() -> None:
    ev = parse_hook_event(order_event("u", 5, "order-completed"))
    assert (ev.uuid, ev.event, ev.hint) == ("u", "order-completed", Hint("order", "5"))
    camel = parse_hook_event({"eventName": "orderStatusChanged", "orderId": "8"})
    assert camel.event == "order-status-changed"
    assert parse_hook_event({"event": "order_created", "orderId": 1}).hint == Hint("order", "1")
    assert parse_hook_event({"eventId": 123, "productId": 4}).hint == Hint("product", "4")
    assert parse_hook_event({"eventId": "order-created"}).hint is None  # no id: only a wake-up
    assert parse_hook_event({"eventId": "shop-closed", "orderId": 3}).hint is None
    assert parse_hook_event({"orderId": True}).hint is None
    assert parse_hook_event({}, "order-created").event == "order-created"


def test_secret_helpers() -> None:
    assert secrets_equal("abc", "abc") and not secrets_equal("abc", "abd")
    assert not secrets_equal("", "") and not secrets_equal(None, "x") and not secrets_equal("x", None)
    assert secrets_equal("åäö", "åäö")
    resolve = secret_resolver(SECRETS.get)
    assert resolve("c1", SECRETS["c1"]) == "c1"
    assert resolve("c1", SECRETS["c2"]) is None and resolve("zz", "") is None
    assert redact_path("/hooks/starweb/c1/topsecret") == "/hooks/starweb/c1/***"
    assert redact_path("/healthz") == "/healthz"


async def test_metrics_endpoint() -> None:
    async with running() as r:
        body = order_event("m-1", 31)
        await r.client.post(hook("c1"), json=body)
        await r.client.post(hook("c1"), json=body)
        await eventually(lambda: r.sweep.finished["c1"] == 1)
        resp = await r.client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(resp.text)
        for s in fam.samples
    }
    c1 = (("connection", "c1"),)
    assert samples[("shopbridge_webhook_events_total", (*c1, ("event", "order-created")))] == 2
    assert samples[("shopbridge_webhook_duplicates_total", c1)] == 1
    assert samples[("shopbridge_hints_total", (*c1, ("kind", "order")))] == 1
    assert samples[("shopbridge_sweeps_total", (*c1, ("outcome", "ok")))] == 1
    assert samples[("shopbridge_entities_total", (*c1, ("outcome", "transferred")))] == 1
    assert samples[("shopbridge_sweep_duration_seconds_count", c1)] == 1
    assert samples[("shopbridge_last_successful_sweep_timestamp_seconds", c1)] > 1.7e9


async def test_healthz() -> None:
    async with running(health=lambda: {"version": "test"}) as r:
        await r.client.post(hook("c1"), json=order_event("h-1", 1))
        await eventually(lambda: r.sweep.finished["c1"] == 1)
        resp = await r.client.get("/healthz")
        assert resp.status_code == 200
        body = resp.json()
    assert body["ok"] is True and body["version"] == "test"
    by_id = {c["connection"]: c for c in body["connections"]}
    assert set(by_id) == {"c1", "c2"}
    assert by_id["c1"]["last_success_at"].endswith("Z") and by_id["c1"]["sweeps"] == 1
    assert by_id["c2"]["last_success_at"] is None


async def test_healthz_not_ok_is_503() -> None:
    async with running(health=lambda: {"ok": False, "reason": "database unreachable"}) as r:
        resp = await r.client.get("/healthz")
    assert resp.status_code == 503 and resp.json()["reason"] == "database unreachable"


async def test_oauth_callback_is_delegated() -> None:
    got: list[dict[str, str]] = []

    async def callback(request: Request) -> Any:
        got.append(dict(request.query_params))
        return PlainTextResponse("done") if request.query_params.get("plain") else None

    async with running(oauth_callback=callback) as r:
        page = await r.client.get("/oauth/visma/callback", params={"code": "abc", "state": "xyz"})
        plain = await r.client.get("/oauth/visma/callback", params={"code": "d", "state": "e", "plain": "1"})
    assert page.status_code == 200 and "connected" in page.text
    assert plain.text == "done"
    assert got[0] == {"code": "abc", "state": "xyz"}
    async with running() as r:
        assert (await r.client.get("/oauth/visma/callback")).status_code == 404


async def test_secret_never_reaches_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    configure_logging("DEBUG", fmt="json", stream=out)
    caplog.set_level(logging.DEBUG)
    try:
        async with running() as r:
            await r.client.post(hook("c1"), json=order_event("log-1", 1))
            await r.client.post(hook("c1", "wrong-guess-QQ"), json=order_event("log-2", 2))
            await r.client.post(hook("c1"), content=b"{broken")
            await eventually(lambda: r.sweep.finished["c1"] == 1)
    finally:
        configure_logging("WARNING")
    server_side = [r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    logged = out.getvalue() + "\n".join(server_side)  # the test's own client logs its URLs: not ours
    assert "webhook.received" in logged and "webhook.rejected" in logged
    assert "/hooks/starweb/c1/***" in logged  # the request log, redacted
    assert SECRETS["c1"] not in logged and "wrong-guess-QQ" not in logged


async def test_oversized_hook_body_is_refused() -> None:
    async with running() as r:
        resp = await r.client.post(hook("c1"), content=b"{" + b" " * 70_000 + b"}")
    assert resp.status_code == 413
    assert r.sweep.calls == []


async def test_health_and_metrics_are_not_public_by_default() -> None:
    async with running(ops_public=False) as r:
        assert (await r.client.get("/metrics")).status_code == 404
        assert (await r.client.get("/healthz")).status_code == 404


async def test_health_and_metrics_behind_a_bearer_token() -> None:
    token = "ops-token-Zq81"
    async with running(ops_public=False, ops_token=token) as r:
        assert (await r.client.get("/metrics")).status_code == 401
        wrong = await r.client.get("/healthz", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = await r.client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and "shopbridge_sweeps" in ok.text


async def test_one_call_with_many_events_gives_a_full_sweep_not_one_read_each() -> None:
    async with running() as r:
        events = [{"uuid": f"b{i}", "orderId": 1000 + i} for i in range(500)]  # small: under 64 KB
        resp = await r.client.post(hook("c1"), json=events)
        assert resp.status_code == 200 and resp.json()["left_to_the_sweep"] == 480
        await eventually(lambda: r.sweep.finished["c1"] >= 1)
    hinted = [h for call in r.sweep.calls for h in call[1]]
    assert len(hinted) <= 20  # at most the events taken from the call; the sweep polls for the rest
