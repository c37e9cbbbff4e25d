"""The shared request loop, retry rules, limiter and paginator, over an in-memory transport."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from shopbridge.http import (
    ApiClient,
    AuthenticationError,
    BadRequestError,
    PageNumberPaginator,
    RateLimitError,
    RetryPolicy,
    ServerError,
    SlidingWindowLimiter,
    TransportError,
    paginate,
)

FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.002)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_limiter_never_puts_more_than_limit_in_any_window() -> None:
    clock = FakeClock()
    lim = SlidingWindowLimiter(10, 1.0, margin_s=0.0, clock=clock)
    send_times = [lim.reserve("k") for _ in range(35)]
    for i in range(len(send_times) - 10):
        assert send_times[i + 10] - send_times[i] >= 1.0
    # other keys are independent
    assert lim.reserve("other") == 0.0


def test_limiter_penalize_blocks_key() -> None:
    clock = FakeClock()
    lim = SlidingWindowLimiter(100, 60.0, clock=clock)
    lim.penalize("k", 5.0)
    assert lim.reserve("k") == pytest.approx(5.0)
    assert lim.reserve("j") == 0.0


def test_retry_rules_for_writes() -> None:
    policy = RetryPolicy()
    ambiguous = TransportError("reset", maybe_sent=True)
    never_sent = TransportError("refused", maybe_sent=False)
    assert policy.can_retry(RateLimitError("slow down"), idempotent=False)
    assert policy.can_retry(never_sent, idempotent=False)
    assert not policy.can_retry(ambiguous, idempotent=False)
    assert policy.can_retry(ambiguous, idempotent=True)
    assert not policy.can_retry(ServerError("boom", status=500), idempotent=False)
    assert not policy.can_retry(BadRequestError("bad", status=400), idempotent=True)


def test_retry_delay_honours_retry_after() -> None:
    policy = RetryPolicy()
    assert 7.0 <= policy.delay(1, RateLimitError("x", retry_after=7.0)) < 7.1
    assert policy.delay(10) <= policy.max_delay


def make_client(handler) -> ApiClient:
    return ApiClient("http://test.invalid/api", retry=FAST, transport=httpx.MockTransport(handler))


async def test_get_retried_on_5xx_then_succeeds() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            return httpx.Response(503)
        return httpx.Response(200, json={"ok": True})

    async with make_client(handler) as client:
        assert await client.request("GET", "things") == {"ok": True}
    assert len(calls) == 3


async def test_post_not_repeated_blindly_after_5xx() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(502)

    async with make_client(handler) as client:
        with pytest.raises(ServerError):
            await client.request("POST", "things", json={"a": 1})
    assert len(calls) == 1


async def test_post_reconciled_after_lost_answer() -> None:
    created: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        created.append(json.loads(request.content))
        raise httpx.ReadTimeout("lost", request=request)

    async def reconcile():
        return {"id": 1, "found": True} if created else None

    async with make_client(handler) as client:
        out = await client.request("POST", "things", json={"a": 1}, reconcile=reconcile)
    assert out == {"id": 1, "found": True}
    assert len(created) == 1


async def test_post_retried_when_reconcile_finds_nothing() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(500)
        return httpx.Response(201, json={"id": 2})

    async def reconcile():
        return None

    async with make_client(handler) as client:
        assert await client.request("POST", "things", json={}, reconcile=reconcile) == {"id": 2}
    assert len(calls) == 2


async def test_reauth_once_on_401() -> None:
    tokens = iter(["old", "new"])
    current = {"t": next(tokens)}
    seen = []

    class Client(ApiClient):
        async def auth_headers(self):
            return {"Authorization": f"Bearer {current['t']}"}

        async def on_unauthorized(self):
            current["t"] = next(tokens)
            return True

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] != "Bearer new":
            return httpx.Response(401)
        return httpx.Response(200, json={})

    client = Client("http://test.invalid", retry=FAST, transport=httpx.MockTransport(handler))
    assert await client.request("GET", "x") == {}
    assert seen == ["Bearer old", "Bearer new"]

    def always_401(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401)

    tokens = iter(["a", "b"])

    client = Client("http://test.invalid", retry=FAST, transport=httpx.MockTransport(always_401))
    with pytest.raises(AuthenticationError):
        await client.request("GET", "x")


async def test_429_recovered_without_losing_the_call() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) <= 8:  # more 429s than max_attempts: they must not count as attempts
            return httpx.Response(429, headers={"Retry-After": "0"})
        return httpx.Response(200, json={"n": len(calls)})

    limiter = SlidingWindowLimiter(1000, 1.0)
    client = ApiClient(
        "http://t.invalid", retry=FAST, limiter=limiter, transport=httpx.MockTransport(handler)
    )
    assert await client.request("POST", "x", json={}) == {"n": 9}


async def test_connect_error_is_safe_to_repeat_even_for_post() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"ok": 1})

    async with make_client(handler) as client:
        assert await client.request("POST", "x", json={}) == {"ok": 1}


async def test_paginate_carries_filters_and_stops() -> None:
    pages = {1: ["a", "b"], 2: ["c"], 3: []}
    seen_params = []

    async def fetch(params):
        seen_params.append(dict(params))
        return {"data": pages[params["page"]], "meta": {"pagination": {"total_pages": 2}}}

    pager = PageNumberPaginator("page", ("data",), ("meta", "pagination", "total_pages"))
    items = []
    async for body in paginate(fetch, pager, {"statusFilter": "x"}):
        items += pager.items(body)
    assert items == ["a", "b", "c"]
    assert all(p["statusFilter"] == "x" for p in seen_params)
    assert [p["page"] for p in seen_params] == [1, 2]


async def test_limiter_shared_across_tasks() -> None:
    lim = SlidingWindowLimiter(5, 0.2, margin_s=0.0)
    loop = asyncio.get_running_loop()
    stamps: list[float] = []

    async def one():
        await lim.acquire("k")
        stamps.append(loop.time())

    await asyncio.gather(*(one() for _ in range(12)))
    stamps.sort()
    for i in range(len(stamps) - 5):
        assert stamps[i + 5] - stamps[i] >= 0.2 - 0.02
