"""Scale-out with real processes: `shopbridge worker` ×2 with two schedulers, and `shopbridge run` ×2,
each pair on one PostgreSQL database (RabbitMQ broker, Redis for limits and queue marks), never
duplicate a document or a customer and lose nothing. A web hook to `shopbridge web` gives one sweep.

Skipped with the reason when PostgreSQL, RabbitMQ or Redis is not running; a failure under
SHOPBRIDGE_REQUIRE_SERVICES=1 (CI).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from cryptography.fernet import Fernet

from shopbridge.demo import start_sandboxes
from shopbridge.onboarding import connect_sandboxes, ensure_service_articles
from shopbridge.sandbox.common import defaults as d
from shopbridge.starweb.client import StarwebClient
from shopbridge.store import Store, TransferState
from shopbridge.sync.context import open_context
from store_backends import pg_store, pg_url, rabbitmq_url, redis_url, services_check

pytestmark = pytest.mark.asyncio(loop_scope="session")

STARWEB_LIMIT = 20000
ORDERS = 24
CUSTOMERS = (2, 3, 4, 5, 6, 7)  # several orders each: customer creation races between workers


class Cluster:
    """Sandboxes, a PostgreSQL store in its own schema, one connection, and the processes' environment."""

    def __init__(self, tmp: Path, schema: str, store: Store, key: bytes) -> None:
        self.tmp = tmp
        self.store = store
        self.starweb, self.visma = start_sandboxes(starweb_limit=STARWEB_LIMIT)
        self.name = f"sbtest{uuid.uuid4().hex[:8]}"
        db = f"{pg_url()}?options=-csearch_path%3D{schema}"
        self.environ = {
            **os.environ,
            "SHOPBRIDGE_DB": db,
            "SHOPBRIDGE_KEY": key.decode(),
            "SHOPBRIDGE_HOME": str(tmp),
            "SHOPBRIDGE_BROKER_URL": rabbitmq_url(),
            "SHOPBRIDGE_REDIS_URL": redis_url(),
            "SHOPBRIDGE_CLUSTER": self.name,
        }
        self.procs: list[subprocess.Popen[bytes]] = []
        self.status_id = 0

    async def connect(self, conn: str) -> None:
        await connect_sandboxes(self.store, conn, starweb_url=self.starweb.url, visma_url=self.visma.url)
        if not self.status_id:
            status = await self.shop(
                "POST", "order-statuses", json={"languages": [{"langCode": "sv", "name": "C"}]}
            )
            self.status_id = status["data"]["statusId"]
        c = self.store.connections.find(conn)
        self.store.connections.update_settings(
            c.id, {"trigger_statuses": [str(self.status_id)], "poll_interval_s": 1.0}
        )
        async with open_context(self.store, conn, starweb_rate_limit=STARWEB_LIMIT) as ctx:
            await ensure_service_articles(ctx)

    async def shop(self, method: str, path: str, **kw: Any) -> Any:
        async with StarwebClient(
            f"{self.starweb.url}/api/v2", d.STARWEB_CLIENT_ID, d.STARWEB_CLIENT_SECRET, rate_limit=None
        ) as sw:
            return await sw.request(method, path, **kw)

    async def visma_all(self, path: str) -> list[dict[str, Any]]:
        async with open_context(self.store, self.store.connections.all()[0].name) as ctx:
            return [x async for body in ctx.visma.iter_pages(path) for x in body.get("Data") or []]

    async def orders(self, n: int, skus: list[str]) -> list[int]:
        out = []
        for i in range(n):
            body = {
                "customerId": CUSTOMERS[i % len(CUSTOMERS)],
                "statusId": self.status_id,
                "onOrderStatusChangeSendEmail": False,
                "items": [
                    {"sku": skus[i % len(skus)], "quantity": 1 + i % 3, "unitPrice": 99.5, "vatRate": 25}
                ],
            }
            out.append((await self.shop("POST", "orders", json=body))["data"]["orderId"])
        return out

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"proc{len(self.procs)}.log", "wb")  # noqa: SIM115 - closed with the process
        p = subprocess.Popen(
            [sys.executable, "-m", "shopbridge", *args],
            env=self.environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(p)
        return p

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.procs.clear()

    def logs(self) -> str:
        return "\n".join((f.read_text(errors="replace")[-1500:]) for f in sorted(self.tmp.glob("proc*.log")))

    def wait_transferred(self, conn: str, orders: list[int], timeout: float = 400) -> dict[int, Any]:
        cid = self.store.connections.find(conn).id
        deadline = time.monotonic() + timeout
        while True:
            rows = self.store.transfers.by_orders(cid, orders)
            if len(rows) == len(orders) and all(r.state == TransferState.TRANSFERRED for r in rows.values()):
                return {int(k): v for k, v in rows.items()}
            if time.monotonic() > deadline:
                states = Counter(r.state for r in rows.values())
                raise AssertionError(
                    f"not all transferred: {states}, {len(rows)}/{len(orders)}\n{self.logs()}"
                )
            time.sleep(0.5)

    def close(self) -> None:
        self.stop_all()
        self.starweb.stop()
        self.visma.stop()


@pytest.fixture(scope="module")
def services() -> None:
    services_check("postgresql", "rabbitmq", "redis")


@pytest_asyncio.fixture(loop_scope="session")
async def cluster(services: None, tmp_path: Path) -> Iterator[Cluster]:
    key = Fernet.generate_key()
    schema = f"sbtest_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with pg_store(tmp_path, schema=schema, key=key) as store:
        c = Cluster(tmp_path, schema, store, key)
        try:
            yield c
        finally:
            c.close()


async def skus(c: Cluster) -> list[str]:
    articles = await c.visma_all("articles")
    return [a["Number"] for a in articles if a["Number"].startswith("SW-") and a.get("IsActive")][:6]


async def assert_exactly_once(
    c: Cluster, orders: list[int], rows: dict[int, Any], emails_before: Counter
) -> None:
    drafts = await c.visma_all("customerinvoicedrafts")
    refs = Counter(x.get("YourReference") for x in drafts)
    for oid in orders:
        assert refs[f"Starweb {oid}"] == 1, (oid, refs[f"Starweb {oid}"])
        written = await c.shop("GET", f"orders/{oid}/external-services/visma")
        assert written["data"]["externalIdValue"] == f"D:{rows[oid].visma_document_id}"
    emails = Counter((x.get("EmailAddress") or "").lower() for x in await c.visma_all("customers"))
    grown = {e: emails[e] - emails_before[e] for e in emails if emails[e] > emails_before[e]}
    assert all(n == 1 for n in grown.values()), f"customers created twice: {grown}"


async def test_two_workers_and_two_schedulers_never_duplicate(cluster: Cluster) -> None:
    c = cluster
    await c.connect("shop")
    emails_before = Counter((x.get("EmailAddress") or "").lower() for x in await c.visma_all("customers"))
    orders = await c.orders(ORDERS, await skus(c))
    schedulers = []
    for _ in range(2):
        c.start("worker", "--concurrency", "2")
        schedulers.append(c.start("scheduler", "--tick", "0.5"))
    rows = c.wait_transferred("shop", orders)
    await assert_exactly_once(c, orders, rows, emails_before)
    assert c.store.leases.holder("scheduler") is not None  # one of the two leads
    # no scheduler now: a web hook on `shopbridge web` alone gets the hinted order transferred
    for p in schedulers:
        p.terminate()
        p.wait(15)
    web = c.start("web", "--port", "0")
    port = _wait_port(c, web)
    [late] = await c.orders(1, await skus(c))
    cid = c.store.connections.find("shop").id
    from shopbridge.engine.embedded import hook_secret

    secret = hook_secret(c.store, cid)
    hook = {"uuid": uuid.uuid4().hex, "event": "order-created", "orderId": late}
    r = httpx.post(f"http://127.0.0.1:{port}/hooks/starweb/{cid}/{secret}", json=hook, timeout=10)
    assert r.status_code in (200, 202, 204), r.text
    rows = c.wait_transferred("shop", [late], timeout=60)
    await assert_exactly_once(c, [late], rows, emails_before)


async def test_two_run_engines_on_one_database_never_duplicate(cluster: Cluster) -> None:
    c = cluster
    await c.connect("shop")
    emails_before = Counter((x.get("EmailAddress") or "").lower() for x in await c.visma_all("customers"))
    orders = await c.orders(ORDERS, await skus(c))
    for _ in range(2):
        c.start("run", "--port", "0", "--interval", "1")
    rows = c.wait_transferred("shop", orders)
    await assert_exactly_once(c, orders, rows, emails_before)


def _wait_port(c: Cluster, proc: subprocess.Popen[bytes]) -> int:
    import re

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = c.logs()
        m = re.search(r"web listening on http://127\.0\.0\.1:(\d+)", text)
        if m:
            return int(m.group(1))
        assert proc.poll() is None, text
        time.sleep(0.2)
    raise AssertionError(c.logs())
