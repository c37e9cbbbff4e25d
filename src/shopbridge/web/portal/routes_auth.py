"""Signing in and out, the TOTP step, password reset by e-mail link, invitations, the language.

Every sign-in creates a new session (a session id presented before is dropped: no fixation);
failed attempts are throttled per account and per address before the password is even checked.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from shopbridge.store import EmailTaken, utcnow

from . import i18n
from .i18n import _
from .notify.mail import send_link_mail
from .security import MIN_PASSWORD, hash_password, needs_rehash, verify_password, verify_totp
from .web import (
    LANG_COOKIE,
    SESSION_COOKIE,
    Ctx,
    anyone,
    client_address,
    is_secure,
    redirect,
    render,
    safe_next,
    set_session_cookie,
)

router = APIRouter()


def _minutes(left: timedelta) -> int:
    return max(1, -(-int(left.total_seconds()) // 60))


def _drop_presented_session(ctx: Ctx) -> None:
    """Whatever session the browser brought along ends here (no fixation)."""
    token = ctx.portal.signer.unsign(ctx.request.cookies.get(SESSION_COOKIE))
    if token:
        session = ctx.store.web_sessions.get(token)
        if session is not None:
            ctx.store.web_sessions.delete(session.id)


def password_problem(password: str, repeat: str, email: str) -> str | None:
    """One sentence when the new password will not do, else None."""
    if len(password) < MIN_PASSWORD:
        return _("The password must be at least %(n)s characters long.", n=MIN_PASSWORD)
    if password != repeat:
        return _("The two passwords are not the same.")
    if password.strip().lower() == email.strip().lower():
        return _("The password must not be your e-mail address.")
    return None


@router.get("/login")
async def login_page(ctx: Ctx = Depends(anyone), next: str = "/", reset: int = 0) -> Response:
    if ctx.viewer is not None:
        return redirect(safe_next(next))
    if reset:
        ctx.flashes.append({"text": _("Your password is changed. Sign in with it."), "kind": "ok"})
    return render(ctx, "login.html", next=safe_next(next), email="", error=None)


@router.post("/login")
async def login(
    ctx: Ctx = Depends(anyone),
    email: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
) -> Response:
    store, throttle = ctx.store, ctx.portal.config.throttle
    address = client_address(ctx.request)
    target = safe_next(next)
    wait = throttle.wait(store, email, address)
    if wait is not None:
        error = _("Too many failed sign-ins. Try again in %(n)s minutes.", n=_minutes(wait))
        return render(ctx, "login.html", 429, next=target, email=email, error=error)
    user = store.users.by_email(email) if email.strip() else None
    stored = user.password_hash if user is not None and user.is_active else None
    ok = await asyncio.to_thread(verify_password, stored, password)
    if not ok or user is None:
        throttle.failed(store, email, address)
        error = _("The e-mail address or the password is wrong.")
        return render(ctx, "login.html", 401, next=target, email=email, error=error)
    throttle.succeeded(store, email)
    if stored and needs_rehash(stored):
        store.users.update(user.id, password_hash=hash_password(password))
    _drop_presented_session(ctx)
    token = store.web_sessions.create(
        user.id, ttl=ctx.portal.config.session_ttl, verified=not user.totp_enabled
    )
    if user.totp_enabled:
        response = redirect(f"/login/code?next={quote(target)}")
    else:
        store.users.update(user.id, last_login_at=utcnow())
        response = redirect(target)
    set_session_cookie(ctx, response, token)
    return response


def _half_session(ctx: Ctx):
    token = ctx.portal.signer.unsign(ctx.request.cookies.get(SESSION_COOKIE))
    session = ctx.store.web_sessions.get(token) if token else None
    return session if session is not None and not session.verified else None


@router.get("/login/code")
async def code_page(ctx: Ctx = Depends(anyone), next: str = "/") -> Response:
    if _half_session(ctx) is None:
        return redirect("/login")
    return render(ctx, "login_code.html", next=safe_next(next), error=None)


@router.post("/login/code")
async def code(ctx: Ctx = Depends(anyone), code: str = Form(""), next: str = Form("/")) -> Response:
    store, throttle = ctx.store, ctx.portal.config.throttle
    session = _half_session(ctx)
    if session is None:
        return redirect("/login")
    user = store.users.get(session.user_id)
    if user is None or not user.totp_secret:
        return redirect("/login")
    address = client_address(ctx.request)
    wait = throttle.wait(store, user.email, address)
    if wait is not None:
        error = _("Too many failed sign-ins. Try again in %(n)s minutes.", n=_minutes(wait))
        return render(ctx, "login_code.html", 429, next=safe_next(next), error=error)
    secret = store.cipher().decrypt(user.totp_secret).decode()
    if not verify_totp(secret, code):
        throttle.failed(store, user.email, address)
        error = _("The code is wrong or too old. Type the code your app shows now.")
        return render(ctx, "login_code.html", 401, next=safe_next(next), error=error)
    throttle.succeeded(store, user.email)
    store.web_sessions.delete(session.id)  # a new id once fully signed in
    token = store.web_sessions.create(user.id, ttl=ctx.portal.config.session_ttl)
    store.users.update(user.id, last_login_at=utcnow())
    response = redirect(safe_next(next))
    set_session_cookie(ctx, response, token)
    return response


@router.post("/logout")
async def logout(ctx: Ctx = Depends(anyone)) -> Response:
    _drop_presented_session(ctx)
    response = redirect("/login")
    set_session_cookie(ctx, response, None)
    return response


# -- password reset -----------------------------------------------------------------------------
@router.get("/password/forgot")
async def forgot_page(ctx: Ctx = Depends(anyone)) -> Response:
    return render(ctx, "forgot.html", sent=False)


@router.post("/password/forgot")
async def forgot(ctx: Ctx = Depends(anyone), email: str = Form("")) -> Response:
    store = ctx.store
    user = store.users.by_email(email) if email.strip() else None
    if user is not None and user.is_active:
        token = store.web_sessions.new_link(
            "reset",
            tenant_id=user.tenant_id,
            email=user.email,
            user_id=user.id,
            ttl=ctx.portal.config.reset_ttl,
        )
        await send_link_mail(ctx, "reset", user.email, f"/password/reset/{token}", user.language)
    return render(ctx, "forgot.html", sent=True)  # the same answer whether or not the account exists


@router.get("/password/reset/{token}")
async def reset_page(token: str, ctx: Ctx = Depends(anyone)) -> Response:
    link = ctx.store.web_sessions.link("reset", token)
    if link is None:
        return render(ctx, "link_invalid.html", 404)
    return render(ctx, "reset.html", token=token, error=None)


@router.post("/password/reset/{token}")
async def reset(
    token: str, ctx: Ctx = Depends(anyone), password: str = Form(""), repeat: str = Form("")
) -> Response:
    store = ctx.store
    link = store.web_sessions.link("reset", token)
    user = store.users.get(link.user_id) if link is not None and link.user_id else None
    if link is None or user is None:
        return render(ctx, "link_invalid.html", 404)
    problem = password_problem(password, repeat, user.email)
    if problem:
        return render(ctx, "reset.html", 400, token=token, error=problem)
    if not store.web_sessions.use_link(link.id):
        return render(ctx, "link_invalid.html", 404)
    store.users.update(user.id, password_hash=await asyncio.to_thread(hash_password, password))
    store.web_sessions.delete_for_user(user.id)  # every browser signed in before must sign in again
    ctx.portal.config.throttle.succeeded(store, user.email)
    response = redirect("/login?reset=1")
    set_session_cookie(ctx, response, None)
    return response


# -- invitations --------------------------------------------------------------------------------
@router.get("/invite/{token}")
async def invite_page(token: str, ctx: Ctx = Depends(anyone)) -> Response:
    link = ctx.store.web_sessions.link("invite", token)
    if link is None:
        return render(ctx, "link_invalid.html", 404)
    tenant = ctx.store.tenants.get(link.tenant_id)
    return render(ctx, "invite.html", token=token, link=link, tenant=tenant, error=None, name="")


@router.post("/invite/{token}")
async def accept_invite(
    token: str,
    ctx: Ctx = Depends(anyone),
    name: str = Form(""),
    password: str = Form(""),
    repeat: str = Form(""),
) -> Response:
    store = ctx.store
    link = store.web_sessions.link("invite", token)
    if link is None:
        return render(ctx, "link_invalid.html", 404)
    tenant = store.tenants.get(link.tenant_id)
    problem = password_problem(password, repeat, link.email) or (
        _("Write your name.") if not name.strip() else None
    )
    if problem:
        return render(
            ctx, "invite.html", 400, token=token, link=link, tenant=tenant, error=problem, name=name
        )
    if not store.web_sessions.use_link(link.id):
        return render(ctx, "link_invalid.html", 404)
    try:
        user = store.users.create(
            link.tenant_id,
            link.email,
            role=link.role,
            name=name,
            password_hash=await asyncio.to_thread(hash_password, password),
            language=ctx.lang,
        )
    except EmailTaken:
        error = _("This e-mail address already has an account: sign in instead.")
        return render(ctx, "invite.html", 409, token=token, link=link, tenant=tenant, error=error, name=name)
    _drop_presented_session(ctx)
    session = store.web_sessions.create(user.id, ttl=ctx.portal.config.session_ttl)
    response = redirect("/")
    set_session_cookie(ctx, response, session)
    return response


# -- language -----------------------------------------------------------------------------------
@router.post("/language")
async def set_language(ctx: Ctx = Depends(anyone), lang: str = Form("sv"), next: str = Form("/")) -> Response:
    chosen = i18n.pick(lang)
    if ctx.viewer is not None:
        ctx.store.users.update(ctx.viewer.user.id, language=chosen)
    response = redirect(safe_next(next))
    response.set_cookie(
        LANG_COOKIE,
        chosen,
        max_age=365 * 86400,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_secure(ctx.request, ctx.portal),
    )
    return response
