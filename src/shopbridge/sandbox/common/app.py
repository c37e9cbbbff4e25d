"""Wire faults, the server-side rate limit, stats, request validation and the admin router into an app."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopbridge.sandbox.common.defaults import ADMIN_PREFIX
from shopbridge.sandbox.common.faults import FaultInjector, apply_late, reset_connection
from shopbridge.sandbox.common.ratelimit import SlidingWindowLimiter
from shopbridge.sandbox.common.spec import SpecValidator, Violation, format_path, get_validator
from shopbridge.sandbox.settings import SandboxSettings

ErrorBody = Callable[[int, str], dict[str, Any]]
RateKey = Callable[[Request], str | None]
LimitedBody = Callable[[float], tuple[dict[str, Any], dict[str, str]]]
ValidationBody = Callable[[list[Violation]], dict[str, Any]]

_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
log = logging.getLogger("shopbridge.sandbox")
SCOPE_KEY = "shopbridge.sandbox"  # the middleware puts the runtime into every request scope


class SandboxValidationError(Exception):
    """A request broke the spec; the app answers `status` with the API's own error body."""

    def __init__(self, violations: list[Violation], status: int = 400) -> None:
        self.violations = violations
        self.status = status
        super().__init__(self.message)

    @property
    def message(self) -> str:
        shown = [v.message for v in self.violations[:20]]
        more = len(self.violations) - len(shown)
        return "; ".join(shown) + (f" (and {more} more)" if more > 0 else "")


class Stats:
    """Thread-safe request counters, keyed `"METHOD /spec/template"` (API prefix removed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.total = 0
            self.rate_limited = 0
            self.by_route: dict[str, int] = {}
            self.by_status: dict[str, int] = {}
            self.by_route_status: dict[str, dict[str, int]] = {}
            self.started = time.time()

    def record(self, route: str, status: int | str, *, limited: bool = False) -> None:
        code = str(status)
        with self._lock:
            self.total += 1
            if limited:
                self.rate_limited += 1
            self.by_route[route] = self.by_route.get(route, 0) + 1
            self.by_status[code] = self.by_status.get(code, 0) + 1
            per = self.by_route_status.setdefault(route, {})
            per[code] = per.get(code, 0) + 1

    def count(self, route: str | None = None, status: int | str | None = None) -> int:
        """Calls to `route` ("GET /customers"; None = all) with `status` (None = any)."""
        with self._lock:
            if route is None:
                return self.total if status is None else self.by_status.get(str(status), 0)
            if status is None:
                return self.by_route.get(route, 0)
            return self.by_route_status.get(route, {}).get(str(status), 0)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self.total,
                "rate_limited": self.rate_limited,
                "by_route": dict(self.by_route),
                "by_status": dict(self.by_status),
                "by_route_status": {k: dict(v) for k, v in self.by_route_status.items()},
                "since": self.started,
            }


class SandboxRuntime:
    """Run-time state shared by the middleware, the admin router and the sandbox's own routes."""

    def __init__(
        self,
        settings: SandboxSettings,
        *,
        service: str,
        validator: SpecValidator | None,
        error_body: ErrorBody,
        rate_key: RateKey,
        limited_body: LimitedBody,
        validation_body: ValidationBody | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self.validator = validator
        self.error_body = error_body
        self.rate_key = rate_key
        self.limited_body = limited_body
        self.validation_body = validation_body
        rl = settings.rate_limit
        self.limiter = SlidingWindowLimiter(rl.limit, rl.window_s)
        self.faults = FaultInjector(settings.faults)
        self.stats = Stats()
        self.started = time.time()

    @property
    def token_ttl_s(self) -> float:
        """Lifetime for newly issued access tokens (fault override, else `settings.token_ttl_s`)."""
        return self.faults.token_ttl(self.settings.token_ttl_s)

    def route_of(self, method: str, path: str) -> str:
        """Stats key for a request: `"GET /customers/{customerId}"`, or the raw path if not in the spec."""
        template = self.validator.match_path(method, path)[0] if self.validator else None
        return f"{method} {template or path}"

    def check(
        self, method: str, path: str, body: Any, query: Any = None, path_template: str | None = None
    ) -> list[Violation]:
        """Violations of one request (body and, when given, declared query parameters)."""
        v = self.validator
        if v is None:
            return []
        template = v.strip_base(path_template) if path_template else None
        if template is None or v.operation(method, template) is None:
            template = v.match_path(method, path)[0]
        if template is None:
            return []
        out = v.validate_body(method, template, body)
        if query is not None:
            out = v.validate_query(method, template, query) + out
        return out

    def error_response(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> JSONResponse:
        return JSONResponse(self.error_body(status, message), status_code=status, headers=headers)

    def update_rate_limit(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Patch limit / window_s / enabled (and `reset: true` clears counters). ValueError on bad input."""
        rl = self.settings.rate_limit
        known = {"limit", "window_s", "enabled", "reset"}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(
                f"unknown rate-limit setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        try:
            limit = int(changes.get("limit", rl.limit))
            window = float(changes.get("window_s", rl.window_s))
        except (TypeError, ValueError):
            raise ValueError("limit must be an integer and window_s a number") from None
        if limit < 0 or window <= 0:
            raise ValueError("limit must be >= 0 and window_s > 0")
        enabled = changes.get("enabled", rl.enabled)
        if not isinstance(enabled, bool):
            raise ValueError("enabled must be true or false")
        rl.limit, rl.window_s, rl.enabled = limit, window, enabled
        self.limiter.configure(limit, window)
        if changes.get("reset"):
            self.limiter.reset()
        return self.rate_limit_dict()

    def rate_limit_dict(self) -> dict[str, Any]:
        return asdict(self.settings.rate_limit)


def get_runtime(request_or_app: Request | FastAPI) -> SandboxRuntime:
    """The runtime installed by `install_common` (works inside mounted sub-apps too)."""
    if isinstance(request_or_app, Request):
        runtime = request_or_app.scope.get(SCOPE_KEY)
        if runtime is not None:
            return runtime
        return request_or_app.app.state.sandbox
    return request_or_app.state.sandbox


# --------------------------------------------------------------------------- request helpers


async def read_json(request: Request, *, decimals: bool = False) -> Any:
    """The request's JSON body (None when empty); invalid JSON raises `SandboxValidationError`.

    With `decimals=True` non-integer numbers are parsed as `Decimal` (validation accepts them).
    """
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw, parse_float=Decimal) if decimals else json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SandboxValidationError(
            [Violation("", f"request body is not valid JSON: {exc}", "json")]
        ) from None


def validate_or_raise(
    request: Request, body: Any, path_template: str | None = None, *, query: bool = True
) -> None:
    """Validate `body` (and declared query params) against the spec; raise `SandboxValidationError`.

    `path_template` may be the spec template (`/customers/{customerId}`), with or without the API
    prefix; when omitted or unknown, the template is found from the request path.
    """
    rt = get_runtime(request)
    violations = rt.check(
        request.method, request.url.path, body, request.query_params if query else None, path_template
    )
    if violations:
        raise SandboxValidationError(violations)


async def validated_json(
    request: Request, path_template: str | None = None, *, query: bool = True, decimals: bool = False
) -> Any:
    """`read_json` + `validate_or_raise` in one call; returns the parsed body."""
    body = await read_json(request, decimals=decimals)
    validate_or_raise(request, body, path_template, query=query)
    return body


# --------------------------------------------------------------------------- middleware


async def _send_json(send: Send, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    payload = json.dumps(body, ensure_ascii=False).encode()
    raw_headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(payload)).encode()),
    ]
    for k, v in (headers or {}).items():
        raw_headers.append((k.lower().encode("latin-1"), str(v).encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


class SandboxMiddleware:
    """Outermost ASGI wrapper: rate limit, then faults, then the app; counts every API request.

    Requests under `/_sandbox` pass straight through (no limit, no faults, not counted).
    """

    def __init__(self, app: ASGIApp, runtime: SandboxRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        rt = self.runtime
        scope[SCOPE_KEY] = rt
        method, path = scope["method"], scope["path"]
        route = rt.route_of(method, path)
        status: list[int | str] = [0]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        limited = False
        try:
            rl = rt.settings.rate_limit
            if rl.enabled:
                key = rt.rate_key(Request(scope))
                if key is not None:
                    if rt.limiter.limit != rl.limit or rt.limiter.window_s != rl.window_s:
                        rt.limiter.configure(rl.limit, rl.window_s)
                    retry_after = rt.limiter.hit(key)
                    if retry_after is not None:
                        limited = True
                        body, headers = rt.limited_body(retry_after)
                        await _send_json(send_wrapper, 429, body, headers)
                        return
            decision = rt.faults.decide(path, method)
            if decision.latency_s:
                await asyncio.sleep(decision.latency_s)
            if decision.action == "reset":
                status[0] = "reset"
                await reset_connection(send)
                return
            if decision.action == "error":
                code = decision.status
                message = f"{code} {_REASONS.get(code, 'Server Error')} (sandbox fault)"
                await _send_json(send_wrapper, code, rt.error_body(code, message))
                return
            if decision.action == "hang":
                await asyncio.sleep(decision.hang_s)
            if decision.action == "late":  # applied after the client gave up; it never sees an answer
                status[0] = "late"
                await apply_late(self.app, scope, receive, decision.late_s)
                return
            try:
                await self.app(scope, receive, send_wrapper)
            except Exception:
                # A bug in a sandbox route: log it, answer the API's 500 body if nothing was sent yet,
                # and keep the connection alive (uvicorn would close it) so clients see a plain 500.
                log.exception("sandbox %s: unhandled error in %s %s", rt.service, method, path)
                if not status[0]:
                    await _send_json(send_wrapper, 500, rt.error_body(500, "An unexpected error occurred"))
        finally:
            rt.stats.record(route, status[0] or 500, limited=limited)


# --------------------------------------------------------------------------- admin router


def admin_router(runtime: SandboxRuntime) -> APIRouter:
    """`/_sandbox/*`: faults, rate limit, stats, health (JSON in and out)."""
    router = APIRouter(prefix=ADMIN_PREFIX, include_in_schema=False)

    def bad(message: str) -> JSONResponse:
        return JSONResponse({"error": "bad_request", "message": message}, status_code=400)

    async def body_dict(request: Request) -> dict[str, Any]:
        raw = await request.body()
        data = json.loads(raw) if raw.strip() else {}
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return data

    @router.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "service": runtime.service,
            "uptime_s": round(time.time() - runtime.started, 3),
        }

    @router.get("/faults")
    async def get_faults() -> dict[str, Any]:
        return {**runtime.faults.as_dict(), "counts": dict(runtime.faults.counts)}

    @router.post("/faults")
    async def patch_faults(request: Request) -> Any:
        """Patch the fault settings (`?replace=true` resets unspecified fields to their defaults)."""
        try:
            data = await body_dict(request)
            replace = request.query_params.get("replace", "").lower() in ("1", "true", "yes")
            return runtime.faults.update(data, replace=replace)
        except ValueError as exc:
            return bad(str(exc))

    @router.put("/faults")
    async def replace_faults(request: Request) -> Any:
        try:
            return runtime.faults.update(await body_dict(request), replace=True)
        except ValueError as exc:
            return bad(str(exc))

    @router.get("/ratelimit")
    async def get_ratelimit() -> dict[str, Any]:
        return runtime.rate_limit_dict()

    @router.post("/ratelimit")
    async def patch_ratelimit(request: Request) -> Any:
        try:
            return runtime.update_rate_limit(await body_dict(request))
        except ValueError as exc:
            return bad(str(exc))

    @router.post("/ratelimit/reset")
    async def reset_ratelimit() -> dict[str, Any]:
        runtime.limiter.reset()
        return runtime.rate_limit_dict()

    @router.get("/stats")
    async def get_stats() -> dict[str, Any]:
        return {**runtime.stats.snapshot(), "faults": dict(runtime.faults.counts)}

    @router.post("/stats/reset")
    async def reset_stats() -> dict[str, Any]:
        runtime.stats.reset()
        runtime.faults.reset_counts()
        return {**runtime.stats.snapshot(), "faults": dict(runtime.faults.counts)}

    return router


# --------------------------------------------------------------------------- install


def install_common(
    app: FastAPI,
    settings: SandboxSettings,
    *,
    service: str,
    error_body: ErrorBody,
    rate_key: RateKey,
    limited_body: LimitedBody,
    validation_body: ValidationBody | None = None,
    validator: SpecValidator | None = None,
) -> SandboxRuntime:
    """Add the sandbox middleware, error handlers and `/_sandbox` admin router to `app`.

    `service` names the spec ("starweb" / "visma") unless `validator` is given. Callbacks:
    `error_body(status, message)` builds the API's error JSON; `rate_key(request)` returns the
    rate-limit key (None = not limited); `limited_body(retry_after_s)` returns the 429 body and
    headers; optional `validation_body(violations)` builds the 400 body for spec violations
    (default: `error_body(400, "; ".join(messages))`). Returns the runtime (also `app.state.sandbox`).
    """
    if getattr(app.state, "sandbox", None) is not None:
        raise RuntimeError("install_common() was already called for this app")
    if validator is None and service in ("starweb", "visma"):
        validator = get_validator(service)
    runtime = SandboxRuntime(
        settings,
        service=service,
        validator=validator,
        error_body=error_body,
        rate_key=rate_key,
        limited_body=limited_body,
        validation_body=validation_body,
    )
    app.state.sandbox = runtime

    original_build = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        # Outside Starlette's own middleware, so `send` is the server's and resets can reach the socket.
        return SandboxMiddleware(original_build(), runtime)

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
    app.middleware_stack = None  # rebuilt on the next request

    async def on_violation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SandboxValidationError)
        if runtime.validation_body is not None and exc.status == 400:
            body = runtime.validation_body(exc.violations)
        else:
            body = runtime.error_body(exc.status, exc.message)
        return JSONResponse(body, status_code=exc.status)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        body = (
            exc.detail
            if isinstance(exc.detail, dict)
            else runtime.error_body(exc.status_code, str(exc.detail))
        )
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    async def on_request_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        if errors and all(err.get("loc", ("",))[0] == "path" for err in errors):
            # An id that can never exist (`/products/abc`, `/products/0`) names no resource: 404, as
            # route constraints answer, never a 400 the spec does not list for lookups.
            return runtime.error_response(404, "The requested resource could not be found")
        violations = []
        for err in errors:
            loc = [p for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
            field = format_path(loc)
            violations.append(
                Violation(field, f"{field or 'request'}: {err.get('msg', 'invalid')}", str(err.get("type")))
            )
        return await on_violation(request, SandboxValidationError(violations))

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        # Starlette still logs the traceback; the client gets the API's own 500 body.
        return JSONResponse(runtime.error_body(500, "An unexpected error occurred"), status_code=500)

    app.add_exception_handler(SandboxValidationError, on_violation)
    if app.exception_handlers.get(Exception) is None:
        app.add_exception_handler(Exception, on_crash)
    # Only replace FastAPI's defaults, never handlers the sandbox registered itself.
    if app.exception_handlers.get(StarletteHTTPException) in (None, http_exception_handler):
        app.add_exception_handler(StarletteHTTPException, on_http_error)
    if app.exception_handlers.get(RequestValidationError) in (None, request_validation_exception_handler):
        app.add_exception_handler(RequestValidationError, on_request_validation)
    app.include_router(admin_router(runtime))
    return runtime


def new_error_id() -> str:
    """A fresh error id (Visma's `ErrorId`)."""
    return str(uuid.uuid4())
