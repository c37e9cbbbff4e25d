"""One connection, ready to sweep: its settings, its decrypted credentials, its two clients.

Secrets stay in the store, encrypted; they are decrypted here only to build the clients and are
never logged. Visma's rotating token pair is kept through `StoreTokenStore`, which writes the new
pair in one transaction before the client uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from shopbridge.plugins import Plugins
from shopbridge.starweb.client import StarwebClient
from shopbridge.store import Store
from shopbridge.store.leases import holder_name
from shopbridge.store.schema import Connection
from shopbridge.sync.settings import COMPANY_SETTINGS, ConnectionSettings
from shopbridge.visma.client import VismaClient
from shopbridge.visma.oauth import TokenSet, VismaOAuth

STARWEB_SECRET = "starweb"  # {"client_id", "client_secret"}
VISMA_APP_SECRET = "visma_app"  # {"client_id", "client_secret", "redirect_uri"}
VISMA_TOKENS = "visma_tokens"  # TokenSet.to_dict()
WEBHOOK_SECRET = "webhook_secret"  # str

_token_locks: dict[tuple[str, int], asyncio.Lock] = {}
OAUTH_LEASE_TTL = timedelta(seconds=120)  # longer than one token request with its retries


class NotConfigured(RuntimeError):
    """The connection lacks credentials for one side; the message says which command fixes it."""


class StoreTokenStore:
    """Visma's token pair in the store's encrypted secrets, one row, replaced atomically.

    `lock()` serialises refreshes of the rotating pair in the database (the lease
    `oauth:<connection id>`), so every process on every machine refreshes one at a time; within a
    process an asyncio lock queues the tasks first.
    """

    def __init__(self, store: Store, connection_id: int) -> None:
        self.store = store
        self.connection_id = connection_id

    async def load(self) -> TokenSet | None:
        raw = self.store.secrets.get(self.connection_id, VISMA_TOKENS)
        return TokenSet.from_dict(raw) if isinstance(raw, dict) else None

    async def save(self, tokens: TokenSet) -> None:
        self.store.secrets.put(self.connection_id, VISMA_TOKENS, tokens.to_dict())

    async def clear(self) -> None:
        self.store.secrets.delete(self.connection_id, VISMA_TOKENS)

    @contextlib.asynccontextmanager
    async def lock(self) -> AsyncIterator[None]:
        key = (self.store.url, self.connection_id)
        lock = _token_locks.setdefault(key, asyncio.Lock())
        name = f"oauth:{self.connection_id}"
        async with lock, self.store.leases.held(name, holder_name("oauth"), OAUTH_LEASE_TTL, wait_s=150):
            yield


@dataclass
class ConnectionContext:
    """Everything a flow needs for one connection. Close it with `aclose()` (or `async with`)."""

    store: Store
    connection: Connection
    settings: ConnectionSettings
    starweb: StarwebClient
    visma: VismaClient
    worker: str = "embedded"
    cache: dict[str, Any] = field(default_factory=dict)  # reference data kept between sweeps
    plugins: Plugins = None  # type: ignore[assignment]  # built once: default the settings' mappings only
    lease: Any = None  # the connection's sweep lease while a sweep holds it (`sync.sweep_lease`)
    # a runner polls Visma's status changes on their own schedule (`sync/status_poll.py`): the full
    # sweep then leaves that to the status polls (the CLI's `sync` reads everything every time)
    status_polls: bool = False

    def __post_init__(self) -> None:
        if self.plugins is None:
            self.plugins = Plugins.declarative_only(self.settings, self.visma)

    @property
    def id(self) -> int:
        return self.connection.id

    @property
    def name(self) -> str:
        return self.connection.name

    @property
    def api_calls(self) -> int:
        """HTTP requests sent by both clients so far."""
        return self.starweb.total_calls + self.visma.total_calls

    async def aclose(self) -> None:
        await self.starweb.aclose()
        await self.visma.aclose()
        await self.visma.oauth.aclose()

    async def __aenter__(self) -> ConnectionContext:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def visma_oauth(store: Store, conn: Connection, **kw: Any) -> VismaOAuth:
    """The OAuth helper of a connection, with its token pair in the store."""
    app = store.secrets.get(conn.id, VISMA_APP_SECRET)
    if not isinstance(app, dict):
        raise NotConfigured(f"connection {conn.name!r} has no Visma app: run `shopbridge connect visma`")
    extra = {"identity_url": conn.visma_identity_url} if conn.visma_identity_url else {}
    return VismaOAuth(
        app["client_id"],
        app["client_secret"],
        app.get("redirect_uri") or "http://127.0.0.1:8765/callback",
        token_store=StoreTokenStore(store, conn.id),
        **extra,
        **kw,
    )


def effective_settings(store: Store, conn: Connection) -> ConnectionSettings:
    """A connection's settings; a further shop's own settings over those of the connection it belongs to."""
    root = conn if conn.parent_id is None else store.connections.get(conn.parent_id)
    return merged_settings(conn, root)


def merged_settings(conn: Connection, root: Connection) -> ConnectionSettings:
    """`effective_settings` when the connection's root (`root`, itself unless a further shop) is at hand."""
    if conn.parent_id is None:
        return ConnectionSettings.model_validate(conn.settings or {})
    own = {k: v for k, v in (conn.settings or {}).items() if k not in COMPANY_SETTINGS}
    return ConnectionSettings.model_validate({**(root.settings or {}), **own})


def ready_settings(store: Store, *, only: int | None = None) -> dict[str, ConnectionSettings]:
    """Every connection that is configured on both sides and not paused (a further shop of a Visma
    company uses the consent of the connection it joined), by id, with its effective settings; with
    `only`, that connection alone if it is ready.

    Two queries whatever the number of connections: the scheduler and the workers ask often."""
    conns = {c.id: c for c in store.connections.all()}
    kinds = store.secrets.kinds_by_connection()
    out: dict[str, ConnectionSettings] = {}
    for c in conns.values():
        if only is not None and c.id != only:
            continue
        root = conns.get(c.parent_id) if c.parent_id is not None else c
        if c.paused or root is None:
            continue
        if STARWEB_SECRET in kinds.get(c.id, ()) and VISMA_TOKENS in kinds.get(root.id, ()):
            out[str(c.id)] = merged_settings(c, root)
    return out


def open_context(
    store: Store, name_or_id: str | int, *, worker: str = "embedded", **client_kw: Any
) -> ConnectionContext:
    """Build the context of a connection from the store (raises `NotConfigured` when incomplete)."""
    conn = store.connections.find(name_or_id)
    root = store.connections.root(conn.id)  # holds the Visma consent (itself, unless a further shop)
    settings = effective_settings(store, conn)
    sw = store.secrets.get(conn.id, STARWEB_SECRET)
    if not isinstance(sw, dict) or not conn.starweb_base_url:
        raise NotConfigured(f"connection {conn.name!r} has no Starweb shop: run `shopbridge connect starweb`")
    if store.secrets.get(root.id, VISMA_TOKENS) is None:
        raise NotConfigured(f"connection {conn.name!r} has no Visma consent: `shopbridge connect visma`")
    starweb_kw = {k: v for k, v in client_kw.items() if k.startswith("starweb_")}
    visma_kw = {k: v for k, v in client_kw.items() if k.startswith("visma_")}
    starweb = StarwebClient(
        conn.starweb_base_url,
        sw["client_id"],
        sw["client_secret"],
        **{k.removeprefix("starweb_"): v for k, v in starweb_kw.items()},
    )
    visma_extra = {k.removeprefix("visma_"): v for k, v in visma_kw.items()}
    if root.visma_api_base:
        visma_extra.setdefault("api_base", root.visma_api_base)
    if settings.visma_rate_scope == "company":  # the company is the connection holding the consent
        visma_extra.setdefault("rate_scope", f"company-{root.id}")
    if len(store.connections.shops(conn.id)) > 1:  # several shops: the company's change lists read once
        visma_extra.setdefault("shared_reads", ((store.url, root.id), conn.id))
    visma = VismaClient(visma_oauth(store, root), **visma_extra)
    plugins = Plugins.load(settings, data_dir=store.data_dir, visma=visma)
    return ConnectionContext(store, conn, settings, starweb, visma, worker=worker, plugins=plugins)
