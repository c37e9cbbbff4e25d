"""`shopbridge run`: the embedded engine, one process, one port.

Every configured connection is swept on its schedule and on web hook hints, one sweep per
connection at a time (`Engine`). The same port serves the Starweb web hook receiver
(`/hooks/starweb/{connection}/{secret}`), `/healthz` and `/metrics`. With a public URL the hooks are
registered in each shop (idempotently, so restarts add nothing). Connection contexts (clients,
tokens, reference data) stay open between sweeps; settings are re-read before each sweep, so
`shopbridge connection set` takes effect without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
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
from shopbridge.sync.context import WEBHOOK_SECRET, ConnectionContext, NotConfigured, open_context
from shopbridge.sync.flows import sweep_connection
from shopbridge.sync.settings import ConnectionSettings
from shopbridge.web.app import create_web_app, secret_resolver
from shopbridge.web.server import serve_engine

log = structlog.get_logger("shopbridge.engine")


class EmbeddedSweeper:
    """Runs the flows of one connection per call; keeps each connection's context open."""

    def __init__(self, store: Store, **client_kw: Any) -> None:
        self.store = store
        self.client_kw = client_kw
        self.contexts: dict[str, ConnectionContext] = {}

    def connections(self) -> list[str]:
        """Ids of the connections that are configured and not paused."""
        ready = []
        for c in self.store.connections.all(include_paused=False):
            # a further shop of a Visma company (multishop) uses the consent of the connection it joined
            root = c.id if c.parent_id is None else self.store.connections.root(c.id).id
            kinds = self.store.secrets.kinds
            if "starweb" in kinds(c.id) and "visma_tokens" in kinds(root):
                ready.append(str(c.id))
        return ready

    def context(self, connection_id: str) -> ConnectionContext:
        ctx = self.contexts.get(connection_id)
        if ctx is None:
            ctx = open_context(self.store, int(connection_id), **self.client_kw)
            self.contexts[connection_id] = ctx
        else:
            conn = self.store.connections.get(int(connection_id))
            ctx.settings = ConnectionSettings.model_validate(conn.settings or {})
        return ctx

    async def sweep(self, connection_id: str, hints: Iterable[Hint]) -> SweepReport:
        ctx = self.context(connection_id)
        report = await sweep_connection(ctx, list(hints))
        log.info("sweep.done", connection=ctx.name, **{k: v for k, v in report.counts.items() if v})
        return report

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


def build_app(sweeper: EmbeddedSweeper, engine: Engine, portal: Any = None) -> Any:
    """The engine's web app (hooks, /healthz, /metrics) with the portal (a FastAPI app) mounted on `/`."""
    store = sweeper.store

    def expected_secret(connection_id: str) -> str | None:
        if not connection_id.isdigit():
            return None
        secret = store.secrets.get(int(connection_id), WEBHOOK_SECRET)
        return secret if isinstance(secret, str) else None

    def dedupe(connection_id: str, uuid: str, payload: dict[str, Any]) -> bool:
        return store.webhooks.record(int(connection_id), uuid, payload)

    def health() -> dict[str, Any]:
        return {"ok": True, "transfers": store.transfers.counts()}

    app = create_web_app(engine, resolve_hook=secret_resolver(expected_secret), dedupe=dedupe, health=health)
    if portal is not None:
        app.mount("/", portal)
    return app


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
    local_hooks: bool = False,
    portal_config: Any = None,
    **client_kw: Any,
) -> None:
    """Run until `stop` is set or SIGINT/SIGTERM arrives; running sweeps finish first.

    `public_url`: where Starweb reaches this process; hooks are registered there. `local_hooks`:
    register hooks at this process's own local address (the demo, whose shop runs on this machine).
    The portal (``web/portal``) is served on the same port, configured by `portal_config`
    (default: ``PortalConfig.from_env()``), and its notifications run beside the engine.
    """
    import signal

    from shopbridge.web.portal import PortalConfig, create_portal

    stop = stop or asyncio.Event()
    sweeper = EmbeddedSweeper(store, **client_kw)
    conns = store.connections.all()
    intervals = [ConnectionSettings.model_validate(c.settings or {}).poll_interval_s for c in conns]
    interval = interval_s or min(intervals, default=60.0)
    engine = Engine(sweeper.sweep, sweeper.connections, interval_s=interval, debounce_s=0.1)
    config = portal_config or PortalConfig.from_env(public_url=public_url)
    if not config.client_kw:
        config.client_kw = dict(client_kw)
    portal = create_portal(store, engine=engine, config=config)
    app = build_app(sweeper, engine, portal)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)

    background: set[asyncio.Future[None]] = set()

    def ready(bound: int) -> None:
        base = public_url or f"http://{host}:{bound}"
        if console is not None:
            console.print(
                f"engine listening on http://{host}:{bound} (portal, /healthz, /metrics, web hooks)"
            )
        if public_url is None and local_hooks:
            background.add(asyncio.ensure_future(register_hooks(sweeper, base)))
        if on_ready is not None:
            on_ready(bound)

    if public_url:
        await register_hooks(sweeper, public_url)
    background.add(asyncio.ensure_future(portal.state.portal.run_background(stop)))
    try:
        await serve_engine(engine, app, host, port, stop, on_ready=ready)
    finally:
        for task in background:
            task.cancel()
        await sweeper.aclose()
