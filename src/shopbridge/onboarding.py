"""Making a connection: the same steps for the CLI, the demo and the tests.

`connect_starweb` checks the shop's credentials against the shop before storing them (encrypted),
and never silently re-points an existing connection at another shop (`replace`).
`connect_visma` runs the OAuth authorization-code flow: it catches the redirect on a local callback
server (or takes a code pasted by the user), checks `state`, exchanges the code, proves the token on
the API and only then stores addresses, app and token pair (encrypted): a mistyped secret never
breaks a working connection. `start_consent`/`finish_consent` split the same flow for a server:
`shopbridge run` finishes it on its `/oauth/visma/callback`. `ensure_service_articles` creates the
shipping, fee and discount articles a company lacks (with the coding of their VAT rate), so the
first orders do not wait for them; `shopbridge doctor --fix` runs it.
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
from shopbridge.store import ConnectionExists, Store, UnknownConnection
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
from shopbridge.sync.settings import validate_settings
from shopbridge.sync.shops import reference_clash
from shopbridge.visma.client import VismaClient
from shopbridge.visma.oauth import DEFAULT_SCOPES, MemoryTokenStore, OAuthError, VismaOAuth

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
    replace: bool = False,
) -> Connection:
    """Create connection `name` for a Starweb shop, after checking the credentials work.

    Nothing is stored before the shop has accepted the credentials. An existing connection of that
    name keeps its shop: new credentials for the same shop are taken, another shop's address is
    refused unless `replace` (re-pointing a name at another shop changes what every later sweep
    reads). `shop_of` names the connection whose Visma company this further shop joins
    (multishop): the new connection shares its Visma consent, plan and quota, and stores only the
    settings it changes (`product_master` false unless given: one shop's products become the Visma
    articles).
    """
    base_url = check_url(base_url, "--base-url")
    existing = _existing(store, name)
    if existing is not None and not replace and _norm(existing.starweb_base_url) != _norm(base_url):
        raise ConnectionExists(
            f"connection {name!r} already uses the shop at {existing.starweb_base_url}: pass --replace to "
            f"point it at {base_url} (its transfer log stays), or choose another --name"
        )
    parent = store.connections.root(store.connections.find(shop_of).id) if shop_of else None
    own = dict(settings or {})
    if parent is not None:
        own.setdefault("product_master", False)
        own.setdefault("reference_prefix", f"{name} ")  # references must tell the shops' orders apart
        validate_settings(own, parent.settings or {})  # refuse bad settings before anything is stored
        clash = reference_clash(store, parent, own["reference_prefix"], joining=True)
        if clash and existing is None:  # one order number must never read as another shop's
            raise ValueError(clash)
    else:
        own = validate_settings(own).model_dump(mode="json", exclude_unset=True)
    async with StarwebClient(base_url, client_id, client_secret) as client:
        await client.get_shop()  # raises AuthenticationError / TransportError with a clear message
    if existing is None:
        try:
            conn = store.connections.create(
                name,
                starweb_base_url=base_url,
                settings=own,
                parent_id=parent.id if parent is not None else None,
            )
        except ConnectionExists:  # created meanwhile by another process
            conn = store.connections.find(name)
    else:
        conn = store.connections.update(existing.id, starweb_base_url=base_url)
        if settings:
            store.connections.update_settings(conn.id, settings)
    store.secrets.put(conn.id, STARWEB_SECRET, {"client_id": client_id, "client_secret": client_secret})
    return store.connections.get(conn.id)


def _existing(store: Store, name: str) -> Connection | None:
    try:
        return store.connections.find(name)
    except UnknownConnection:
        return None


def _norm(url: str | None) -> str:
    return (url or "").strip().rstrip("/").lower()


def check_url(url: str, option: str) -> str:
    """`url` when it is an http(s) address with a host, else a `ValueError` naming the option."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"{option} {url!r} is not a web address: give a full http:// or https:// URL "
            "(e.g. https://myshop.starwebserver.se/api/v2)"
        )
    return url.strip()


class ConsentRefused(RuntimeError):
    """The person (or Visma) did not give the consent; the message says what came back."""


class ConsentTimeout(TimeoutError):
    """No answer from the consent page in time; the message says where we waited and what to do."""


@dataclass
class CallbackResult:
    code: str | None = None
    state: str | None = None
    error: str | None = None


CALLBACK_PATH = "/callback"
DEFAULT_CALLBACK_PORT = 8765
"""The local port `connect visma` listens on by default: register
http://127.0.0.1:8765/callback as the redirect URI of your Visma app."""


class CallbackServer:
    """A local HTTP server that catches the OAuth redirect (`/callback?code=...&state=...`).

    Only a request to `/callback` carrying `code` or `error` ends the wait: a browser's favicon or any
    other stray request is answered 404 (or 400) and the wait goes on.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        result = CallbackResult()
        done = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                code = (query.get("code") or [None])[0]
                error = (query.get("error") or [None])[0]
                if parts.path.rstrip("/") != CALLBACK_PATH or done.is_set() or not (code or error):
                    self._answer(
                        404 if parts.path.rstrip("/") != CALLBACK_PATH else 400, "Not the consent answer."
                    )
                    return
                result.code, result.error = code, error
                result.state = (query.get("state") or [None])[0]
                self._answer(200 if code else 400, "You may close this page." if code else "Consent failed.")
                done.set()

            def _answer(self, status: int, text: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(f"<html><body><p>shopbridge: {text}</p></body></html>".encode())

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
        return f"http://{host}:{port}{CALLBACK_PATH}"

    async def wait(self, timeout: float) -> CallbackResult:
        ok = await asyncio.to_thread(self._done.wait, timeout)
        if not ok:
            raise ConsentTimeout(
                f"no answer from Visma's consent page at {self.redirect_uri} within {timeout:.0f} s: open "
                "the page printed above and approve, or run `connect visma` again with a longer --timeout "
                "(or with --code)"
            )
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
    callback_host: str = "127.0.0.1",
    scopes: list[str] | None = None,
    on_redirect_uri: Callable[[str], None] | None = None,
) -> Connection:
    """Authorise the connection in Visma and store the token pair (encrypted).

    Without `code`: start a local callback server (`on_redirect_uri` is told its URI), hand the
    authorize URL to `open_url` (a browser, or in the demo an HTTP client that follows the sandbox's
    auto-consent), wait for the redirect, check `state`, exchange the code. With `code` (pasted by
    the user): exchange it for `redirect_uri`.

    Nothing is saved until the exchange and a call to the API with the new token have succeeded: a
    mistyped secret or a refused consent leaves a working connection as it was.
    """
    conn = store.connections.find(connection)
    if conn.parent_id is not None:
        parent = store.connections.get(conn.parent_id).name
        raise ValueError(
            f"{conn.name!r} is a further shop of {parent!r} and uses its Visma consent: run "
            f"`shopbridge connect visma --connection {parent}`"
        )
    identity = check_url(identity_url, "--identity-url") if identity_url else conn.visma_identity_url
    api = check_url(api_base, "--api-base") if api_base else conn.visma_api_base
    server = None if code else CallbackServer(callback_host, callback_port)
    uri = redirect_uri or (
        server.redirect_uri if server else f"http://127.0.0.1:{DEFAULT_CALLBACK_PORT}/callback"
    )
    if on_redirect_uri is not None:
        on_redirect_uri(uri)
    pending = new_consent(client_id, client_secret, uri, identity, api, consent_scopes(store, conn, scopes))
    try:
        if server is not None:
            url = authorize_url(pending)
            if open_url is not None:
                opened = open_url(url)
                if asyncio.iscoroutine(opened):
                    await opened
            result = await server.wait(timeout)
            if result.error or not result.code:
                raise ConsentRefused(f"Visma's consent was not given ({result.error or 'no code'})")
            VismaOAuth.check_state(pending["state"], result.state)
            code = result.code
        await complete_consent(store, conn, pending, code or "")
    finally:
        if server is not None:
            server.close()
    return store.connections.get(conn.id)


# -- the consent, in steps that `run` can finish (its /oauth/visma/callback) -----------------------
VISMA_CONSENT = "visma_consent"
"""Secret kind of a consent started but not finished (`start_consent`): app credentials, redirect
URI, addresses, scopes and the `state` sent; removed when `finish_consent` completes it."""
CONSENT_TTL_S = 1800


def new_consent(
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    identity_url: str | None,
    api_base: str | None,
    scopes: list[str] | None,
    state: str | None = None,
) -> dict[str, Any]:
    """What a consent needs to be finished: the app, the addresses, the scopes, a fresh `state`."""
    import secrets as _secrets
    import time

    return {
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": redirect_uri,
        "identity_url": identity_url,
        "api_base": api_base,
        "scopes": list(dict.fromkeys([*DEFAULT_SCOPES, *(scopes or [])])),
        "state": state or _secrets.token_urlsafe(32),
        "expires_at": time.time() + CONSENT_TTL_S,
    }


def _oauth(pending: dict[str, Any], token_store: Any) -> VismaOAuth:
    extra = {"identity_url": pending["identity_url"]} if pending.get("identity_url") else {}
    return VismaOAuth(
        pending["client_id"],
        pending["client_secret"],
        pending["redirect_uri"],
        token_store=token_store,
        scopes=pending["scopes"],
        **extra,
    )


def authorize_url(pending: dict[str, Any]) -> str:
    """The consent page URL for a pending consent (its `state` included)."""
    url, _ = _oauth(pending, MemoryTokenStore()).authorize_url(pending["state"])
    return url


def start_consent(store: Store, connection: str | int, **app: Any) -> str:
    """Remember a consent for `connection` (encrypted; the working connection is not touched) and
    return the consent page URL. `run` finishes it when Visma redirects to its callback."""
    conn = store.connections.find(connection)
    pending = new_consent(
        app["client_id"],
        app["client_secret"],
        app["redirect_uri"],
        app.get("identity_url") or conn.visma_identity_url,
        app.get("api_base") or conn.visma_api_base,
        consent_scopes(store, conn, app.get("scopes")),
    )
    store.secrets.put(conn.id, VISMA_CONSENT, pending)
    return authorize_url(pending)


async def finish_consent(
    store: Store, state: str | None, *, code: str | None = None, error: str | None = None
) -> Connection:
    """Finish the pending consent whose `state` matches (the callback `run` serves). A `state` that
    matches none is refused as ours (`StateMismatchError`); nothing is changed then."""
    import time

    for conn in store.connections.all():
        pending = store.secrets.get(conn.id, VISMA_CONSENT)
        if not isinstance(pending, dict) or pending.get("expires_at", 0) < time.time():
            continue
        try:
            VismaOAuth.check_state(pending.get("state"), state)
        except OAuthError:
            continue
        try:
            if error or not code:
                raise ConsentRefused(
                    f"Visma's consent for {conn.name!r} was not given ({error or 'no code'})"
                )
            await complete_consent(store, conn, pending, code)
        except Exception as exc:  # `connect visma`, waiting, reads why
            store.secrets.put(conn.id, VISMA_CONSENT, {**pending, "failed": str(exc)})
            raise
        store.secrets.delete(conn.id, VISMA_CONSENT)
        return store.connections.get(conn.id)
    VismaOAuth.check_state("", state)  # raises: no consent of ours carries this state
    raise AssertionError("unreachable")


async def complete_consent(store: Store, conn: Connection, pending: dict[str, Any], code: str) -> None:
    """Exchange `code`, prove the token on Visma's API, then save addresses, app and tokens."""
    holding = MemoryTokenStore()
    oauth = _oauth(pending, holding)
    try:
        await oauth.exchange_code(code)
        api = pending.get("api_base")
        async with VismaClient(oauth, **({"api_base": api} if api else {})) as visma:
            await visma.company_settings.get()  # the token works on the API (not only at the identity server)
    finally:
        await oauth.aclose()
    tokens = await holding.load()
    assert tokens is not None
    fields = {k: v for k, v in (("visma_identity_url", pending.get("identity_url")),) if v}
    if pending.get("api_base"):
        fields["visma_api_base"] = pending["api_base"]
    if fields:
        store.connections.update(conn.id, **fields)
    app = {k: pending[k] for k in ("client_id", "client_secret", "redirect_uri")}
    store.secrets.put(conn.id, VISMA_APP_SECRET, app)
    await StoreTokenStore(store, conn.id).save(tokens)


async def wait_for_consent(
    store: Store, connection: str | int, timeout: float, poll_s: float = 1.0
) -> Connection:
    """Wait until `run` has finished the pending consent of `connection` (its secret is gone)."""
    import time

    conn = store.connections.find(connection)
    deadline = time.monotonic() + timeout
    while (pending := store.secrets.get(conn.id, VISMA_CONSENT)) is not None:
        if isinstance(pending, dict) and pending.get("failed"):
            store.secrets.delete(conn.id, VISMA_CONSENT)
            raise ConsentRefused(f"the consent for {conn.name!r} failed: {pending['failed']}")
        if time.monotonic() >= deadline:
            raise ConsentTimeout(
                f"the consent for {conn.name!r} was not finished within {timeout:.0f} s: is `shopbridge run` "
                "serving the redirect URI? Open the page again or run `connect visma` again"
            )
        await asyncio.sleep(poll_s)
    return store.connections.get(conn.id)


def consent_scopes(store: Store, conn: Connection, extra: list[str] | None = None) -> list[str]:
    """The scopes a consent for `conn` asks Visma for: the defaults, what the settings of the shops on
    its company need (ea:purchase when they register payments) and `extra`."""
    needed: dict[str, None] = dict.fromkeys(DEFAULT_SCOPES)
    for shop in store.connections.shops(conn.id):
        needed.update(dict.fromkeys(scopes_for(effective_settings(store, shop))))
    needed.update(dict.fromkeys(extra or []))
    return list(needed)


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
    """Create the shipping, payment-fee, discount, öre adjustment and foreign charge articles the
    settings name but Visma lacks."""
    ref = ctx.cache.setdefault("reference", ReferenceData(ctx.starweb, ctx.visma))
    await ref.refresh_articles()
    s = ctx.settings
    created: list[Warning] = []
    names = {
        "shipping_articles": "Frakt",
        "fee_articles": "Fakturaavgift",
        "discount_articles": "Rabatt",
        "adjustment_articles": "Öresjustering",
    }
    wanted: list[tuple[str, str, str | None]] = []  # (number, name, coding)
    for setting, label in names.items():
        for rate, number in getattr(s, setting).items():
            if await ref.article(number) is None:
                wanted.append(
                    (number, f"{label} {rate} %", await ref.coding_for_rate(rate, s.coding_by_rate))
                )
    charge_names = {"shipping": "Frakt", "fee": "Fakturaavgift", "eu": "EU, omvänd moms", "export": "export"}
    for charge, number in s.foreign_charge_articles.items():
        if await ref.article(number) is None:
            kind, where = charge.split("_")
            name = f"{charge_names[kind]} {charge_names[where]}"
            wanted.append((number, name, await ref.coding_for_treatment(charge, s.coding_by_rate)))
    unit = await ref.default_unit_id(s.unit_id)
    for number, name, coding in wanted:
        if coding is None or unit is None:
            continue
        body = {
            "Number": number,
            "Name": name,
            "CodingId": coding,
            "UnitId": unit,
            "IsActive": True,
            "NetPrice": 0,
        }
        article = await ctx.visma.articles.create(body)
        ref.remember_article(article)
        created.append(Warning(code="article_created", message=f"created article {number} ({name})"))
    return created
