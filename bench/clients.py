"""Client bench: how close each client runs to its rate limit without a 429, and what a call costs it.

Both sandboxes run in their own processes. For each client:
* rate: tasks call one endpoint as fast as the client's limiter lets them for four windows; the
  calls that succeeded after the first window (the start-up burst), as a share of what the limit
  allows in those three windows (goal >= 0.95), and the 429s the server answered (goal 0).
  The window is compressed to 10 s (same limit per window as configured), so the bench takes a
  minute, not several.
* overhead: sequential calls with the limiter out of the way; the client's own time per call
  (everything but the HTTP round trip, measured by a timing transport), p50 and p99.

Run: python bench/clients.py
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from _common import SandboxProcess, emit, percentile, print_table

from shopbridge.sandbox.common import defaults as d
from shopbridge.starweb.client import StarwebClient
from shopbridge.visma.client import VismaClient
from shopbridge.visma.oauth import MemoryTokenStore, VismaOAuth

WINDOW_S = 10.0
WINDOWS = 4
TASKS = 16
OVERHEAD_CALLS = 600


class TimingTransport(httpx.AsyncBaseTransport):
    """Measures the time spent in the HTTP round trip itself."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.last = 0.0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        start = time.perf_counter()
        response = await self.inner.handle_async_request(request)
        await response.aread()
        self.last = time.perf_counter() - start
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def visma_oauth(visma: SandboxProcess) -> VismaOAuth:
    oauth = VismaOAuth(
        d.VISMA_CLIENT_ID,
        d.VISMA_CLIENT_SECRET,
        "http://127.0.0.1:9/callback",
        identity_url=visma.url,
        token_store=MemoryTokenStore(),
    )
    url, _state = oauth.authorize_url()
    async with httpx.AsyncClient() as http:
        location = (await http.get(url)).headers["location"]
    code = httpx.URL(location).params["code"]
    await oauth.exchange_code(code)
    return oauth


async def rate(call: Any, limit: int) -> tuple[int, float]:
    """Calls completed by TASKS tasks over WINDOWS windows, and the share of the limit reached.

    The first window is the start-up burst a sliding window allows; the share is taken over the
    windows after it, where the limiter alone sets the pace: calls / (limit x windows).
    """
    stamps: list[float] = []
    start = time.monotonic()
    end = start + WINDOW_S * WINDOWS

    async def worker() -> None:
        while time.monotonic() < end:
            await call()
            now = time.monotonic()
            if now <= end:
                stamps.append(now)

    await asyncio.gather(*(worker() for _ in range(TASKS)))
    steady = [t for t in stamps if t >= start + WINDOW_S]
    return len(stamps), len(steady) / (limit * (WINDOWS - 1))


async def overhead(call: Any, transport: TimingTransport) -> list[float]:
    costs = []
    for _ in range(OVERHEAD_CALLS):
        start = time.perf_counter()
        await call()
        costs.append((time.perf_counter() - start - transport.last) * 1000)
    return costs


async def bench_visma(limit: int) -> dict[str, Any]:
    visma = SandboxProcess(
        "visma", "--seed", "demo", "--rate-limit", str(limit), "--rate-window", str(WINDOW_S)
    )
    try:
        oauth = await visma_oauth(visma)
        client = VismaClient(oauth, api_base=f"{visma.url}/v2", rate_limit=limit, rate_window_s=WINDOW_S)
        await client.request("GET", "customers", params={"$pagesize": 1})
        await asyncio.sleep(WINDOW_S + 0.5)  # start from an empty window
        visma.admin("POST", "/stats/reset")
        done, share = await rate(lambda: client.request("GET", "customers", params={"$pagesize": 1}), limit)
        stats = visma.admin("GET", "/stats")
        await client.aclose()
        transport = TimingTransport()
        fast = VismaClient(
            oauth, api_base=f"{visma.url}/v2", rate_limit=10**6, rate_window_s=1, transport=transport
        )
        visma.admin("POST", "/ratelimit", json={"enabled": False})
        some = (await fast.customers.list({"$pagesize": 1}))[0]
        costs = await overhead(lambda: fast.customers.get(some.Id), transport)
        await fast.aclose()
        await oauth.aclose()
        return _figures(done, share, limit, stats, costs)
    finally:
        visma.stop()


async def bench_starweb(limit: int) -> dict[str, Any]:
    starweb = SandboxProcess(
        "starweb", "--seed", "demo", "--rate-limit", str(limit), "--rate-window", str(WINDOW_S)
    )
    try:
        base = f"{starweb.url}/api/v2"
        client = StarwebClient(
            base, d.STARWEB_CLIENT_ID, d.STARWEB_CLIENT_SECRET, rate_limit=limit, rate_window_s=WINDOW_S
        )
        await client.get_shop()
        await asyncio.sleep(WINDOW_S + 0.5)
        starweb.admin("POST", "/stats/reset")
        done, share = await rate(client.get_shop, limit)
        stats = starweb.admin("GET", "/stats")
        await client.aclose()
        transport = TimingTransport()
        starweb.admin("POST", "/ratelimit", json={"enabled": False})
        fast = StarwebClient(
            base, d.STARWEB_CLIENT_ID, d.STARWEB_CLIENT_SECRET, rate_limit=None, transport=transport
        )
        costs = await overhead(lambda: fast.get_order(1001, include=["items"]), transport)
        await fast.aclose()
        return _figures(done, share, limit, stats, costs)
    finally:
        starweb.stop()


def _figures(
    done: int, share: float, limit: int, stats: dict[str, Any], costs: list[float]
) -> dict[str, Any]:
    throttled = _count_429(stats)
    return {
        "limit_per_window": limit,
        "window_s": WINDOW_S,
        "calls": done,
        "rate_share": round(share, 4),
        "rate_share_goal": 0.95,
        "http_429": throttled,
        "http_429_goal": 0,
        "overhead_p50_ms": round(percentile(costs, 50), 3),
        "overhead_p99_ms": round(percentile(costs, 99), 3),
    }


def _count_429(stats: dict[str, Any]) -> int:
    return int(stats.get("rate_limited", 0))


async def main() -> None:
    visma = await bench_visma(d.VISMA_RATE_LIMIT)
    starweb = await bench_starweb(d.STARWEB_RATE_LIMIT)
    for name, fig in (("Visma client", visma), ("Starweb client", starweb)):
        print_table(
            f"{name}: {fig['limit_per_window']} calls per {fig['window_s']:.0f} s window",
            [
                (f"calls in {WINDOWS} windows", fig["calls"], None),
                ("rate reached / limit", fig["rate_share"], ">= 0.95"),
                ("429 answers", fig["http_429"], "0"),
                ("own overhead p50 (ms)", fig["overhead_p50_ms"], None),
                ("own overhead p99 (ms)", fig["overhead_p99_ms"], None),
            ],
        )
    emit({"bench": "clients", "visma": visma, "starweb": starweb})


if __name__ == "__main__":
    asyncio.run(main())
