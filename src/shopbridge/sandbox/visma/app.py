"""`create_app(settings)`: the Visma eAccounting API v2 sandbox and its identity server on one port.

Layout: API under `/v2/...`, identity server under `/connect/...`, shared admin routes under
`/_sandbox/*` (faults, rate limit, stats, health; from `sandbox.common`) and Visma-specific admin routes
under `/_sandbox/visma/*` (see `admin.py`).

Rate limit: 600 requests per minute (settings) counted per client and per endpoint, the key being the
client id of the bearer token plus the first path segment after `/v2` (e.g. `sandbox-visma:customers`,
`sandbox-visma:customerinvoicedrafts`); requests without a known token share the client id `anonymous`.
Over the limit: 429 with Visma's ErrorCode 4010 body ("API calls quota exceeded! maximum admitted 600 per
Minute. Try again in N seconds."), no Retry-After header (the real API sends none either).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from shopbridge.sandbox.common import SpecValidator, get_validator, install_common, load_spec
from shopbridge.sandbox.settings import SandboxSettings

from . import (
    routes_articles,
    routes_company,
    routes_customers,
    routes_dimensions,
    routes_documents,
    routes_labels,
    routes_notes,
    routes_orders,
    routes_pricelists,
    routes_reference,
    routes_sales,
)
from .admin import build_admin_router
from .api_base import API_PREFIX, Api
from .documents import Sales
from .errors import (
    API_QUOTA_EXCEEDED,
    CANNOT_BE_CREATED_OR_UPDATED,
    DATA_MODEL_VALIDATION,
    GENERAL_ERROR,
    NOT_AUTHORIZED,
    RESOURCE_NOT_FOUND,
    VismaError,
    error_body,
    violations_body,
)
from .identity import TokenService, build_identity_router
from .schemas import SpecModel
from .seed import seed_state
from .state import VismaState, write_atomic

log = logging.getLogger(__name__)
SAVE_INTERVAL_S = 1.0

_STATUS_CODES = {
    400: DATA_MODEL_VALIDATION,
    401: NOT_AUTHORIZED,
    403: CANNOT_BE_CREATED_OR_UPDATED,
    404: RESOURCE_NOT_FOUND,
    429: API_QUOTA_EXCEEDED,
}


@functools.cache
def spec_model() -> SpecModel:
    """The Visma spec as the sandbox reads it (shared by all apps in the process)."""
    return SpecModel(load_spec("visma"))


@functools.cache
def lenient_validator() -> SpecValidator:
    """Validator that ignores unknown fields, as ASP.NET model binding does."""
    return SpecValidator("visma", reject_unknown_fields=False)


def visma_error_body(status: int, message: str) -> dict[str, Any]:
    """Visma's error JSON for a status produced outside the handlers (404 route, 5xx fault, ...)."""
    return error_body(_STATUS_CODES.get(status, GENERAL_ERROR), message)


def quota_message(limit: int, window_s: float, retry_after_s: float) -> str:
    per = "Minute" if window_s == 60 else f"{window_s:g} Seconds"
    wait = max(1, math.ceil(retry_after_s))
    return f"API calls quota exceeded! maximum admitted {limit} per {per}. Try again in {wait} seconds."


class _LowerCasePaths:
    """ASP.NET routing ignores case: serve `/v2/Customers` like `/v2/customers`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path[:4].lower() == API_PREFIX + "/" and path != path.lower():
                scope = dict(scope)
                scope["path"] = path.lower()
                scope["raw_path"] = scope["path"].encode()
        await self.app(scope, receive, send)


def load_state(settings: SandboxSettings, spec: SpecModel) -> VismaState:
    """State from `settings.state_file` when it exists, else a fresh seed."""
    path = settings.state_file
    if path is not None and path.exists():
        return VismaState.from_json(path.read_text(encoding="utf-8"))
    state = VismaState()
    seed_state(state, spec, settings.seed)
    return state


def create_app(settings: SandboxSettings) -> FastAPI:
    """A ready-to-serve Visma sandbox app (API, identity server, admin routes)."""
    spec = spec_model()
    state = load_state(settings, spec)

    def save() -> bool:
        if settings.state_file is None:
            return False
        state.save(settings.state_file)
        return True

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_autosave(state, settings.state_file)) if settings.state_file else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if settings.state_file is not None:
                save()

    app = FastAPI(
        title="Visma eAccounting sandbox", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    tokens_ref: dict[str, TokenService] = {}

    def rate_key(request: Request) -> str | None:
        path = request.url.path
        if path[:4].lower() != API_PREFIX + "/":
            return None
        segment = path[4:].split("/", 1)[0].lower()
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        client = tokens_ref["service"].client_of(token) or "anonymous"
        return f"{client}:{segment}"

    def limited_body(retry_after_s: float) -> tuple[dict[str, Any], dict[str, str]]:
        rl = settings.rate_limit
        return error_body(API_QUOTA_EXCEEDED, quota_message(rl.limit, rl.window_s, retry_after_s)), {}

    def validation_body(violations: list[Any]) -> dict[str, Any]:
        message, errors = violations_body(violations)
        return error_body(DATA_MODEL_VALIDATION, message, errors)

    runtime = install_common(
        app,
        settings,
        service="visma",
        error_body=visma_error_body,
        rate_key=rate_key,
        limited_body=limited_body,
        validation_body=validation_body,
        validator=get_validator("visma"),
    )
    token_service = TokenService(state, settings, token_ttl=lambda: runtime.token_ttl_s)
    tokens_ref["service"] = token_service
    api = Api(app, state, spec, get_validator("visma"), lenient_validator(), settings, token_service)

    async def on_visma_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, VismaError)
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    app.add_exception_handler(VismaError, on_visma_error)
    app.add_middleware(_LowerCasePaths)

    def reseed(seed: str) -> None:
        fresh = VismaState()
        seed_state(fresh, spec, seed)
        for name, table in state.tables.items():
            table.clear()
            table.update(fresh.tables[name])
        state.company = fresh.company
        state.flags = fresh.flags
        state.series = fresh.series
        state.reindex()
        state.touch()

    app.include_router(build_identity_router(token_service))
    sales = Sales(api)
    routes_reference.register(api)
    routes_customers.register(api)
    routes_articles.register(api)
    routes_sales.register(api, sales)
    routes_orders.register(api, sales)
    routes_pricelists.register(api)
    routes_company.register(api)
    routes_dimensions.register(api)
    routes_labels.register(api)
    routes_notes.register(api)
    routes_documents.register(api, sales)
    app.include_router(build_admin_router(api, reseed, save))
    app.state.visma = api
    log.debug("visma sandbox ready: %s", asdict(settings.rate_limit))
    return app


async def _autosave(state: VismaState, path: Path) -> None:
    """Save the state about once a second while it changes (serialised on the loop, written in a thread)."""
    while True:
        await asyncio.sleep(SAVE_INTERVAL_S)
        if state.dirty:
            state.dirty = False
            text = state.to_json()
            try:
                await asyncio.to_thread(write_atomic, path, text)
            except OSError:
                state.dirty = True
                log.exception("could not save the Visma sandbox state")
