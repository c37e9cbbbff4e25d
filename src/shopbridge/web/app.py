"""The web apps `shopbridge run` serves: the public one (Starweb hook receiver, OAuth callback) and the
operations one (`/healthz`, `/metrics`).

`POST /hooks/starweb/{connection_id}/{secret}` authenticates by the secret in the path (Starweb does
not sign its calls), answers at once and only queues a hint: the sweep re-reads the entity. A resent
event (same `uuid` on the same connection) is answered 200 and ignored. At most `MAX_EVENTS_PER_CALL`
events of one call become hints; beyond that the connection just gets a full sweep, so one call can
never make hundreds of reads. The secret path segment never reaches a log line.

`/healthz` and `/metrics` reveal connection ids, counts and timings: they are not on the public app
unless `ops_token` is given (then they need `Authorization: Bearer <token>`); `create_ops_app` serves
them on their own, for a loopback-only port.
"""

from __future__ import annotations

import hmac
import inspect
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from shopbridge.engine.metrics import CONTENT_TYPE_LATEST
from shopbridge.engine.runner import Engine
from shopbridge.sync.base import Hint

log = structlog.get_logger("shopbridge.web")

MAX_HOOK_BODY = 64 * 1024  # Starweb's hook bodies are a few hundred bytes
MAX_EVENTS_PER_CALL = 20  # events of one call taken as hints; the rest: one full sweep
CONNECTED_PAGE = "<!doctype html><title>shopbridge</title><p>Visma is connected. You may close this page.</p>"
HOOK_PATH = re.compile(r"^(/hooks/starweb/[^/]+/)[^/]+")

ResolveHook = Callable[[str, str], "str | Awaitable[str | None] | None"]
Dedupe = Callable[..., "bool | Awaitable[bool]"]  # (uuid, payload) or (connection_id, uuid, payload)
OAuthCallback = Callable[[Request], Any]
Health = Callable[[], "dict[str, Any] | Awaitable[dict[str, Any]]"]

# entity kind -> the body field holding its Starweb id
ID_FIELDS = {"order": "orderId", "product": "productId", "customer": "customerId"}
EVENT_FIELDS = ("event", "eventName", "eventType", "type", "eventId")


def secrets_equal(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison of two secrets; False when either is empty."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def secret_resolver(lookup: Callable[[str], str | None]) -> Callable[[str, str], str | None]:
    """A `resolve_hook` from `lookup(connection_id) -> expected secret or None`."""

    def resolve(connection_id: str, secret: str) -> str | None:
        return connection_id if secrets_equal(secret, lookup(connection_id)) else None

    return resolve


@dataclass(frozen=True)
class HookEvent:
    """What we read from one Starweb hook body."""

    uuid: str | None
    event: str | None  # normalised, e.g. "order-created"; None when neither said nor inferable
    hint: Hint | None  # None: nothing specific to look at (shop events, missing id)


def parse_hook_event(body: dict[str, Any], event_hint: str | None = None) -> HookEvent:
    """Read a hook body leniently: the event from `event`/`eventName`/... or from the ids present."""
    event = _normalise_event(event_hint)
    for key in EVENT_FIELDS:
        if event:
            break
        event = _normalise_event(body.get(key))
    kind = event.split("-", 1)[0] if event else None
    if kind not in ID_FIELDS and kind != "shop":
        kind = next((k for k, f in ID_FIELDS.items() if _id(body.get(f)) is not None), None)
    ref = _id(body.get(ID_FIELDS[kind])) if kind in ID_FIELDS else None
    uuid = body.get("uuid")
    return HookEvent(
        uuid=str(uuid) if uuid not in (None, "") else None,
        event=event,
        hint=Hint(kind, ref) if kind and ref is not None else None,
    )


def _normalise_event(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", value.strip())  # orderCreated -> order-Created
    text = re.sub(r"[\s_.:/]+", "-", text).lower()
    return text if re.fullmatch(r"[a-z]+(-[a-z]+)+", text) else None


def _id(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()[:64]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None


def redact_path(path: str) -> str:
    """A request path safe to log: a hook URL's secret segment becomes `***`."""
    return HOOK_PATH.sub(r"\1***", path)


def create_web_app(
    engine: Engine,
    *,
    resolve_hook: ResolveHook,
    dedupe: Dedupe,
    oauth_callback: OAuthCallback | None = None,
    health: Health | None = None,
    ops_token: str | None = None,
    ops_public: bool = False,
) -> FastAPI:
    """The public FastAPI app for `shopbridge run` (hooks, OAuth callback).

    resolve_hook(connection_id, secret): the connection id when the secret matches, else None (use
        `secrets_equal`/`secret_resolver`). May be sync or async; sync ones run on the event loop,
        so keep them quick.
    dedupe(uuid, payload): True the first time a uuid is seen, False for a resend. A callable that
        declares three positional parameters is called as dedupe(connection_id, uuid, payload)
        (the shape of `store.webhooks.WebhookEvents.record`).
    oauth_callback(request): handles `GET /oauth/visma/callback`; may return a Response, a str
        (HTML), a dict (JSON) or None (a short "connected" page). Sync or async.
    health(): extra fields for `/healthz` (an `"ok": False` there answers 503).
    ops_token: serve `/healthz` and `/metrics` here too, to requests with this bearer token.
    ops_public: serve them here to anyone (tests, or a port that is private anyway).
    """
    app = FastAPI(title="shopbridge", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = engine
    metrics = engine.metrics
    dedupe_takes_connection = _positional_arity(dedupe) >= 3

    def is_new_event(cid: str, uuid: str, body: dict[str, Any]) -> Any:
        return dedupe(cid, uuid, body) if dedupe_takes_connection else dedupe(uuid, body)

    @app.middleware("http")
    async def access_log(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        log.debug(
            "web.request",
            method=request.method,
            path=redact_path(request.url.path),
            status=response.status_code,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return response

    @app.post("/hooks/starweb/{connection_id}/{secret}")
    async def starweb_hook(connection_id: str, secret: str, request: Request) -> Response:
        try:
            resolved = await _maybe_await(resolve_hook(connection_id, secret))
        except Exception as exc:
            log.error("webhook.resolve_failed", connection=connection_id, error=type(exc).__name__)
            return JSONResponse({"detail": "Service Unavailable"}, status_code=503)
        if not resolved:
            metrics.webhook_rejected.inc()
            log.warning("webhook.rejected", connection=connection_id[:64])
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        cid = str(resolved)
        raw = await _read_body(request, MAX_HOOK_BODY)
        if raw is None:
            return JSONResponse({"detail": "Request body too large"}, status_code=413)
        bodies = _decode(raw, request.headers.get("content-type", ""))
        if bodies is None:
            metrics.record_webhook(cid, None)
            log.warning("webhook.unreadable", connection=cid, bytes=len(raw))
            engine.wake(cid)  # something happened: sweep soon
            return JSONResponse({"ok": True, "ignored": "unreadable body"})
        taken, beyond = bodies[:MAX_EVENTS_PER_CALL], len(bodies) - MAX_EVENTS_PER_CALL
        duplicates = 0
        for body in taken:
            event_hint = request.query_params.get("event")
            duplicates += await _handle_event(engine, cid, body, is_new_event, event_hint)
        if beyond > 0:
            log.warning("webhook.too_many_events", connection=cid, events=len(bodies), taken=len(taken))
            engine.wake(cid)  # the sweep finds the rest by polling: cheaper than one read per event
            return JSONResponse({"ok": True, "taken": len(taken), "left_to_the_sweep": beyond})
        if duplicates and duplicates == len(bodies):
            return JSONResponse({"ok": True, "duplicate": True})
        return JSONResponse({"ok": True})

    if ops_public or ops_token:
        add_ops_routes(app, engine, health=health, token=ops_token)

    if oauth_callback is not None:

        @app.get("/oauth/visma/callback")
        async def visma_callback(request: Request) -> Response:
            result = await _maybe_await(oauth_callback(request))
            if isinstance(result, Response):
                return result
            if isinstance(result, dict):
                return JSONResponse(result)
            if isinstance(result, str):
                return HTMLResponse(result)
            return HTMLResponse(CONNECTED_PAGE)

    return app


def create_ops_app(engine: Engine, *, health: Health | None = None, token: str | None = None) -> FastAPI:
    """`/healthz` and `/metrics` alone, for the operations port (loopback by default); with `token`,
    only for requests that carry it as a bearer token."""
    app = FastAPI(title="shopbridge ops", docs_url=None, redoc_url=None, openapi_url=None)
    add_ops_routes(app, engine, health=health, token=token)
    return app


def add_ops_routes(app: FastAPI, engine: Engine, *, health: Health | None, token: str | None) -> None:
    """Add `/healthz` and `/metrics` to `app` (behind `token` when given)."""

    def allowed(request: Request) -> bool:
        if not token:
            return True
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        return scheme.lower() == "bearer" and secrets_equal(value.strip(), token)

    def refused() -> Response:
        return JSONResponse(
            {"detail": "a bearer token is needed"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )

    @app.get("/healthz")
    async def healthz(request: Request) -> Response:
        if not allowed(request):
            return refused()
        body: dict[str, Any] = {
            "ok": engine.running,
            "connections": [s.as_dict() for s in engine.status()],
        }
        if health is not None:
            try:
                body.update(await _maybe_await(health()) or {})
            except Exception as exc:
                log.error("web.health_failed", error=type(exc).__name__)
                body.update(ok=False, error=type(exc).__name__)
        return JSONResponse(body, status_code=200 if body.get("ok") else 503)

    @app.get("/metrics")
    async def metrics_endpoint(request: Request) -> Response:
        if not allowed(request):
            return refused()
        return Response(engine.metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def _handle_event(
    engine: Engine,
    cid: str,
    body: dict[str, Any],
    is_new_event: Callable[[str, str, dict[str, Any]], Any],
    event_hint: str | None,
) -> int:
    """Dedupe one event and queue its hint; returns 1 for a duplicate, else 0."""
    ev = parse_hook_event(body, event_hint)
    if ev.uuid is not None:
        try:
            is_new = bool(await _maybe_await(is_new_event(cid, ev.uuid, body)))
        except Exception as exc:  # a hint twice costs one re-read; a lost hint costs nothing either
            log.warning("webhook.dedupe_failed", connection=cid, error=type(exc).__name__)
            is_new = True
        if not is_new:
            engine.metrics.record_webhook(cid, ev.event, duplicate=True)
            log.info("webhook.duplicate", connection=cid, uuid=ev.uuid, hook_event=ev.event)
            return 1
    engine.metrics.record_webhook(cid, ev.event)
    log.info(
        "webhook.received",
        connection=cid,
        uuid=ev.uuid,
        hook_event=ev.event,
        kind=ev.hint.kind if ev.hint else None,
        ref=ev.hint.ref if ev.hint else None,
    )
    if ev.hint is not None:
        engine.hint(cid, ev.hint)
    elif ev.event is None or not ev.event.startswith("shop-"):
        engine.wake(cid)  # an event we could not pin to an entity: let the sweep look
    return 0


async def _read_body(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(raw: bytes, content_type: str) -> list[dict[str, Any]] | None:
    """The event bodies in a hook call (JSON object, JSON list of objects, or a form), or None."""
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        if "form" not in content_type:
            return None
        data = dict(parse_qsl(text))
    if isinstance(data, dict):
        return [data] if data else None
    if isinstance(data, list):
        items = [d for d in data if isinstance(d, dict)]
        return items or None
    return None


def _positional_arity(fn: Callable[..., Any]) -> int:
    """How many positional parameters `fn` declares (2, the documented form, when unknowable)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 2
    kinds = [p.kind for p in params]
    if inspect.Parameter.VAR_POSITIONAL in kinds:
        return 2
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for k in kinds if k in positional)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value
