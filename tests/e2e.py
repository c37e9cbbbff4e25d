"""End-to-end test environment: both sandboxes over real HTTP, a real SQLite store, a real connection.

The connection is made exactly like a user makes one (`connect_starweb`, `connect_visma` with the
OAuth redirect). Tests create their own orders in a Starweb status of their own ("E2E"), so the demo
data's 300 orders stay out of the way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from shopbridge.demo import start_sandboxes
from shopbridge.onboarding import connect_sandboxes, ensure_service_articles
from shopbridge.sandbox.common import defaults as d
from shopbridge.starweb.client import StarwebClient
from shopbridge.store import Store, open_store
from shopbridge.sync.base import Hint, SweepReport
from shopbridge.sync.context import ConnectionContext, open_context
from shopbridge.sync.orders import OrderFlow

STARWEB_LIMIT = 20000


class Env:
    """Two sandboxes, a store and a connection named "e2e"."""

    name = "e2e"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.starweb, self.visma = start_sandboxes(starweb_limit=STARWEB_LIMIT)
        self.store: Store = open_store(data_dir=data_dir)
        self.status_id = 0

    async def connect(self, **settings: Any) -> None:
        await connect_sandboxes(self.store, self.name, starweb_url=self.starweb.url, visma_url=self.visma.url)
        status = await self.shop(
            "POST", "order-statuses", json={"languages": [{"langCode": "sv", "name": "E2E"}]}
        )
        self.status_id = status["data"]["statusId"]
        self.configure(trigger_statuses=[str(self.status_id)], **settings)
        async with self.context() as ctx:
            await ensure_service_articles(ctx)

    def configure(self, **settings: Any) -> None:
        conn = self.store.connections.find(self.name)
        self.store.connections.update_settings(conn.id, settings)

    def context(self) -> ConnectionContext:
        return open_context(self.store, self.name, starweb_rate_limit=STARWEB_LIMIT)

    async def sweep(self, hints: list[Hint] | None = None) -> SweepReport:
        async with self.context() as ctx:
            return await OrderFlow(ctx).sweep(hints)

    async def shop(self, method: str, path: str, **kw: Any) -> Any:
        """A call to the Starweb sandbox with our own client (to build scenarios)."""
        async with StarwebClient(
            f"{self.starweb.url}/api/v2", d.STARWEB_CLIENT_ID, d.STARWEB_CLIENT_SECRET, rate_limit=None
        ) as sw:
            return await sw.request(method, path, **kw)

    async def new_order(self, items: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        """Create a complete order in the E2E status; returns it with items."""
        body = {
            "customerId": 1,
            "statusId": self.status_id,
            "onOrderStatusChangeSendEmail": False,
            "items": items,
            **fields,
        }
        body = {k: v for k, v in body.items() if v is not None}
        created = await self.shop("POST", "orders", json=body, params={"include": "items"})
        return created["data"]

    async def visma_get(self, path: str, **params: Any) -> Any:
        async with self.context() as ctx:
            return await ctx.visma.request("GET", path, params=params or None)

    async def documents_for(self, order_id: int | str, kind: str = "customerinvoicedrafts") -> list[dict]:
        """Visma documents carrying the order's reference (the exactly-once check)."""
        flt = f"YourReference eq 'Starweb {order_id}'"
        body = await self.visma_get(kind, **{"$filter": flt})
        return body["Data"]

    def admin(self, server: str, method: str, path: str, **kw: Any) -> httpx.Response:
        base = self.starweb.url if server == "starweb" else self.visma.url
        return httpx.request(method, f"{base}/_sandbox{path}", timeout=10, **kw)

    def transfer(self, order_id: int | str) -> Any:
        conn = self.store.connections.find(self.name)
        return self.store.transfers.get_by_order(conn.id, str(order_id))

    def close(self) -> None:
        self.store.close()
        self.starweb.stop()
        self.visma.stop()


def env_fixture(name: str, setup: Callable[[Env], Awaitable[Any]] | None = None) -> Any:
    """A module-scoped `env` fixture: sandboxes, store and connection; `setup(env)` runs once after."""

    @pytest_asyncio.fixture(scope="module", loop_scope="session")
    async def env(tmp_path_factory: pytest.TempPathFactory) -> Any:
        e = Env(tmp_path_factory.mktemp(name))
        await e.connect()
        if setup is not None:
            await setup(e)
        yield e
        e.close()

    return env


def worker(env: Env, crash_at: str | None) -> subprocess.CompletedProcess[str]:
    """`shopbridge sync --once` in its own process on the env's store; `crash_at` names a crash point."""
    environ = {k: v for k, v in os.environ.items() if k != "SHOPBRIDGE_CRASH_AT"}
    if crash_at:
        environ["SHOPBRIDGE_CRASH_AT"] = crash_at
    cmd = [sys.executable, "-m", "shopbridge", "--data-dir", str(env.data_dir), "sync", "--once"]
    return subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=120)


def dec(value: Any) -> Decimal:
    return Decimal(str(value))
