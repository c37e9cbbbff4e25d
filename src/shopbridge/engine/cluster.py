"""Scale-out: Celery workers, one scheduler leader and a web process around one PostgreSQL store.

The pieces (each a `shopbridge` command, any number of each on any number of machines):

- **worker** (`run_worker`): a Celery worker whose one task, `shopbridge.sweep(connection_id)`, runs
  `sync.flows.sweep_connection`, the very function the embedded engine calls, on one asyncio loop per
  process (sweeps of several connections interleave on it; `--concurrency` of them at once). The
  sweep holds the connection's lease in the database, so however many workers get a task for one
  connection, one sweeps it; a worker that finds the connection busy asks for another sweep shortly.
  Once a day per connection, after a sweep, it reconciles the running and previous month
  (`EmbeddedSweeper.reconcile`, the same as `shopbridge run`).
- **scheduler** (`run_scheduler`): enqueues each connection's sweep every `poll_interval_s`. Safe to
  run twice: the leader holds the database lease `scheduler`; the others wait to take over. Even two
  leaders at once (one stalled past its lease) enqueue a connection once per interval: the due mark
  is a Redis key set only if absent.
- **web** (`run_web`): the portal, the Starweb web hooks, the OAuth callback, `/healthz`, `/metrics`
  (the portal's notifications sent by one web process at a time: the lease `notifier`). A hook adds
  its hint to the connection's hint set in Redis and enqueues one sweep unless one is already queued
  (`SweepQueue.request`): a burst of hooks gives one hint-sweep that sees every hint.

Broker: RabbitMQ (`SHOPBRIDGE_BROKER_URL`, default `amqp://guest:guest@127.0.0.1:5672//`). With
late acknowledgement a task whose worker is killed goes back to the queue the moment its
connection drops; Redis as a broker would hold it for the visibility timeout (an hour by default)
first. Redis (`SHOPBRIDGE_REDIS_URL`) holds what is shared and short-lived: the rate-limit
schedules (`http.ratelimit`), the queued marks and hints, the scheduler's due marks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import structlog

from shopbridge.engine.embedded import EmbeddedSweeper, build_app
from shopbridge.engine.metrics import EngineMetrics
from shopbridge.http.ratelimit import REDIS_URL_ENV, redis_client
from shopbridge.store import Store
from shopbridge.store.leases import LeaseLost, holder_name
from shopbridge.sync.base import Hint, SweepReport
from shopbridge.sync.context import ready_settings
from shopbridge.sync.status_poll import FULL_SWEEP, STATUS_POLL, StatusPollPlanner

log = structlog.get_logger("shopbridge.cluster")

BROKER_ENV = "SHOPBRIDGE_BROKER_URL"
CLUSTER_ENV = "SHOPBRIDGE_CLUSTER"  # names the queue and the Redis keys: several clusters, one broker
DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672//"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
SWEEP_TASK = "shopbridge.sweep"
QUEUED_TTL_S = 600  # a queued mark whose task was lost frees itself after this
BUSY_RETRY_S = 3.0
SCHEDULER_LEASE = "scheduler"
SCHEDULER_TTL = timedelta(seconds=15)


def cluster_name() -> str:
    return os.environ.get(CLUSTER_ENV, "").strip() or "shopbridge"


def broker_url() -> str:
    return os.environ.get(BROKER_ENV, "").strip() or DEFAULT_BROKER


def redis_url() -> str:
    return os.environ.get(REDIS_URL_ENV, "").strip() or DEFAULT_REDIS


# ---------------------------------------------------------------------- the queue
# KEYS: the last-time key. ARGV: interval ms, ttl ms. 1 (and the time kept) when the interval passed.
_DUE_SINCE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
if last >= 0 and now - last < tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], now, 'PX', tonumber(ARGV[2]))
return 1
"""


class SweepQueue:
    """Sweeps asked for, one queued task per connection at a time, hints gathered in Redis."""

    def __init__(self, celery: Any, redis: Any, *, prefix: str | None = None) -> None:
        self.celery = celery
        self.redis = redis
        self.prefix = prefix or cluster_name()

    def _queued(self, cid: str) -> str:
        return f"{self.prefix}:queued:{cid}"

    def _hints(self, cid: str) -> str:
        return f"{self.prefix}:hints:{cid}"

    def request(self, connection_id: str, hints: Iterable[Hint] = (), *, countdown: float = 0) -> bool:
        """Ask for a sweep of the connection (with `hints`); True when a task was enqueued, False when
        one is already waiting (it will see these hints too)."""
        cid = str(connection_id)
        refs = [f"{h.kind}:{h.ref}" for h in hints]
        if refs:
            pipe = self.redis.pipeline()
            pipe.sadd(self._hints(cid), *refs)
            pipe.expire(self._hints(cid), QUEUED_TTL_S * 6)
            pipe.execute()
        if not self.redis.set(self._queued(cid), "1", nx=True, ex=QUEUED_TTL_S):
            return False
        self.celery.send_task(SWEEP_TASK, args=[cid], queue=self.prefix, countdown=countdown or None)
        return True

    def take(self, connection_id: str) -> list[Hint]:
        """At the start of a sweep task: the hints gathered so far; later requests enqueue anew."""
        cid = str(connection_id)
        pipe = self.redis.pipeline()
        pipe.delete(self._queued(cid))
        pipe.spop(self._hints(cid), 10_000)
        _, raw = pipe.execute()
        out = []
        for item in raw or []:
            kind, _, ref = (item.decode() if isinstance(item, bytes) else str(item)).partition(":")
            out.append(Hint(kind, ref))
        return out

    def due_since(self, intervals: Mapping[str, float]) -> list[str]:
        """The names (name → interval in s) whose interval has passed since their last time here,
        whichever scheduler asks; one round trip for all of them.

        Unlike `due`, a shorter interval takes effect at once (a status poll turning hot)."""
        pipe = self.redis.pipeline(transaction=False)
        for name, interval_s in intervals.items():
            key = f"{self.prefix}:last:{name}"
            self._due_since(keys=[key], args=[int(interval_s * 1000), 24 * 3600 * 1000], client=pipe)
        return [name for name, passed in zip(intervals, pipe.execute(), strict=True) if passed]

    @property
    def _due_since(self) -> Any:
        script = getattr(self, "_due_since_script", None)
        if script is None:
            script = self._due_since_script = self.redis.register_script(_DUE_SINCE)
        return script

    def due(self, intervals: Mapping[str, float]) -> list[str]:
        """The connections (id → interval in s) whose interval has passed, each True once per its
        interval whichever scheduler asks (a Redis mark); one round trip for all of them."""
        pipe = self.redis.pipeline(transaction=False)
        for cid, interval_s in intervals.items():
            pipe.set(f"{self.prefix}:due:{cid}", "1", nx=True, px=max(int(interval_s * 1000), 1))
        return [cid for cid, marked in zip(intervals, pipe.execute(), strict=True) if marked]


def celery_app(broker: str | None = None) -> Any:
    """The Celery app (tasks acknowledged late, one prefetched at a time, results ignored)."""
    from celery import Celery

    app = Celery("shopbridge", broker=broker or broker_url())
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=cluster_name(),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    app.task(name=SWEEP_TASK, bind=True, ignore_result=True)(_sweep_task)
    return app


# ---------------------------------------------------------------------- worker
class WorkerRuntime:
    """One asyncio loop in a thread for the whole worker process; Celery's threads hand it sweeps."""

    def __init__(self, store: Store, queue: SweepQueue, **client_kw: Any) -> None:
        self.store = store
        self.queue = queue
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="shopbridge-loop", daemon=True)
        self.thread.start()
        self.sweeper = EmbeddedSweeper(store, worker="celery", **client_kw)
        self._locks: dict[str, asyncio.Lock] = {}

    def sweep(self, connection_id: str) -> SweepReport:
        """Take the connection's gathered hints and sweep it; a busy connection is asked for again."""
        hints = self.queue.take(connection_id)
        report = asyncio.run_coroutine_threadsafe(self._sweep(connection_id, hints), self.loop).result()
        if report.counts.get("busy"):
            self.queue.request(connection_id, hints, countdown=BUSY_RETRY_S)
        return report

    async def _sweep(self, connection_id: str, hints: list[Hint]) -> SweepReport:
        # one context per connection in this process: two tasks for it here take turns
        lock = self._locks.setdefault(connection_id, asyncio.Lock())
        async with lock:
            if not ready_settings(self.store, only=int(connection_id)):
                return SweepReport(connection_id)  # deleted, paused or not configured meanwhile
            return await self.sweeper.sweep(connection_id, hints)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.sweeper.aclose(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


_runtime: WorkerRuntime | None = None


def _sweep_task(task: Any, connection_id: str) -> dict[str, int]:
    if _runtime is None:
        raise RuntimeError("the shopbridge worker runtime is not started (run `shopbridge worker`)")
    report = _runtime.sweep(str(connection_id))
    return {k: v for k, v in report.counts.items() if v}


def run_worker(
    store: Store,
    *,
    concurrency: int = 4,
    broker: str | None = None,
    loglevel: str = "WARNING",
    **client_kw: Any,
) -> None:
    """Run a Celery worker until it is stopped (SIGTERM: warm shutdown, running sweeps finish).

    `client_kw` go to each connection's clients (e.g. `visma_timeout=10`)."""
    global _runtime
    app = celery_app(broker)
    queue = SweepQueue(app, redis_client(redis_url()))
    _runtime = WorkerRuntime(store, queue, **client_kw)
    try:
        app.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--concurrency={max(concurrency, 1)}",
                f"--loglevel={loglevel}",
                f"--queues={cluster_name()}",
                "--without-gossip",
                "--without-mingle",
                f"--hostname=shopbridge-{os.getpid()}@%h",
            ]
        )
    finally:
        _runtime.close()
        _runtime = None


# ---------------------------------------------------------------------- scheduler
async def schedule_once(
    store: Store,
    queue: SweepQueue,
    *,
    interval_s: float | None = None,
    status_polls: StatusPollPlanner | None = None,
) -> int:
    """Enqueue every connection whose interval has passed, and the status polls that are due
    (`sync/status_poll.py`; a status poll is a sweep with the hint `STATUS_POLL`); returns how many."""
    ready = ready_settings(store)
    due = queue.due({cid: interval_s or settings.poll_interval_s for cid, settings in ready.items()})
    n = sum(queue.request(cid, [FULL_SWEEP]) for cid in due)  # marked: a queued poll grows
    if status_polls is None:
        return n
    polls = {}
    for cid in ready:
        every = status_polls.interval(cid, lambda: ready)
        if every is not None:
            polls[f"{cid}:status"] = every
    for name in queue.due_since(polls):
        n += int(queue.request(name.removesuffix(":status"), [STATUS_POLL]))
    return n


async def run_scheduler(
    store: Store,
    queue: SweepQueue,
    stop: asyncio.Event,
    *,
    tick_s: float = 1.0,
    interval_s: float | None = None,
    on_leader: Any = None,
) -> None:
    """Lead (hold the `scheduler` lease) or wait to; the leader enqueues due sweeps every `tick_s`."""
    holder = holder_name("scheduler")
    lease = None
    status_polls = StatusPollPlanner(store, poll_interval_s=interval_s)
    while not stop.is_set():
        try:
            if lease is None:
                lease = store.leases.acquire(SCHEDULER_LEASE, holder, SCHEDULER_TTL)
                if lease is not None:
                    log.info("scheduler.leading", holder=holder)
                    if on_leader is not None:
                        on_leader()
            else:
                lease = store.leases.renew(lease, SCHEDULER_TTL)
            if lease is not None:
                await schedule_once(store, queue, interval_s=interval_s, status_polls=status_polls)
        except LeaseLost:
            log.warning("scheduler.lost_lead")
            lease = None
        except Exception as exc:  # the broker, Redis or the database blinked: try again next tick
            log.warning("scheduler.tick_failed", error=type(exc).__name__, detail=str(exc)[:300])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), tick_s)
    if lease is not None:
        store.leases.release(lease)


# ---------------------------------------------------------------------- web
class QueueEngine:
    """What the web app needs from an engine, backed by the queue: hooks become queued sweeps."""

    def __init__(self, queue: SweepQueue) -> None:
        self.queue = queue
        self.metrics = EngineMetrics()
        self.running = True
        self.started = time.time()

    def hint(self, connection_id: str, hint: Hint | None = None) -> None:
        if hint is not None:
            self.metrics.hints.labels(connection_id, hint.kind).inc()
        self.queue.request(connection_id, [hint] if hint is not None else [])

    def wake(self, connection_id: str) -> None:
        self.hint(connection_id, None)

    def status(self) -> list[Any]:
        return []

    async def run(self, stop: asyncio.Event) -> None:
        await stop.wait()


async def run_web(
    store: Store,
    queue: SweepQueue,
    *,
    host: str = "127.0.0.1",
    port: int = 8100,
    stop: asyncio.Event | None = None,
    on_ready: Any = None,
    public_url: str | None = None,
) -> None:
    """Serve web hooks, the OAuth callback, /healthz, /metrics and the portal until `stop` (or a signal).

    The portal's notifications are sent by one web process at a time (the lease `notifier`).
    """
    import signal

    from shopbridge.web.portal import PortalConfig, create_portal
    from shopbridge.web.server import serve_engine

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    engine = QueueEngine(queue)
    portal = create_portal(store, engine=engine, config=PortalConfig.from_env(public_url=public_url))
    app = build_app(EmbeddedSweeper(store), engine, portal)  # type: ignore[arg-type]  # as `run` serves it
    notifier = asyncio.ensure_future(_notify_while_leading(store, portal.state.portal, stop))
    try:
        await serve_engine(engine, app, host, port, stop, on_ready=on_ready)  # type: ignore[arg-type]
    finally:
        notifier.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await notifier


async def _notify_while_leading(store: Store, portal: Any, stop: asyncio.Event) -> None:
    holder = holder_name("notifier")
    lease = None
    interval = portal.config.notify_interval_s
    ttl = timedelta(seconds=max(interval * 3, 30))
    while not stop.is_set():
        try:
            if lease is None:
                lease = store.leases.acquire("notifier", holder, ttl)
            else:
                lease = store.leases.renew(lease, ttl)
            if lease is not None:
                await portal.notifier.run_once()
                await asyncio.to_thread(store.web_sessions.purge)
        except LeaseLost:
            lease = None
        except Exception:
            log.exception("web.notifications_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
    if lease is not None:
        store.leases.release(lease)
