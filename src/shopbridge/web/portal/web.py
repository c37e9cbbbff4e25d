"""What every portal page shares: the request context (who, which language, the CSRF token),
rendering with Jinja2, cookies, redirects, flashes and the error pages.

Routes take ``ctx: Ctx = Depends(signed_in)`` (or ``Depends(anyone)`` for the sign-in pages) and
answer ``render(ctx, "page.html", ...)``. Every non-GET route of the portal router is CSRF-checked
by :func:`check_csrf` before the route runs.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from . import i18n
from .i18n import _
from .scope import Forbidden, NotFound, Viewer

if TYPE_CHECKING:
    from .app import Portal

__all__ = [
    "ANON_COOKIE",
    "LANG_COOKIE",
    "SESSION_COOKIE",
    "Ctx",
    "SignInRequired",
    "anyone",
    "check_csrf",
    "redirect",
    "render",
    "signed_in",
]

SESSION_COOKIE = "sb_session"
ANON_COOKIE = "sb_anon"
LANG_COOKIE = "sb_lang"
TEMPLATES = Path(__file__).parent / "templates"
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


class SignInRequired(Exception):
    """The page needs a signed-in user: answered with a redirect to the sign-in page."""


class CsrfFailed(Exception):
    """A state-changing request without the right CSRF token: answered 403, nothing changed."""


@dataclass
class Ctx:
    """One request as the pages see it."""

    request: Request
    portal: Portal
    viewer: Viewer | None
    lang: str
    csrf: str
    flashes: list[dict[str, str]] = field(default_factory=list)

    @property
    def store(self) -> Any:
        return self.portal.store

    @property
    def v(self) -> Viewer:
        """The viewer (only on pages that require sign-in)."""
        assert self.viewer is not None
        return self.viewer

    def flash(self, text: str, kind: str = "ok") -> None:
        """A message shown on the next page this user sees."""
        if self.viewer is not None:
            self.store.web_sessions.push(self.viewer.session_id, "flash", {"text": text, "kind": kind})
        else:
            self.flashes.append({"text": text, "kind": kind})


def build_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "xml"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda s: i18n.catalogue(i18n.language()).gettext(s),
        lambda s, p, n: i18n.catalogue(i18n.language()).ngettext(s, p, n),
        newstyle=True,
    )
    env.filters["when"] = format_when
    env.filters["money"] = format_money
    env.filters["day"] = lambda d: d.strftime("%Y-%m-%d") if d else ""
    env.globals["LANGUAGES"] = i18n.LANGUAGES
    return env


SHOWN_TZ = ZoneInfo("Europe/Stockholm")
"""Times are stored in UTC and shown in Swedish time (the merchants' and their accountants' clock)."""


def format_when(value: datetime | None) -> str:
    """A stored time (UTC, naive or aware) as Swedish local time, `YYYY-MM-DD HH:MM`."""
    if value is None:
        return "–"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(SHOWN_TZ).strftime("%Y-%m-%d %H:%M")


def format_money(value: Any, currency: str | None = None) -> str:
    if value is None or value == "":
        return "–"
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except ArithmeticError:
        return str(value)
    whole, _, cents = f"{abs(amount):,.2f}".partition(".")
    sep = " " if i18n.language() == "sv" else ","
    dec = "," if i18n.language() == "sv" else "."
    text = ("-" if amount < 0 else "") + whole.replace(",", sep) + dec + cents
    return f"{text} {currency}" if currency else text


# -- request context ---------------------------------------------------------------------------
def _portal(request: Request) -> Portal:
    return request.app.state.portal


def is_secure(request: Request, portal: Portal) -> bool:
    if portal.config.public_url and portal.config.public_url.startswith("https://"):
        return True
    proto = request.headers.get("x-forwarded-proto") if portal.config.trust_proxy else None
    return (proto or request.url.scheme) == "https"


def client_address(request: Request) -> str:
    portal = _portal(request)
    if portal.config.trust_proxy:
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
        if forwarded:
            return forwarded[:100]
    return request.client.host if request.client else "unknown"


def _load(request: Request) -> Ctx:
    portal = _portal(request)
    if hasattr(request.state, "ctx"):
        return request.state.ctx
    store = portal.store
    viewer = None
    flashes: list[dict[str, str]] = []
    token = portal.signer.unsign(request.cookies.get(SESSION_COOKIE))
    if token:
        session = store.web_sessions.get(token)
        if session is not None and session.verified:
            user = store.users.get(session.user_id)
            if user is not None and user.is_active:
                viewer = Viewer.load(store, user, session.id)
                flashes = list((session.data or {}).get("flash", []))
                if flashes:
                    store.web_sessions.set_data(session.id, flash=None)
                if (datetime.now(UTC) - session.last_seen_at).total_seconds() > 300:
                    store.web_sessions.touch(session.id, ttl=portal.config.session_ttl)
    if viewer is not None:
        lang = i18n.use_language(viewer.user.language)
        binding = "s:" + viewer.session_id
    else:
        lang = i18n.use_language(request.cookies.get(LANG_COOKIE))
        binding = "a:" + request.state.anon
    ctx = Ctx(request, portal, viewer, lang, portal.signer.csrf_token(binding), flashes)
    request.state.ctx = ctx
    return ctx


async def anyone(request: Request) -> Ctx:
    """The context of any visitor (sign-in pages)."""
    return _load(request)


async def signed_in(request: Request) -> Ctx:
    """The context of a signed-in user; others are sent to the sign-in page."""
    ctx = _load(request)
    if ctx.viewer is None:
        raise SignInRequired()
    return ctx


async def check_csrf(request: Request) -> None:
    """Refuse every state-changing request whose CSRF token is missing or wrong (before the route)."""
    if request.method not in STATE_CHANGING:
        return
    ctx = _load(request)
    given = request.headers.get("x-csrf-token")
    if not given:
        form = await request.form()
        value = form.get("csrf_token")
        given = value if isinstance(value, str) else None
    if not given or not secrets.compare_digest(given, ctx.csrf):
        raise CsrfFailed()


# -- answers -----------------------------------------------------------------------------------
def render(ctx: Ctx, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    html = ctx.portal.env.get_template(template).render(
        ctx=ctx,
        viewer=ctx.viewer,
        csrf=ctx.csrf,
        lang=ctx.lang,
        flashes=ctx.flashes,
        request=ctx.request,
        **values,
    )
    return HTMLResponse(html, status_code=status_code)


def redirect(url: str, status_code: int = 303) -> RedirectResponse:
    return RedirectResponse(url, status_code=status_code)


def safe_next(target: str | None) -> str:
    """A local path to go on to after sign-in (never another site)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def set_session_cookie(ctx: Ctx, response: Response, token: str | None) -> None:
    secure = is_secure(ctx.request, ctx.portal)
    if token is None:
        response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
        return
    response.set_cookie(
        SESSION_COOKIE,
        ctx.portal.signer.sign(token),
        max_age=int(ctx.portal.config.session_ttl.total_seconds()),
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )


def install_error_pages(app: Any) -> None:
    """404, 403, CSRF, sign-in redirects and a one-sentence 500 (never a traceback)."""

    def page(request: Request, status: int, title: str, text: str) -> HTMLResponse:
        ctx = _load(request)
        return render(ctx, "error.html", status_code=status, title=title, text=text)

    @app.exception_handler(SignInRequired)
    async def _signin(request: Request, exc: SignInRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return redirect(f"/login?next={quote(target)}")

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        return page(request, 404, _("Not found"), _("There is nothing here, or it is not yours to see."))

    @app.exception_handler(404)
    async def _no_route(request: Request, exc: Exception) -> Response:
        return page(request, 404, _("Not found"), _("There is nothing here, or it is not yours to see."))

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return page(request, 403, _("Not allowed"), _("Your role lets you look but not change anything."))

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        return page(
            request,
            403,
            _("Form expired"),
            _("The form was too old or did not come from this portal. Go back, reload and try again."),
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        import structlog

        logger = structlog.get_logger("shopbridge.portal")
        logger.error("portal.error", path=request.url.path, error=type(exc).__name__)
        logger.debug("portal.error_detail", exc_info=exc)
        return page(request, 500, _("Something went wrong"), _("The portal could not do that. Try again."))


def new_anon() -> str:
    return secrets.token_urlsafe(18)
