"""`create_portal(store, ...)`: the portal as a FastAPI app to mount where the engine's web app runs.

    portal = create_portal(store, engine=engine, config=PortalConfig.from_env())
    app.mount("/", portal)                       # after the engine's own routes (hooks, /healthz)
    await portal.state.portal.run_background(stop)   # notifications (and purges) until `stop`

`engine` is anything with ``status() -> list[ConnectionStatus]`` and ``wake(connection_id: str)``
(the embedded :class:`~shopbridge.engine.runner.Engine`, or the scale-out scheduler's stand-in);
without one the overview shows no sweep times and "sync now" only makes waiting orders due.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from shopbridge.store import Store

from .config import PortalConfig
from .jobs import Jobs
from .security import Signer
from .web import ANON_COOKIE, build_env, check_csrf, install_error_pages, is_secure, new_anon

log = structlog.get_logger("shopbridge.portal")

__all__ = ["EngineControl", "Portal", "build_env", "create_portal"]

STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class EngineControl(Protocol):
    """What the portal asks of the engine (embedded or scale-out)."""

    def status(self) -> list[Any]: ...

    def wake(self, connection_id: str) -> None: ...


class Portal:
    """The portal's parts, shared by its routes (``request.app.state.portal``)."""

    def __init__(self, store: Store, engine: EngineControl | None, config: PortalConfig) -> None:
        self.store = store
        self.engine = engine
        self.config = config
        self.signer = Signer(store.cipher().derive_key("portal cookies"))
        self.env = build_env()
        self.jobs = Jobs()
        from .notify.notifier import Notifier

        self.notifier = Notifier(self)

    def engine_status(self) -> dict[str, Any]:
        """The engine's view of each connection, by connection id (empty without an engine)."""
        if self.engine is None:
            return {}
        try:
            return {str(s.connection): s for s in self.engine.status()}
        except Exception:  # the overview still works when the engine cannot say
            return {}

    def wake(self, connection_id: int) -> bool:
        """Ask for a sweep of the connection soon; False when no engine runs here."""
        if self.engine is None:
            return False
        self.engine.wake(str(connection_id))
        return True

    async def run_background(
        self, stop: asyncio.Event, *, sleep: Callable[[float], Awaitable[Any]] | None = None
    ) -> None:
        """Notifications (detect, digest, send) and purges, every `notify_interval_s`, until `stop`."""
        interval = self.config.notify_interval_s
        while not stop.is_set():
            try:
                await self.notifier.run_once()
                await asyncio.to_thread(self.store.web_sessions.purge)
            except Exception:
                log.exception("portal.background_failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)


def create_portal(
    store: Store, *, engine: EngineControl | None = None, config: PortalConfig | None = None
) -> FastAPI:
    """The portal app (pages, static files, the Visma OAuth callback); see the module docstring."""
    from . import (
        routes_account,
        routes_auth,
        routes_catalog,
        routes_notifications,
        routes_orders,
        routes_overview,
        routes_partner,
        routes_settings,
        routes_setup,
    )

    portal = Portal(store, engine, config or PortalConfig.from_env())
    app = FastAPI(
        title="shopbridge portal",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(check_csrf)],
    )
    app.state.portal = portal

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        signed = request.cookies.get(ANON_COOKIE)
        anon = portal.signer.unsign(signed, "anon") if signed else None
        fresh = anon is None
        request.state.anon = anon or new_anon()
        response = await call_next(request)
        if fresh:
            response.set_cookie(
                ANON_COOKIE,
                portal.signer.sign(request.state.anon, "anon"),
                path="/",
                httponly=True,
                samesite="lax",
                secure=is_secure(request, portal),
            )
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    install_error_pages(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (
        routes_auth,
        routes_account,
        routes_overview,
        routes_orders,
        routes_catalog,
        routes_settings,
        routes_partner,
        routes_notifications,
        routes_setup,
    ):
        app.include_router(module.router)
    return app
