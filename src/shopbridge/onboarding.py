"""Making a connection: the same steps for the CLI, the demo and the tests.

`connect_starweb` checks the shop's credentials against the shop before storing them (encrypted).
`connect_visma` runs the OAuth authorization-code flow: it catches the redirect on a local callback
server (or takes a code pasted by the user), checks `state`, exchanges the code and stores the token
pair encrypted. `ensure_service_articles` creates the shipping, fee and discount articles a
company lacks, so the first orders do not wait for them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from shopbridge.domain.models import Warning
from shopbridge.starweb.client import StarwebClient
from shopbridge.store import ConnectionExists, Store
from shopbridge.store.schema import Connection
from shopbridge.sync.context import (
    STARWEB_SECRET,
    VISMA_APP_SECRET,
    ConnectionContext,
    StoreTokenStore,
    effective_settings,
)
from shopbridge.sync.payments import scopes_for
from shopbridge.sync.reference import ReferenceData
from shopbridge.sync.settings import ConnectionSettings
from shopbridge.sync.shops import reference_clash
from shopbridge.visma.oauth import VismaOAuth

STARWEB_URL = "https://{shop_id}.starwebserver.se/api/v2"


async def connect_starweb(
    store: Store,
    name: str,
    *,
    base_url: str,
    client_id: str,
    client_secret: str,
    settings: dict[str, Any] | None = None,
    shop_of: str | None = None,
) -> Connection:
    """Create (or update) connection `name` for a Starweb shop, after checking the credentials work.

    `shop_of` names the connection whose Visma company this further shop joins (multishop): the new
    connection shares its Visma consent, plan and quota, and stores only the settings it changes
    (`product_master` false unless given: one shop's products become the Visma articles).
    """
    async with StarwebClient(base_url, client_id, client_secret) as client:
        await client.get_shop()  # raises AuthenticationError / TransportError with a clear message
    parent = store.connections.root(store.connections.find(shop_of).id) if shop_of else None
    own = dict(settings or {})
    if parent is not None:
        own.setdefault("product_master", False)
        own.setdefault("reference_prefix", f"{name} ")  # references must tell the shops' orders apart
        ConnectionSettings.model_validate({**(parent.settings or {}), **own})  # refuse bad settings now
        clash = reference_clash(store, parent, own["reference_prefix"], joining=True)
        if clash and not _is_member(store, parent, name):
            raise ValueError(clash)
    else:
        own = ConnectionSettings.model_validate(own).model_dump(mode="json")
    try:
        conn = store.connections.create(
            name,
            starweb_base_url=base_url,
            settings=own,
            parent_id=parent.id if parent is not None else None,
        )
    except ConnectionExists:
        conn = store.connections.find(name)
        store.connections.update(conn.id, starweb_base_url=base_url)
        if settings:
            store.connections.update_settings(conn.id, settings)
    store.secrets.put(conn.id, STARWEB_SECRET, {"client_id": client_id, "client_secret": client_secret})
    return store.connections.get(conn.id)


def _is_member(store: Store, parent: Connection, name: str) -> bool:
    """Whether `name` is already a shop of `parent`'s company (connecting it again changes nothing)."""
    return any(c.name == name for c in store.connections.shops(parent.id))


@dataclass
class CallbackResult:
    code: str | None = None
    state: str | None = None
    error: str | None = None


class CallbackServer:
    """A one-shot local HTTP server that catches the OAuth redirect (`/callback?code=...&state=...`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        result = CallbackResult()
        done = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                result.code = (query.get("code") or [None])[0]
                result.state = (query.get("state") or [None])[0]
                result.error = (query.get("error") or [None])[0]
                ok = result.code is not None
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                text = (
                    "shopbridge is connected to Visma. You can close this tab." if ok else "Consent failed."
                )
                self.wfile.write(f"<html><body><p>{text}</p></body></html>".encode())
                done.set()

            def log_message(self, *args: Any) -> None:  # keep codes out of the console
                return

        self._server = HTTPServer((host, port), Handler)
        self.result = result
        self._done = done
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def redirect_uri(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/callback"

    async def wait(self, timeout: float) -> CallbackResult:
        ok = await asyncio.to_thread(self._done.wait, timeout)
        if not ok:
            raise TimeoutError(f"no answer from Visma's consent page within {timeout:.0f} s")
        return self.result

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


OpenUrl = Callable[[str], Awaitable[None] | None]


async def connect_visma(
    store: Store,
    connection: str | int,
    *,
    client_id: str,
    client_secret: str,
    identity_url: str | None = None,
    api_base: str | None = None,
    code: str | None = None,
    redirect_uri: str | None = None,
    open_url: OpenUrl | None = None,
    timeout: float = 300.0,
    callback_port: int = 0,
    scopes: tuple[str, ...] | None = None,
) -> Connection:
    """Authorise the connection in Visma and store the token pair (encrypted).

    Without `code`: start a local callback server, hand the authorize URL to `open_url` (a browser,
    or in the demo an HTTP client that follows the sandbox's auto-consent), wait for the redirect,
    check `state`, exchange the code. With `code` (pasted by the user): exchange it for `redirect_uri`.
    `scopes` default to what the connection's settings need (`payments.scopes_for`: ea:purchase too
    when it registers payments); connecting again with more scopes is the re-consent.
    """
    conn = store.connections.find(connection)
    if scopes is None:
        scopes = consent_scopes(store, conn)
    fields: dict[str, Any] = {}
    if identity_url:
        fields["visma_identity_url"] = identity_url
    if api_base:
        fields["visma_api_base"] = api_base
    if fields:
        conn = store.connections.update(conn.id, **fields)
    server = None if code else CallbackServer(port=callback_port)
    uri = redirect_uri or (server.redirect_uri if server else "http://127.0.0.1:8765/callback")
    store.secrets.put(
        conn.id,
        VISMA_APP_SECRET,
        {"client_id": client_id, "client_secret": client_secret, "redirect_uri": uri},
    )
    extra = {"identity_url": conn.visma_identity_url} if conn.visma_identity_url else {}
    oauth = VismaOAuth(
        client_id, client_secret, uri, token_store=StoreTokenStore(store, conn.id), scopes=scopes, **extra
    )
    try:
        if server is not None:
            url, state = oauth.authorize_url()
            if open_url is not None:
                opened = open_url(url)
                if asyncio.iscoroutine(opened):
                    await opened
            result = await server.wait(timeout)
            if result.error or not result.code:
                raise PermissionError(f"Visma consent was not given ({result.error or 'no code'})")
            oauth.check_state(state, result.state)
            code = result.code
        await oauth.exchange_code(code or "")
    finally:
        if server is not None:
            server.close()
        await oauth.aclose()
    return store.connections.get(conn.id)


def consent_scopes(store: Store, conn: Connection) -> tuple[str, ...]:
    """The scopes connection `conn` asks Visma for: its own needs and those of the shops joining it."""
    needed: dict[str, None] = {}
    for shop in store.connections.shops(conn.id):
        needed.update(dict.fromkeys(scopes_for(effective_settings(store, shop))))
    return tuple(needed)


async def consent_in_sandbox(url: str) -> None:
    """What a person does in the browser: open Visma's consent page; the sandbox approves and redirects."""
    async with httpx.AsyncClient(follow_redirects=True, timeout=30) as client:
        await client.get(url)


async def connect_sandboxes(
    store: Store,
    name: str,
    *,
    starweb_url: str,
    visma_url: str,
    settings: dict[str, Any] | None = None,
    timeout: float = 60.0,
) -> Connection:
    """Connection `name` to a Starweb and a Visma sandbox with their default credentials, made exactly
    like a user makes one (credentials checked, OAuth consent, redirect, state, code exchange)."""
    from shopbridge.sandbox.common import defaults as d

    await connect_starweb(
        store,
        name,
        base_url=f"{starweb_url}/api/v2",
        client_id=d.STARWEB_CLIENT_ID,
        client_secret=d.STARWEB_CLIENT_SECRET,
        settings=settings,
    )
    return await connect_visma(
        store,
        name,
        client_id=d.VISMA_CLIENT_ID,
        client_secret=d.VISMA_CLIENT_SECRET,
        identity_url=visma_url,
        api_base=f"{visma_url}/v2",
        open_url=consent_in_sandbox,
        timeout=timeout,
    )


async def ensure_service_articles(ctx: ConnectionContext) -> list[Warning]:
    """Create the shipping, payment-fee and discount articles the settings name but Visma lacks."""
    ref = ctx.cache.setdefault("reference", ReferenceData(ctx.starweb, ctx.visma))
    await ref.refresh_articles()
    s = ctx.settings
    created: list[Warning] = []
    names = {"shipping_articles": "Frakt", "fee_articles": "Fakturaavgift", "discount_articles": "Rabatt"}
    for setting, label in names.items():
        for rate, number in getattr(s, setting).items():
            if await ref.article(number) is not None:
                continue
            coding = await ref.coding_for_rate(rate, s.coding_by_rate)
            unit = await ref.default_unit_id(s.unit_id)
            if coding is None or unit is None:
                continue
            body = {
                "Number": number,
                "Name": f"{label} {rate} %",
                "CodingId": coding,
                "UnitId": unit,
                "IsActive": True,
                "NetPrice": 0,
            }
            article = await ctx.visma.articles.create(body)
            ref.remember_article(article)
            created.append(
                Warning(code="article_created", message=f"created article {number} ({label} {rate} %)")
            )
    return created
