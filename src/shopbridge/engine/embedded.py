"""`shopbridge run`: the embedded engine, one process.

Every configured connection is swept on its schedule and on web hook hints, one sweep per
connection at a time (`Engine`). The public port serves the Starweb web hook receiver
(`/hooks/starweb/{connection}/{secret}`) and Visma's OAuth callback (`/oauth/visma/callback`, which
finishes a consent started with `connect visma --redirect-uri https://HOST/oauth/visma/callback`).
`/healthz` and `/metrics` are served on a separate operations port bound to loopback (`ops_host`,
`ops_port`), and on the public port only with a bearer token (`ops_token`). With a public URL the
hooks are registered in each shop (idempotently, so restarts add nothing). Once a day each
connection's journal, web hooks and old customer data are purged after its `retention_days`, and its
running and previous month are reconciled after a sweep (`EmbeddedSweeper.reconcile`).
Connection contexts (clients, tokens, reference data) stay open between sweeps; settings are re-read
before each sweep, so `shopbridge connection set` takes effect without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import ipaddress
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from shopbridge.engine.hooks import (
    HOOKS_CURSOR,
    hook_events,
    hook_url,
    new_hook_secret,
    redact_hook_url,
    register_starweb_hooks,
)
from shopbridge.engine.runner import Engine
from shopbridge.store import Store
from shopbridge.sync.base import Hint, SweepReport
from shopbridge.sync.context import (
    WEBHOOK_SECRET,
    ConnectionContext,
    NotConfigured,
    effective_settings,
    open_context,
    ready_settings,
)
from shopbridge.sync.flows import sweep_connection
from shopbridge.sync.status_poll import StatusPollPlanner
from shopbridge.web.app import create_ops_app, create_web_app, secret_resolver
from shopbridge.web.server import bind_socket, serve_engine

log = structlog.get_logger("shopbridge.engine")


class EmbeddedSweeper:
    """Runs the flows of one connection per call; keeps each connection's context open."""

    def __init__(
        self, store: Store, *, reconcile_every: timedelta = timedelta(days=1), **client_kw: Any
    ) -> None:
        self.store = store
        self.reconcile_every = reconcile_every
        self.client_kw = client_kw
        self.contexts: dict[str, ConnectionContext] = {}
        self.status_polls = StatusPollPlanner(store)

    def status_interval(self, connection_id: str) -> float | None:
        """Seconds until the connection's next status poll (`sync/status_poll.py`); None: none."""
        return self.status_polls.interval(connection_id, lambda: ready_settings(self.store))

    def connections(self) -> list[str]:
        """Ids of the connections that are configured and not paused."""
        return list(ready_settings(self.store))

    def context(self, connection_id: str) -> ConnectionContext:
        ctx = self.contexts.get(connection_id)
        if ctx is None:
            ctx = open_context(self.store, int(connection_id), **self.client_kw)
            ctx.status_polls = True  # Visma's status changes are read by the status polls we schedule
            self.contexts[connection_id] = ctx
        else:
            conn = self.store.connections.get(int(connection_id))
            ctx.settings = effective_settings(self.store, conn)
        return ctx

    async def sweep(self, connection_id: str, hints: Iterable[Hint]) -> SweepReport:
        ctx = self.context(connection_id)
        report = await sweep_connection(ctx, list(hints))
        if any(n and (k == "transferred" or k.startswith("event_")) for k, n in report.counts.items()):
            self.status_polls.stale()  # its next status poll comes by the new activity, not the old
        log.info("sweep.done", connection=ctx.name, **{k: v for k, v in report.counts.items() if v})
        await self.reconcile(ctx)
        return report

    async def reconcile(self, ctx: ConnectionContext) -> None:
        """Once a day per connection, after a sweep: the running and previous month reconciled, each
        difference put on its order (`sync/reconcile.py`). Celery workers run it too (they sweep here)."""
        from shopbridge.sync.reconcile import reconcile_due

        try:
            await reconcile_due(ctx, every=self.reconcile_every, first_at_once=False)
        except Exception as exc:  # proof-reading must never stop the engine; it is tried again tomorrow
            log.error(
                "reconcile.failed", connection=ctx.name, error=type(exc).__name__, detail=str(exc)[:300]
            )

    async def aclose(self) -> None:
        for ctx in self.contexts.values():
            await ctx.aclose()
        self.contexts.clear()


def hook_secret(store: Store, connection_id: int) -> str:
    """The connection's web hook secret, created on first use (stored encrypted)."""
    secret = store.secrets.get(connection_id, WEBHOOK_SECRET)
    if not isinstance(secret, str):
        secret = new_hook_secret()
        store.secrets.put(connection_id, WEBHOOK_SECRET, secret)
    return secret


async def register_hooks(sweeper: EmbeddedSweeper, public_url: str) -> None:
    """Make every connection's shop call our receiver on order (and product) events (idempotent)."""
    for cid in sweeper.connections():
        url = hook_url(public_url, cid, hook_secret(sweeper.store, int(cid)))
        try:
            ctx = sweeper.context(cid)
            events = hook_events(ctx.settings)
            done = await register_starweb_hooks(ctx.starweb, url, events)
            sweeper.store.cursors.set(int(cid), HOOKS_CURSOR, datetime.now(UTC).isoformat())
            log.info("hooks.registered", connection=cid, url=redact_hook_url(url), created=done.created)
        except (NotConfigured, Exception) as exc:  # hooks are hints: polling still finds everything
            log.warning("hooks.not_registered", connection=cid, error=str(exc))


MAX_HINTS_PER_CONNECTION = 100
"""Hints kept per connection; beyond them the next sweep is a full one (see `Engine`)."""
PURGE_EVERY_S = 24 * 3600.0
OPS_PORT = 8180
"""The default operations port (`/healthz`, `/metrics`), bound to 127.0.0.1."""


def build_app(
    sweeper: EmbeddedSweeper, engine: Engine, portal: Any = None, *, ops_token: str | None = None
) -> Any:
    """The public app: hooks, the OAuth callback, `/healthz`/`/metrics` only behind `ops_token`, and
    the portal (a FastAPI app) mounted on `/`."""
    store = sweeper.store

    def expected_secret(connection_id: str) -> str | None:
        if not connection_id.isdigit():
            return None
        secret = store.secrets.get(int(connection_id), WEBHOOK_SECRET)
        return secret if isinstance(secret, str) else None

    def dedupe(connection_id: str, uuid: str, payload: dict[str, Any]) -> bool:
        return store.webhooks.record(int(connection_id), uuid, payload)

    async def oauth_callback(request: Any) -> Any:
        from fastapi.responses import HTMLResponse

        from shopbridge.onboarding import finish_consent

        q = request.query_params
        if not (q.get("code") or q.get("error")):  # a stray request (a favicon, a probe): not an answer
            return HTMLResponse("<p>shopbridge: not a consent answer.</p>", status_code=400)
        try:
            conn = await finish_consent(store, q.get("state"), code=q.get("code"), error=q.get("error"))
        except Exception as exc:
            log.warning("oauth.callback_refused", error=type(exc).__name__)
            text = html.escape(str(exc))
            return HTMLResponse(f"<p>shopbridge could not finish the consent: {text}</p>", status_code=400)
        log.info("oauth.connected", connection=conn.name)
        return None  # the standard "connected" page

    engine.metrics.watch_store(store, engine)
    app = create_web_app(
        engine,
        resolve_hook=secret_resolver(expected_secret),
        dedupe=dedupe,
        oauth_callback=oauth_callback,
        health=_health(store),
        ops_token=ops_token,
    )
    if portal is not None:
        app.mount("/", portal)
    return app


def _health(store: Store) -> Callable[[], dict[str, Any]]:
    def health() -> dict[str, Any]:
        return {"ok": True, "transfers": store.transfers.counts()}

    return health


def purge_old_data(store: Store) -> int:
    """Run the retention purge for every connection (its `retention_days`); returns rows purged."""
    from shopbridge.store.retention import purge

    total = 0
    for conn in store.connections.all():
        days = effective_settings(store, conn).retention_days
        done = purge(store, conn.id, timedelta(days=days))
        if done.total:
            log.info("retention.purged", connection=conn.name, days=days, **done.__dict__)
        total += done.total
    return total


async def _purge_daily(store: Store, stop: asyncio.Event, every_s: float) -> None:
    while not stop.is_set():
        try:
            await asyncio.to_thread(purge_old_data, store)
        except Exception as exc:  # housekeeping must never stop the engine
            log.error("retention.failed", error=type(exc).__name__, detail=str(exc)[:300])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def run_embedded(
    store: Store,
    *,
    host: str = "127.0.0.1",
    port: int = 8100,
    public_url: str | None = None,
    interval_s: float | None = None,
    console: Any = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[int], None] | None = None,
    on_ops_ready: Callable[[int], None] | None = None,
    local_hooks: bool = False,
    ops_host: str = "127.0.0.1",
    ops_port: int | None = 0,
    ops_token: str | None = None,
    purge_every_s: float = PURGE_EVERY_S,
    portal_config: Any = None,
    **client_kw: Any,
) -> None:
    """Run until `stop` is set or SIGINT/SIGTERM arrives; running sweeps finish first.

    `public_url`: where Starweb reaches this process; hooks are registered there. `local_hooks`:
    register hooks at this process's own local address (the demo, whose shop runs on this machine).
    `ops_port`: the port of `/healthz` and `/metrics` on `ops_host` (0: any free port, reported to
    `on_ops_ready`; None: no operations port). An `ops_host` other than loopback needs `ops_token`.
    The portal (``web/portal``) is served on the public port, configured by `portal_config`
    (default: ``PortalConfig.from_env()``), and its notifications run beside the engine.
    """
    import signal

    from shopbridge.web.portal import PortalConfig, create_portal

    if ops_port is not None and not is_loopback(ops_host) and not ops_token:
        raise ValueError(
            f"--ops-host {ops_host} is not loopback: /healthz and /metrics would answer anyone; set "
            "--ops-token (or SHOPBRIDGE_OPS_TOKEN), or keep --ops-host 127.0.0.1"
        )
    stop = stop or asyncio.Event()
    sweeper = EmbeddedSweeper(store, **client_kw)
    conns = store.connections.all()
    intervals = [effective_settings(store, c).poll_interval_s for c in conns]
    interval = interval_s or min(intervals, default=60.0)
    sweeper.status_polls.poll_interval_s = interval_s  # an override of the settings' poll_interval_s
    engine = Engine(
        sweeper.sweep,
        sweeper.connections,
        interval_s=interval,
        debounce_s=0.1,
        max_pending_hints=MAX_HINTS_PER_CONNECTION,
        status_interval=sweeper.status_interval,
    )
    config = portal_config or PortalConfig.from_env(public_url=public_url)
    if not config.client_kw:
        config.client_kw = dict(client_kw)
    portal = create_portal(store, engine=engine, config=config)
    app = build_app(sweeper, engine, portal, ops_token=ops_token)
    extra = []
    ops_sock = None
    if ops_port is not None:
        ops_sock = bind_socket(ops_host, ops_port)
        extra.append((create_ops_app(engine, health=_health(store), token=ops_token), ops_sock))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)

    background: set[asyncio.Future[None]] = set()

    def ready(bound: int) -> None:
        base = public_url or f"http://{host}:{bound}"
        if console is not None:
            console.print(
                f"engine listening on http://{host}:{bound} (portal, web hooks, /oauth/visma/callback)"
            )
            if ops_sock is not None:
                ops = ops_sock.getsockname()[1]
                console.print(f"operations: http://{ops_host}:{ops}/healthz and /metrics")
        if public_url is None and local_hooks:
            background.add(asyncio.ensure_future(register_hooks(sweeper, base)))
        if on_ops_ready is not None and ops_sock is not None:
            on_ops_ready(int(ops_sock.getsockname()[1]))
        if on_ready is not None:
            on_ready(bound)

    if public_url:
        await register_hooks(sweeper, public_url)
    purger = asyncio.ensure_future(_purge_daily(store, stop, purge_every_s))
    background.add(asyncio.ensure_future(portal.state.portal.run_background(stop)))
    try:
        await serve_engine(engine, app, host, port, stop, on_ready=ready, extra=extra)
    finally:
        stop.set()
        await asyncio.gather(purger, return_exceptions=True)
        for task in background:
            task.cancel()
        await sweeper.aclose()
        if ops_sock is not None:
            with contextlib.suppress(OSError):
                ops_sock.close()
