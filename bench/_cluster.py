"""Shared plumbing of the cluster benches (faults.py, scale.py).

A PostgreSQL schema of its own, both sandboxes in their own processes, one Visma company with N
Starweb shops (a multishop connection per shop, plan premium), orders made through the shop API,
and the cluster's processes: workers and schedulers run `engine.cluster.run_worker` /
`run_scheduler`, each in its own process forked from a preloaded fork server (a cold
`shopbridge worker` start costs ~1.7 s of CPU, which 200 restarts on 2 cores could not pay), and
are killed with SIGKILL like any process. RabbitMQ and Redis are the machine's.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing as mp
import os
import random
import signal
import sys
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from shopbridge.http.errors import TransportError
from shopbridge.onboarding import connect_sandboxes, connect_starweb, ensure_service_articles
from shopbridge.sandbox.common import defaults as d
from shopbridge.starweb.client import StarwebClient
from shopbridge.store import Store, open_store
from shopbridge.store.schema import Attempt, Transfer
from shopbridge.sync.context import open_context

PG_URL = os.environ.get("SHOPBRIDGE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
BROKER = os.environ.get("SHOPBRIDGE_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
REDIS = os.environ.get("SHOPBRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CUSTOMERS = tuple(range(1, 41))
_ctx = mp.get_context("forkserver")
_ctx.set_forkserver_preload(["shopbridge.engine.cluster", "shopbridge.sync.flows", "celery.apps.worker"])


@dataclass
class Company:
    """The bench's store and connections: shop k is connection `b{k}` with order status `status[k]`."""

    store: Store
    schema: str
    env: dict[str, str]
    shops: int
    status: dict[int, int] = field(default_factory=dict)
    customers: dict[int, list[int]] = field(default_factory=dict)  # per shop, when made by the bench

    def conn_id(self, k: int) -> int:
        return self.store.connections.find(f"b{k}").id

    def close(self) -> None:
        from sqlalchemy import create_engine, text

        self.store.close()
        engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        engine.dispose()


def shop_url(starweb_url: str, k: int) -> str:
    return f"{starweb_url}/api/v2" if k == 1 else f"{starweb_url}/shops/{k}/api/v2"


_shop_clients: dict[str, StarwebClient] = {}


async def shop_call(starweb_url: str, k: int, method: str, path: str, **kw: Any) -> Any:
    """One call to shop k's API as the merchant would make it (one client per shop, kept for the run)."""
    url = shop_url(starweb_url, k)
    sw = _shop_clients.get(url)
    if sw is None:
        sw = _shop_clients[url] = StarwebClient(
            url, d.STARWEB_CLIENT_ID, d.STARWEB_CLIENT_SECRET, rate_limit=None
        )
    for attempt in range(5):  # an answer lost under load or a kept-alive connection closed by the
        try:  # server: try again (an extra status, customer or order is harmless: the checks count only
            return await sw.request(method, path, **kw)  # the ids the bench got back)
        except TransportError:
            if attempt == 4:
                raise
            await asyncio.sleep(1)
    raise AssertionError("unreachable")


async def close_shop_clients() -> None:
    """Close the clients `shop_call` kept (at the end of the bench's event loop)."""
    while _shop_clients:
        await _shop_clients.popitem()[1].aclose()


async def company(starweb_url: str, visma_url: str, shops: int, settings: dict[str, Any]) -> Company:
    """A store in a new schema and `shops` connections on one Visma company (the first holds the consent)."""
    key = Fernet.generate_key()
    schema = f"sbbench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    data = Path(os.environ.get("TMPDIR", "/tmp")) / schema
    store = open_store(PG_URL, data_dir=data, schema=schema, key=key)
    base = {"plan": "premium", **settings}
    await connect_sandboxes(store, "b1", starweb_url=starweb_url, visma_url=visma_url, settings=base)
    sem = asyncio.Semaphore(16)

    async def further(k: int) -> None:
        async with sem:
            await connect_starweb(
                store,
                f"b{k}",
                base_url=shop_url(starweb_url, k),
                client_id=d.STARWEB_CLIENT_ID,
                client_secret=d.STARWEB_CLIENT_SECRET,
                shop_of="b1",
            )

    await asyncio.gather(*(further(k) for k in range(2, shops + 1)))
    async with open_context(store, "b1", starweb_rate_limit=None) as ctx:
        await ensure_service_articles(ctx)
    env = {
        "SHOPBRIDGE_DB": f"{PG_URL}?options=-csearch_path%3D{schema}",
        "SHOPBRIDGE_KEY": key.decode(),
        "SHOPBRIDGE_HOME": str(data),
        "SHOPBRIDGE_BROKER_URL": BROKER,
        "SHOPBRIDGE_REDIS_URL": REDIS,
        "SHOPBRIDGE_CLUSTER": schema,
        "SHOPBRIDGE_LOG_LEVEL": "ERROR",
    }
    return Company(store, schema, env, shops)


async def new_status(c: Company, starweb_url: str, name: str) -> None:
    """A fresh trigger status in every shop (so each run discovers only its own orders)."""
    sem = asyncio.Semaphore(16)

    async def one(k: int) -> None:
        async with sem:
            body = {"languages": [{"langCode": "sv", "name": name}]}
            sid = (await shop_call(starweb_url, k, "POST", "order-statuses", json=body))["data"]["statusId"]
            c.status[k] = sid
            c.store.connections.update_settings(c.conn_id(k), {"trigger_statuses": [str(sid)]})

    await asyncio.gather(*(one(k) for k in range(1, c.shops + 1)))


async def clean_skus(c: Company, n: int = 12) -> list[str]:
    from shopbridge.sandbox.catalog import demo_catalog
    from shopbridge.visma.mapping import visma_rate

    async with open_context(c.store, "b1") as ctx:
        codings = {x.Id: visma_rate(x.VatRatePercent) for x in await ctx.visma.article_account_codings.list()}
        articles = {a.Number: a for a in await ctx.visma.articles.list({"$pagesize": 1000})}
    out = []
    for product in demo_catalog():
        for v in product.variants:
            a = articles.get(v.sku)
            if a is not None and a.IsActive and codings.get(a.CodingId) == product.vat_rate == 25:
                out.append(v.sku)
    return out[:n]


async def make_customers(c: Company, starweb_url: str, n: int) -> None:
    """`n` Swedish customers in every shop (for shops seeded empty); their ids in `c.customers`."""
    sem = asyncio.Semaphore(8)

    async def one(k: int, i: int) -> None:
        address = {
            "firstName": f"Kund{i}",
            "lastName": f"Butik{k}",
            "address": f"Storgatan {i + 1}",
            "postalCode": "11122",
            "city": "Stockholm",
            "countryCode": "SE",
        }
        body = {
            "email": f"kund{i}.butik{k}@example.com",
            "addresses": {"invoice": address, "delivery": address},
        }
        async with sem:
            created = await shop_call(starweb_url, k, "POST", "customers", json=body)
        c.customers.setdefault(k, []).append(created["data"]["customerId"])

    await asyncio.gather(*(one(k, i) for k in range(1, c.shops + 1) for i in range(n)))


async def make_orders(c: Company, starweb_url: str, per_shop: int, skus: list[str]) -> dict[int, list[int]]:
    """`per_shop` complete orders in each shop's trigger status; their ids per shop."""
    rng = random.Random(11)
    out: dict[int, list[int]] = defaultdict(list)
    sem = asyncio.Semaphore(8)

    async def one(k: int, i: int) -> None:
        customers = c.customers.get(k) or CUSTOMERS
        body = {
            "customerId": customers[(i * 7 + k) % len(customers)],
            "statusId": c.status[k],
            "onOrderStatusChangeSendEmail": False,
            "items": [{"sku": rng.choice(skus), "quantity": 1 + (i % 3), "unitPrice": 99.5, "vatRate": 25}],
        }
        async with sem:
            created = await shop_call(starweb_url, k, "POST", "orders", json=body)
        out[k].append(created["data"]["orderId"])

    await asyncio.gather(*(one(k, i) for k in range(1, c.shops + 1) for i in range(per_shop)))
    return out


# ---------------------------------------------------------------------- processes
def _quiet() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)


def _worker_main(env: dict[str, str], concurrency: int, client_kw: dict[str, Any]) -> None:
    _quiet()
    os.environ.update(env)
    from shopbridge.engine.cluster import run_worker
    from shopbridge.logs import configure_logging

    configure_logging("ERROR")
    store = open_store(env["SHOPBRIDGE_DB"], migrate_db=False, key=env["SHOPBRIDGE_KEY"])
    run_worker(store, concurrency=concurrency, loglevel="ERROR", **client_kw)


def _scheduler_main(env: dict[str, str], interval: float) -> None:
    _quiet()
    os.environ.update(env)
    from shopbridge.engine.cluster import SweepQueue, celery_app, redis_url, run_scheduler
    from shopbridge.engine.runner import run_until_signal
    from shopbridge.http.ratelimit import redis_client
    from shopbridge.logs import configure_logging

    configure_logging("ERROR")
    store = open_store(env["SHOPBRIDGE_DB"], migrate_db=False, key=env["SHOPBRIDGE_KEY"])
    queue = SweepQueue(celery_app(), redis_client(redis_url()))
    run_until_signal(lambda stop: run_scheduler(store, queue, stop, tick_s=0.3, interval_s=interval))


class Processes:
    """The cluster's worker and scheduler processes; kill them hard, start them again."""

    def __init__(self, env: dict[str, str], *, concurrency: int, client_kw: dict[str, Any], interval: float):
        self.env = env
        self.concurrency = concurrency
        self.client_kw = client_kw
        self.interval = interval
        self.workers: list[Any] = []
        self.schedulers: list[Any] = []
        self.kills = Counter()

    def start_worker(self) -> Any:
        p = _ctx.Process(target=_worker_main, args=(self.env, self.concurrency, self.client_kw), daemon=True)
        p.start()
        return p

    def start_scheduler(self) -> Any:
        p = _ctx.Process(target=_scheduler_main, args=(self.env, self.interval), daemon=True)
        p.start()
        return p

    def start(self, workers: int, schedulers: int = 1) -> None:
        self.workers = [self.start_worker() for _ in range(workers)]
        self.schedulers = [self.start_scheduler() for _ in range(schedulers)]

    def kill_random(self, rng: random.Random, scheduler_every: int = 12) -> str:
        """SIGKILL a random worker (every `scheduler_every`-th kill a scheduler) and start a new one."""
        pool, what = self.workers, "worker"
        if self.schedulers and (sum(self.kills.values()) + 1) % scheduler_every == 0:
            pool, what = self.schedulers, "scheduler"
        i = rng.randrange(len(pool))
        victim = pool[i]
        with_suppress(lambda: os.kill(victim.pid, signal.SIGKILL))
        victim.join(5)
        pool[i] = self.start_worker() if what == "worker" else self.start_scheduler()
        self.kills[what] += 1
        return what

    def stop(self) -> None:
        for p in self.workers + self.schedulers:
            with_suppress(lambda p=p: os.kill(p.pid, signal.SIGTERM))
        for p in self.workers + self.schedulers:
            p.join(20)
            if p.is_alive():
                with_suppress(lambda p=p: os.kill(p.pid, signal.SIGKILL))
                p.join(5)


def with_suppress(fn: Any) -> None:
    with contextlib.suppress(ProcessLookupError, OSError):
        fn()


# ---------------------------------------------------------------------- checks
def tracked_outcomes(c: Company, orders: dict[int, list[int]]) -> tuple[Counter, int]:
    """The states of the listed orders' transfers, and how many listed orders are lost: no transfer row,
    or waiting without a sentence that says why."""
    states: Counter = Counter()
    lost = 0
    for k, ids in orders.items():
        rows = c.store.transfers.by_orders(c.conn_id(k), ids)
        for oid in ids:
            t = rows.get(str(oid))
            if t is None:
                lost += 1
                continue
            states[t.state] += 1
            if t.state not in ("transferred", "skipped") and not t.last_error:
                lost += 1
    return states, lost


def transfer_states(c: Company) -> Counter:
    from sqlalchemy import func, select

    with c.store.session() as s:
        return Counter(dict(s.execute(select(Transfer.state, func.count()).group_by(Transfer.state)).all()))


def overlapping_sweeps(c: Company) -> int:
    """Moments two sweeps (two lease holders) of one connection worked at once, from the attempts."""
    from sqlalchemy import select

    with c.store.session() as s:
        rows = s.execute(
            select(Transfer.connection_id, Attempt.started_at, Attempt.finished_at, Attempt.request).join(
                Transfer, Transfer.id == Attempt.transfer_id
            )
        ).all()
    per: dict[int, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for cid, start, end, request in rows:
        by = (request or {}).get("by")
        if by and end is not None:
            per[cid][by].append((start, end))
    clashes = 0
    for holders in per.values():
        spans = sorted(
            (min(s for s, _ in v), max(e for _, e in v), h) for h, v in holders.items()
        )  # one sweep's span: its first attempt's start to its last attempt's end
        for (_, end_a, _), (start_b, _, _) in itertools.pairwise(spans):
            if start_b < end_a:
                clashes += 1
    return clashes


async def visma_documents(c: Company) -> Counter:
    """How many drafts, orders and invoices carry each reference."""
    refs: Counter = Counter()
    async with open_context(c.store, "b1", visma_rate_limit=100_000) as ctx:
        for path in ("customerinvoicedrafts", "customerinvoices"):
            async for body in ctx.visma.iter_pages(path, page_size=500):
                for doc in body.get("Data") or []:
                    if path == "customerinvoices" and doc.get("CreatedFromDraftId"):
                        continue
                    refs[doc.get("YourReference")] += 1
    return refs


async def visma_customer_emails(c: Company) -> Counter:
    out: Counter = Counter()
    async with open_context(c.store, "b1", visma_rate_limit=100_000) as ctx:
        async for body in ctx.visma.iter_pages("customers", page_size=500):
            out.update((x.get("EmailAddress") or "").lower() for x in body.get("Data") or [])
    return out


async def write_backs(c: Company, starweb_url: str, orders: dict[int, list[int]]) -> tuple[int, int]:
    """(matching, mismatching) write-backs of transferred orders: `D:<document id>` on the shop order."""
    ok = bad = 0
    sem = asyncio.Semaphore(16)
    for k, ids in orders.items():
        rows = c.store.transfers.by_orders(c.conn_id(k), ids)

        async def one(oid: int, k: int = k, rows: dict = rows) -> int:
            t = rows.get(str(oid))
            if t is None or t.state != "transferred":
                return 0
            async with sem:
                try:
                    got = await shop_call(starweb_url, k, "GET", f"orders/{oid}/external-services/visma")
                except Exception:
                    return -1
            return 1 if got["data"]["externalIdValue"] == f"D:{t.visma_document_id}" else -1

        for r in await asyncio.gather(*(one(o) for o in ids)):
            ok += r == 1
            bad += r == -1
    return ok, bad


def python() -> str:
    return sys.executable
