"""Shared pieces of the catalogue tests: an env whose Visma side is not paced, and look-ups on both sides.

`CatalogEnv` is `e2e.Env` with the Visma sandbox's server-side limit raised and the clients' limits to
match (the catalogue's initial sync writes hundreds of articles; the real limit is the bench's business).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from shopbridge.starweb.client import StarwebClient
from shopbridge.sync.articles import ArticleExportFlow
from shopbridge.sync.catalog import CatalogPlan
from shopbridge.sync.context import ConnectionContext, open_context
from shopbridge.sync.shop_catalog import ShopCatalogFlow

from e2e import STARWEB_LIMIT, Env, dec

VISMA_LIMIT = 20000


class CatalogEnv(Env):
    """Two sandboxes, a store and connection "e2e", without pacing on either side."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.admin("visma", "POST", "/ratelimit", json={"limit": VISMA_LIMIT}).raise_for_status()

    def context(self) -> ConnectionContext:
        return open_context(
            self.store, self.name, starweb_rate_limit=STARWEB_LIMIT, visma_rate_limit=VISMA_LIMIT
        )

    @property
    def conn_id(self) -> int:
        return self.store.connections.find(self.name).id

    # -- flows ------------------------------------------------------------------------------------
    async def plan_out(self, *, full: bool = True, apply: bool = True) -> tuple[CatalogPlan, Any, int]:
        """ArticleExportFlow's plan (applied when `apply`); returns (plan, done, write calls)."""
        async with self.context() as ctx:
            plan = await ArticleExportFlow(ctx).plan(full=full)
            done = await plan.apply() if apply else {}
            return plan, done, writes(ctx)

    async def plan_in(
        self, *, full: bool = True, observe: bool = False, apply: bool = True
    ) -> tuple[CatalogPlan, Any, int]:
        """ShopCatalogFlow's plan (applied when `apply`); returns (plan, done, write calls)."""
        async with self.context() as ctx:
            plan = await ShopCatalogFlow(ctx).plan(full=full, observe=observe)
            done = await plan.apply() if apply else {}
            return plan, done, writes(ctx)

    async def sweep_out(self) -> tuple[Any, int]:
        async with self.context() as ctx:
            report = await ArticleExportFlow(ctx).sweep()
            return report, writes(ctx)

    async def sweep_in(self) -> tuple[Any, int]:
        async with self.context() as ctx:
            report = await ShopCatalogFlow(ctx).sweep()
            return report, writes(ctx)

    # -- Visma ------------------------------------------------------------------------------------
    async def articles(self) -> dict[str, dict[str, Any]]:
        """Every Visma article by upper-cased number."""
        out: dict[str, dict[str, Any]] = {}
        page = 1
        while True:
            body = await self.visma_get("articles", **{"$pagesize": 1000, "$page": page})
            for a in body["Data"]:
                out[a["Number"].strip().upper()] = a
            if page >= body["Meta"]["TotalNumberOfPages"]:
                return out
            page += 1

    async def codings(self) -> dict[str, Decimal]:
        """Coding id -> VAT rate in percent."""
        body = await self.visma_get("articleaccountcodings")
        return {
            c["Id"]: dec(c["VatRatePercent"]) * 100 for c in body["Data"] if c["VatRatePercent"] is not None
        }

    def visma_admin(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.admin("visma", "POST", f"/visma{path}", json=body)
        assert r.status_code == 200, r.text
        return r.json()

    # -- Starweb ----------------------------------------------------------------------------------
    async def shop_variants(self) -> dict[str, dict[str, Any]]:
        """Every shop variant by upper-cased SKU, with its product (`_product`), prices and stock."""
        out: dict[str, dict[str, Any]] = {}
        semaphore = asyncio.Semaphore(16)
        async with StarwebClient(
            f"{self.starweb.url}/api/v2", *_starweb_credentials(), rate_limit=None
        ) as sw:

            async def one(product: Any) -> None:
                async with semaphore:
                    found = await sw.list_variants(int(product.productId), include="prices,attributeValues")
                for v in found:
                    row = v.model_dump(mode="json")
                    row["productId"] = product.productId
                    row["_product"] = product.model_dump(mode="json")
                    out[(v.sku or "").strip().upper()] = row

            await asyncio.gather(*[one(p) async for p in sw.iter_products(include="languages")])
        return out

    async def shop_variant(self, sku: str) -> dict[str, Any]:
        """One shop variant by SKU, as `shop_variants` gives it."""
        async with StarwebClient(
            f"{self.starweb.url}/api/v2", *_starweb_credentials(), rate_limit=None
        ) as sw:
            product = await sw.find_product_by_sku(sku, include="languages")
            assert product is not None, sku
            for v in await sw.list_variants(int(product.productId), include="prices,attributeValues"):
                if (v.sku or "").upper() == sku.upper():
                    row = v.model_dump(mode="json")
                    row["productId"] = product.productId
                    row["_product"] = product.model_dump(mode="json")
                    return row
        raise AssertionError(f"no variant {sku}")

    async def stock_of(self, variant: dict[str, Any]) -> dict[int, dict[str, Any]]:
        """A shop variant's stock rows by stock location id."""
        path = f"products/{variant['productId']}/variants/{variant['variantId']}/stocks"
        return {s["stockLocationId"]: s for s in (await self.shop("GET", path))["data"]}

    async def new_product(
        self, name: str, variants: list[dict[str, Any]], *, vat: str = "25", **fields: Any
    ) -> dict[str, Any]:
        """A visible shop product; `variants` as the API takes them (sku, prices, attributeValueLinks)."""
        body = {
            "defaultVatRate": vat,
            "visibility": "visible",
            "languages": [{"langCode": "sv", "name": name}],
            "variants": variants,
            **fields,
        }
        return (await self.shop("POST", "products", json=body))["data"]

    async def new_customer(self) -> int:
        """A shop customer with an address (the empty shop has none); its id."""
        address = {"firstName": "Test", "lastName": "Kund", "address": "Gatan 1", "postalCode": "11122"}
        body = {
            "type": "person",
            "email": "kund@example.com",
            "addresses": {"invoice": {**address, "city": "Stockholm", "countryCode": "SE"}},
        }
        return int((await self.shop("POST", "customers", json=body))["data"]["customerId"])

    # -- the command line, in processes of its own --------------------------------------------------
    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`shopbridge ARGS` in a process of its own on this env's data directory."""
        environ = {k: v for k, v in os.environ.items() if k != "SHOPBRIDGE_CRASH_AT"}
        environ["COLUMNS"] = "200"
        cmd = [sys.executable, "-m", "shopbridge", "--data-dir", str(self.data_dir), *args]
        return subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=180)

    def sync_once(self) -> dict[str, Any]:
        """`shopbridge sync --once --json` in a process of its own (as a user's cron runs it); the
        connection's outcome (counts, waiting)."""
        done = self.cli("sync", "--once", "--json")
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode in (0, 1), done.stdout + done.stderr
        outcome = json.loads(done.stdout)["connections"][0]
        assert outcome["error"] is None, outcome
        return outcome

    def sandbox_writes(self) -> int:
        """Write calls (not GET, not token) both sandboxes served since the last call (then reset)."""
        total = 0
        for server in ("visma", "starweb"):
            stats = self.admin(server, "GET", "/stats").json()
            total += sum(
                n
                for route, n in stats["by_route"].items()
                if not route.startswith(("GET ", "HEAD ")) and "token" not in route
            )
            self.admin(server, "POST", "/stats/reset").raise_for_status()
        return total

    async def master_and_eur(self) -> tuple[int, int]:
        body = await self.shop("GET", "pricelists")
        lists = body["data"]
        master = next(p["pricelistId"] for p in lists if p["isMaster"])
        eur = next(p["pricelistId"] for p in lists if p["currencyCode"] == "EUR" and not p["isMaster"])
        return master, eur


def writes(ctx: ConnectionContext) -> int:
    """Write calls (non-GET, token requests excluded) both clients made."""
    return ctx.starweb.write_calls + ctx.visma.write_calls


def _starweb_credentials() -> tuple[str, str]:
    from shopbridge.sandbox.common import defaults as d

    return d.STARWEB_CLIENT_ID, d.STARWEB_CLIENT_SECRET


def catalog_env_fixture(
    name: str,
    setup: Callable[[CatalogEnv], Awaitable[Any]] | None = None,
    *,
    fixture: str = "env",
    empty: bool = False,
) -> Any:
    """A module-scoped fixture named `fixture` (a `CatalogEnv`); `setup(env)` runs once after connecting.

    `empty`: both sandboxes start from their empty seeds (reference data only) instead of the demo.
    """

    @pytest_asyncio.fixture(scope="module", loop_scope="session", name=fixture)
    async def env(tmp_path_factory: pytest.TempPathFactory) -> Any:
        e = CatalogEnv(tmp_path_factory.mktemp(name))
        if empty:
            for server in ("visma", "starweb"):
                e.admin(server, "POST", f"/{server}/reset", json={"seed": "empty"}).raise_for_status()
        await e.connect()
        if setup is not None:
            await setup(e)
        yield e
        e.close()

    return env
