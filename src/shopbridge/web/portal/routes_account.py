"""The signed-in user's own account: language, notifications on/off, password, TOTP (partners)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from . import i18n
from .i18n import _
from .routes_auth import password_problem
from .security import hash_password, new_totp_secret, totp_uri, verify_password, verify_totp
from .web import Ctx, redirect, render, set_session_cookie, signed_in

router = APIRouter()


def _page(ctx: Ctx, status: int = 200, error: str | None = None, totp_setup: str | None = None) -> Response:
    uri = totp_uri(totp_setup, ctx.v.user.email) if totp_setup else None
    return render(ctx, "account.html", status, error=error, totp_setup=totp_setup, totp_uri=uri)


@router.get("/account")
async def account(ctx: Ctx = Depends(signed_in)) -> Response:
    return _page(ctx)


@router.post("/account/preferences")
async def preferences(
    ctx: Ctx = Depends(signed_in),
    language: str = Form("sv"),
    notify_alerts: str = Form(""),
    notify_digest: str = Form(""),
) -> Response:
    ctx.store.users.update(
        ctx.v.user.id,
        language=i18n.pick(language),
        notify_alerts=notify_alerts == "on",
        notify_digest=notify_digest == "on",
    )
    i18n.use_language(language)
    ctx.flash(_("Your choices are saved."))
    return redirect("/account")


@router.post("/account/password")
async def change_password(
    ctx: Ctx = Depends(signed_in), current: str = Form(""), password: str = Form(""), repeat: str = Form("")
) -> Response:
    user = ctx.v.user
    if not await asyncio.to_thread(verify_password, user.password_hash, current):
        return _page(ctx, 400, _("The current password is wrong."))
    problem = password_problem(password, repeat, user.email)
    if problem:
        return _page(ctx, 400, problem)
    ctx.store.users.update(user.id, password_hash=await asyncio.to_thread(hash_password, password))
    ctx.store.web_sessions.delete_for_user(user.id)  # other browsers must sign in again; this one too
    token = ctx.store.web_sessions.create(user.id, ttl=ctx.portal.config.session_ttl)
    ctx.store.web_sessions.push(
        ctx.store.web_sessions.get(token).id,
        "flash",
        {"text": _("Your password is changed; other browsers are signed out."), "kind": "ok"},
    )
    response = redirect("/account")
    set_session_cookie(ctx, response, token)
    return response


@router.post("/account/totp/start")
async def totp_start(ctx: Ctx = Depends(signed_in)) -> Response:
    if not ctx.v.is_partner:
        return redirect("/account")
    secret = new_totp_secret()
    ctx.store.web_sessions.set_data(ctx.v.session_id, totp_pending=secret)
    return _page(ctx, totp_setup=secret)


@router.post("/account/totp/confirm")
async def totp_confirm(ctx: Ctx = Depends(signed_in), code: str = Form("")) -> Response:
    if not ctx.v.is_partner:
        return redirect("/account")
    data = ctx.store.web_sessions.set_data(ctx.v.session_id)
    secret = data.get("totp_pending")
    if not secret:
        return redirect("/account")
    if not verify_totp(secret, code):
        return _page(
            ctx, 400, _("The code is wrong or too old. Type the code your app shows now."), totp_setup=secret
        )
    ctx.store.users.update(
        ctx.v.user.id, totp_secret=ctx.store.cipher().encrypt(secret.encode()), totp_enabled=True
    )
    ctx.store.web_sessions.set_data(ctx.v.session_id, totp_pending=None)
    ctx.flash(_("Sign-in codes are on: from now on you also type a code from your app."))
    return redirect("/account")


@router.post("/account/totp/off")
async def totp_off(ctx: Ctx = Depends(signed_in), current: str = Form("")) -> Response:
    user = ctx.v.user
    if not await asyncio.to_thread(verify_password, user.password_hash, current):
        return _page(ctx, 400, _("The current password is wrong."))
    ctx.store.users.update(user.id, totp_secret=None, totp_enabled=False)
    ctx.flash(_("Sign-in codes are off."))
    return redirect("/account")
