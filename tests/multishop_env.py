"""Multishop test environment: one Visma company and three Starweb shops, all over real HTTP.

The Starweb sandbox serves three shops (shop k at `/shops/{k}/api/v2`); connection "ms" is shop 1 and
holds the Visma consent (made with `connect_sandboxes`, like a user), "ms-2" joins it through
`onboarding.connect_starweb(shop_of=...)` and "ms-3" through the CLI (`connect starweb --shop-of`).
Each shop gets an order status of its own ("E2E") and triggers on it, so the demo orders stay out of
the way. The Visma sandbox's limit is raised (the real limit is the bench's business).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from shopbridge.demo import start_sandboxes
from shopbridge.onboarding import connect_sandboxes, connect_starweb, ensure_service_articles
from shopbridge.sandbox.common import defaults as d
from shopbridge.starweb.client import StarwebClient
from shopbridge.store import open_store
from shopbridge.sync.base import Hint, SweepReport
from shopbridge.sync.context import ConnectionContext, open_context
from shopbridge.sync.flows import sweep_connection

from e2e import STARWEB_LIMIT, Env

SHOPS = 3
VISMA_LIMIT = 20000
ROOT = "ms"
NAMES = {1: ROOT, 2: "ms-2", 3: "ms-3"}


class MultiEnv(Env):
    """Both sandboxes (Starweb with three shops), a store, and the connections of `NAMES`."""

    name = ROOT

    def __init__(self, data_dir: Path, *, empty: bool = False) -> None:
        self.data_dir = data_dir
        self.starweb, self.visma = start_sandboxes(starweb_limit=STARWEB_LIMIT, shops=SHOPS)
        self.store = open_store(data_dir=data_dir)
        self.status_id = 0
        self.status_ids: dict[int, int] = {}
        self.admin("visma", "POST", "/ratelimit", json={"limit": VISMA_LIMIT}).raise_for_status()
        if empty:
            for server in ("visma", "starweb"):
                self.admin(server, "POST", f"/{server}/reset", json={"seed": "empty"}).raise_for_status()

    # -- making the connections -------------------------------------------------------------------
    async def connect(self, **settings: Any) -> None:
        await connect_sandboxes(
            self.store,
            ROOT,
            starweb_url=self.starweb.url,
            visma_url=self.visma.url,
            settings=settings or None,
        )
        await connect_starweb(
            self.store,
            NAMES[2],
            base_url=self.shop_url(2),
            client_id=d.STARWEB_CLIENT_ID,
            client_secret=d.STARWEB_CLIENT_SECRET,
            shop_of=ROOT,
        )
        out = self.cli(
            "connect",
            "starweb",
            "--name",
            NAMES[3],
            "--base-url",
            self.shop_url(3),
            "--shop-of",
            ROOT,
            "--client-id",
            d.STARWEB_CLIENT_ID,
            "--client-secret",
            d.STARWEB_CLIENT_SECRET,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"on the Visma company of {ROOT}" in out.stdout, out.stdout
        for k in NAMES:
            body = {"languages": [{"langCode": "sv", "name": "E2E"}]}
            self.status_ids[k] = (await self.shop_k(k, "POST", "order-statuses", json=body))["data"][
                "statusId"
            ]
            self.configure_shop(k, trigger_statuses=[str(self.status_ids[k])])
        self.status_id = self.status_ids[1]
        async with self.context() as ctx:
            await ensure_service_articles(ctx)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`shopbridge ARGS` in its own process on this store."""
        environ = {**os.environ, "SHOPBRIDGE_HOME": str(self.data_dir), "COLUMNS": "200"}
        environ.pop("SHOPBRIDGE_CRASH_AT", None)
        cmd = [sys.executable, "-m", "shopbridge", *args]
        return subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=180)

    # -- per shop -------------------------------------------------------------------------------------
    def shop_url(self, k: int) -> str:
        return f"{self.starweb.url}/shops/{k}/api/v2"

    def conn_id(self, k: int = 1) -> int:
        return self.store.connections.find(NAMES[k]).id

    def configure_shop(self, k: int, **settings: Any) -> None:
        """Change shop k's own settings (a further shop's lie over the root's; None drops a key)."""
        self.store.connections.update_settings(self.conn_id(k), settings)

    def context(self) -> ConnectionContext:
        return self.context_k(1)

    def context_k(self, k: int) -> ConnectionContext:
        return open_context(
            self.store, NAMES[k], starweb_rate_limit=STARWEB_LIMIT, visma_rate_limit=VISMA_LIMIT
        )

    async def sweep_k(self, k: int, hints: list[Hint] | None = None) -> SweepReport:
        """One sweep of every flow of shop k (as the engine does it)."""
        async with self.context_k(k) as ctx:
            return await sweep_connection(ctx, hints)

    async def shop_k(self, k: int, method: str, path: str, **kw: Any) -> Any:
        async with StarwebClient(
            self.shop_url(k), d.STARWEB_CLIENT_ID, d.STARWEB_CLIENT_SECRET, rate_limit=None
        ) as sw:
            return await sw.request(method, path, **kw)

    async def order_in(
        self, k: int, items: list[dict[str, Any]], *, status: int | None = None, **fields: Any
    ) -> dict[str, Any]:
        """A complete order in shop k, in its E2E status unless `status`; returns it with items."""
        body = {
            "customerId": 1,
            "statusId": status if status is not None else self.status_ids[k],
            "onOrderStatusChangeSendEmail": False,
            "items": items,
            **fields,
        }
        body = {key: v for key, v in body.items() if v is not None}
        return (await self.shop_k(k, "POST", "orders", json=body, params={"include": "items"}))["data"]

    def transfer_k(self, k: int, order_id: int | str) -> Any:
        return self.store.transfers.get_by_order(self.conn_id(k), str(order_id))

    async def documents(self, reference: str, kind: str = "customerinvoicedrafts") -> list[dict[str, Any]]:
        """Visma documents whose YourReference is `reference`."""
        body = await self.visma_get(kind, **{"$filter": f"YourReference eq '{reference}'"})
        return body["Data"]


def multi_fixture(name: str, *, empty: bool = False, fixture: str = "env", **settings: Any) -> Any:
    """A module-scoped fixture named `fixture`: a connected `MultiEnv` (`empty`: both empty seeds)."""

    @pytest_asyncio.fixture(scope="module", loop_scope="session", name=fixture)
    async def env(tmp_path_factory: pytest.TempPathFactory) -> Any:
        e = MultiEnv(tmp_path_factory.mktemp(name), empty=empty)
        try:
            await e.connect(**settings)
            yield e
        finally:
            e.close()

    return env
